#!/usr/bin/env python3
"""Line clients for the reconnect soak (loopback only, bounded by --until): --conns threads, each connects,
sends a line every --interval seconds for 1-4 s while reading whatever comes back, then closes (a FIN, or an RST
one time in four) and connects again. Answers may be missing (the upstream behind the server is away): that is
counted, never waited for. Prints one summary line: sessions, lines sent, lines received, failed connects."""
import argparse, random, socket, struct, threading, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--until", type=float, required=True)
p.add_argument("--conns", type=int, default=4)
p.add_argument("--interval", type=float, default=0.02)
p.add_argument("--name", default="lines")
a = p.parse_args()
lock = threading.Lock()
stats = {"sessions": 0, "sent": 0, "received": 0, "connect_failed": 0, "errors": 0}


def add(key, n=1):
    with lock:
        stats[key] += n


def session(rng, n):
    try:
        s = socket.create_connection(("127.0.0.1", a.port), timeout=2)
    except OSError:
        add("connect_failed")
        time.sleep(0.2)
        return
    add("sessions")
    s.settimeout(a.interval)
    end = min(time.time() + rng.uniform(1, 4), a.until)
    seq = 0
    try:
        while time.time() < end:
            s.sendall(b"%s %d %d\n" % (a.name.encode(), n, seq))
            add("sent")
            seq += 1
            try:
                data = s.recv(65536)
                if not data:
                    break
                add("received", data.count(b"\n"))
            except socket.timeout:
                pass
    except OSError:
        add("errors")
    if rng.random() < 0.25:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def worker(n):
    rng = random.Random(n)
    while time.time() < a.until:
        session(rng, n)


threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(a.conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"LINES {a.name} " + " ".join(f"{k}={v}" for k, v in stats.items()))
