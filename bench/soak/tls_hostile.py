#!/usr/bin/env python3
"""Failing and odd TLS clients for the TLS soak (loopback only, bounded by --until), against a
`ferry serve --framing lines --echo` with TLS and `--client-cert optional` (or required).
Kinds, picked at random by --threads workers:
  plain       plain bytes (a text line) to the TLS port: not a ClientHello
  junk        a TLS record header, then random bytes
  untrusted   a full handshake with a client certificate from a CA the server does not trust
  nocert      a handshake without a client certificate (refused only under --client-cert required)
  stall       part of a real ClientHello, then nothing: the server's handshake timeout closes it
  midclose    part of a real ClientHello, then a close (FIN or RST) before the handshake ends
  abort       a good handshake and one line, then an RST instead of close_notify
  good        a good handshake with the trusted client certificate, one line echoed, close_notify
Prints one summary line: counts per kind and client-side outcomes we did not expect."""
import argparse, os, random, socket, ssl, struct, sys, threading, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--until", type=float, required=True, help="stop at this time.time()")
p.add_argument("--ca", required=True, help="the CA the server's certificate chains to")
p.add_argument("--cert", required=True, help="a client certificate the server trusts")
p.add_argument("--key", required=True)
p.add_argument("--rogue-cert", required=True, help="a client certificate from a CA the server does not trust")
p.add_argument("--rogue-key", required=True)
p.add_argument("--threads", type=int, default=6)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--stall-max", type=float, default=4.0, help="longest a stalled client waits for the server's close")
p.add_argument("--kinds", default="", help="comma-separated kinds to run (default: all), to find which one leaks")
a = p.parse_args()
HOST = "127.0.0.1"
lock = threading.Lock()
counts, surprises = {}, {}


def context(cert=None, key=None):
    c = ssl.create_default_context(cafile=a.ca)
    c.check_hostname = False  # the server certificate names localhost and 127.0.0.1; the chain is what counts here
    if cert:
        c.load_cert_chain(cert, key)
    return c


good_ctx = context(a.cert, a.key)
rogue_ctx = context(a.rogue_cert, a.rogue_key)
bare_ctx = context()


def conn():
    s = socket.create_connection((HOST, a.port), timeout=5)
    s.settimeout(5)
    return s


def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def client_hello():
    """The bytes of a real ClientHello, made without a socket."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = bare_ctx.wrap_bio(inc, out, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def wait_close(s, limit):
    """Reads until the server closes (or limit seconds): True if it closed."""
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
        return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True


def plain(rng):
    with conn() as s:
        s.sendall(b"hello, this is not TLS\n")
        return wait_close(s, 5) or "server kept a plain client"


def junk(rng):
    with conn() as s:
        s.sendall(b"\x16\x03\x01" + struct.pack(">H", 512) + os.urandom(512))
        return wait_close(s, 5) or "server kept a junk client"


def handshake_refused(ctx):
    # TLS 1.3: the client's handshake completes before the server checks its certificate; the refusal
    # shows as an alert or a close at the first read.
    with conn() as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"ping\n")
                data = s.recv(4096)
                return "refused client got an echo" if data else True
        except (ssl.SSLError, ConnectionError, OSError):
            return True


def untrusted(rng):
    return handshake_refused(rogue_ctx)


def nocert(rng):
    with conn() as raw:
        try:
            with bare_ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"ping\n")
                s.recv(4096)
        except (ssl.SSLError, ConnectionError, OSError):
            pass
    return True


def stall(rng):
    hello = client_hello()
    with conn() as s:
        s.sendall(hello[: rng.randint(5, len(hello) - 1)])
        return wait_close(s, a.stall_max) or "server kept a stalled handshake past --stall-max"


def midclose(rng):
    hello = client_hello()
    s = conn()
    s.sendall(hello[: rng.randint(1, len(hello) - 1)])
    time.sleep(rng.random() * 0.2)
    if rng.random() < 0.5:
        rst(s)
    else:
        s.close()
    return True


def abort(rng):
    raw = conn()
    s = good_ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"abort\n")
    data = s.recv(4096)
    rst(s)
    return True if data == b"abort\n" else f"abort: echo was {data!r}"


def good(rng):
    with conn() as raw:
        with good_ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"good\n")
            data = s.recv(4096)
            try:
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass
            return True if data == b"good\n" else f"good: echo was {data!r}"


KINDS = [plain, junk, untrusted, nocert, stall, midclose, abort, good]
if a.kinds:
    KINDS = [k for k in KINDS if k.__name__ in a.kinds.split(",")]


def worker(n):
    rng = random.Random(a.seed * 1000 + n)
    while time.time() < a.until:
        kind = rng.choice(KINDS)
        try:
            outcome = kind(rng)
        except Exception as e:  # noqa: BLE001 - counted, the soak goes on
            outcome = f"{kind.__name__}: {type(e).__name__}: {e}"
        with lock:
            counts[kind.__name__] = counts.get(kind.__name__, 0) + 1
            if outcome is not True:
                surprises[str(outcome)[:120]] = surprises.get(str(outcome)[:120], 0) + 1


threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(a.threads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
total = sum(counts.values())
print("TLS_HOSTILE total=%d %s surprises=%d" % (total, " ".join(f"{k}={v}" for k, v in sorted(counts.items())),
                                                 sum(surprises.values())))
for k, v in sorted(surprises.items(), key=lambda kv: -kv[1]):
    print(f"  {v} x {k}")
