#!/usr/bin/env python3
"""Hostile clients for the soak (loopback only, bounded by --until): garbage, oversize lines, resets,
half-closes, slow partial lines and slow readers, against a `ferry serve --framing lines --echo`.
Prints one summary line: counts per kind and errors seen on our side."""
import argparse, os, random, socket, struct, sys, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--until", type=float, required=True, help="stop at this time.time()")
p.add_argument("--seed", type=int, default=1)
p.add_argument("--max-frame", type=int, default=4096)
a = p.parse_args()
rng = random.Random(a.seed)
counts = {}
HOST = "127.0.0.1"


def conn():
    s = socket.create_connection((HOST, a.port), timeout=2)
    s.settimeout(2)
    return s


def garbage():  # random bytes, newlines included: some lines decode, some are over the limit
    with conn() as s:
        s.sendall(os.urandom(rng.randint(1, 16384)))


def oversize():  # one line far over max_frame_bytes: the server closes with protocol_error
    with conn() as s:
        try:
            s.sendall(b"x" * (a.max_frame + rng.randint(1, 65536)))
            s.recv(1)
        except OSError:
            pass


def reset():  # a few good lines, then an RST instead of a FIN
    s = conn()
    s.sendall(b"hello\n" * rng.randint(1, 50))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def half_close():  # a partial line, then shutdown(SHUT_WR); read whatever comes back until the close
    with conn() as s:
        s.sendall(b"line\npartial")
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass


def slow_partial():  # a partial line a byte at a time for about a second, then gone
    with conn() as s:
        for _ in range(10):
            s.sendall(b"s")
            time.sleep(0.1)


def slow_reader():  # many lines echoed back to a client that reads slowly, then leaves
    with conn() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.sendall((b"y" * 1000 + b"\n") * 2000)
            for _ in range(5):
                s.recv(1024)
                time.sleep(0.1)
        except OSError:
            pass


kinds = [garbage, oversize, reset, half_close, slow_partial, slow_reader]
errors = 0
while time.time() < a.until:
    k = rng.choice(kinds)
    try:
        k()
        counts[k.__name__] = counts.get(k.__name__, 0) + 1
    except OSError as e:
        errors += 1
        counts["error:" + type(e).__name__] = counts.get("error:" + type(e).__name__, 0) + 1
    time.sleep(0.02)
print("GARBAGE " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())) + f" client_errors={errors}")
