#!/usr/bin/env python3
"""A line echo server that keeps going away, for the reconnect soak (loopback only, bounded by --until).
It cycles through phases:
  up     listens and echoes lines for 2-5 s, then drops every connection (half with a FIN, half with an RST)
         and closes the listener
  down   nothing listens for 0.5-2.5 s: connects are refused
  mute   every third cycle instead of down: listens and accepts for 2-3 s but never reads or answers
         (a TLS client's handshake times out, a plain client's requests go unanswered), then drops them
With --cert/--key it speaks TLS (the handshake runs in the connection's thread).
Prints one summary line: phases, connections accepted and lines echoed."""
import argparse, random, socket, ssl, struct, threading, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--until", type=float, required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--seed", type=int, default=1)
a = p.parse_args()
rng = random.Random(a.seed)
tls = None
if a.cert:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(a.cert, a.key)
stats = {"up": 0, "down": 0, "mute": 0, "accepted": 0, "lines": 0, "tls_failed": 0}
lock = threading.Lock()


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.port))
    s.listen(64)
    s.settimeout(0.1)
    return s


def drop(conns, answered):
    """Ends every connection: a FIN, or an RST. A shutdown wakes the echo thread blocked in recv (a close alone
    would not: the connection would live on under it), and that thread closes the socket; a mute one is closed here."""
    for c in conns:
        try:
            rst = rng.random() < 0.5
            if rst:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.shutdown(socket.SHUT_RD if rst else socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass
        if not answered:
            c.close()


def echo(raw, live, gone):
    c = raw
    try:
        if tls:
            c.settimeout(2)
            try:
                c = tls.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError):
                with lock:
                    stats["tls_failed"] += 1
                return
        if gone.is_set():  # the phase ended during the handshake
            return
        live.append(c)
        c.settimeout(None)
        buf = b""
        while True:
            data = c.recv(65536)
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            if lines:
                c.sendall(b"".join(line + b"\n" for line in lines))
                with lock:
                    stats["lines"] += len(lines)
    except (OSError, ValueError, AttributeError):
        pass
    finally:
        c.close()


def serve(seconds, answer):
    s, live, gone = listener(), [], threading.Event()
    stop = time.time() + seconds
    while time.time() < min(stop, a.until):
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        with lock:
            stats["accepted"] += 1
        if answer:
            threading.Thread(target=echo, args=(c, live, gone), daemon=True).start()
        else:
            live.append(c)
    s.close()
    gone.set()
    time.sleep(0.05)  # a handshake that just finished gets its socket into live
    drop(list(live), answer)


cycle = 0
while time.time() < a.until:
    cycle += 1
    stats["up"] += 1
    serve(rng.uniform(2, 5), answer=True)
    if cycle % 3 == 0:
        stats["mute"] += 1
        serve(rng.uniform(2, 3), answer=False)
    else:
        stats["down"] += 1
        time.sleep(min(rng.uniform(0.5, 2.5), max(0, a.until - time.time())))
print("FLAP " + " ".join(f"{k}={v}" for k, v in stats.items()))
