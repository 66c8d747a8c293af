#!/usr/bin/env python3
"""Peers that come and go on a `ferry bridge server ADDR P --echo` (loopback only, bounded by --until), for the
reconnect soak. Needs pyzmq (Debian's python3-zmq: run with /usr/bin/python3). --peers threads, each picking:
  session  a libzmq client as Rogue's: PUSH to P, PULL from P+1 (linger 0), 1-200 frames (4-part messages:
           flags, channel, error, payload), reads the echoes it can within 2 s, closes both sockets
  pushonly a PUSH to P alone that sends frames and goes (its echoes go to whichever PULL peer is connected)
  junk     a raw TCP connection to P or P+1 that sends bytes that are not a ZMTP greeting
  stall    a raw TCP connection that sends the first 10 octets of a greeting and goes quiet for 0.5-3 s
  reset    a raw TCP connection that sends a whole greeting, then an RST
Prints one summary line: counts per kind, frames sent and echoes received."""
import argparse, os, random, socket, struct, threading, time

import zmq

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--until", type=float, required=True)
p.add_argument("--peers", type=int, default=4)
a = p.parse_args()
ctx = zmq.Context()
lock = threading.Lock()
stats = {"session": 0, "pushonly": 0, "junk": 0, "stall": 0, "reset": 0, "frames": 0, "echoes": 0, "errors": 0}
GREETING = b"\xff" + b"\x00" * 7 + b"\x01\x7f\x03\x01" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def add(key, n=1):
    with lock:
        stats[key] += n


def frame(rng):
    return [struct.pack("<H", rng.randrange(65536)), bytes([rng.randrange(256)]), b"\x00",
            os.urandom(rng.choice([0, 1, 64, 1500, 9000]))]


def session(rng):
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    for s in (push, pull):
        s.setsockopt(zmq.LINGER, 0)
    push.setsockopt(zmq.IMMEDIATE, 1)
    push.setsockopt(zmq.SNDTIMEO, 2000)
    pull.setsockopt(zmq.RCVTIMEO, 100)
    try:
        push.connect(f"tcp://127.0.0.1:{a.port}")
        pull.connect(f"tcp://127.0.0.1:{a.port + 1}")
        n = rng.randint(1, 200)
        for _ in range(n):
            push.send_multipart(frame(rng))
            add("frames")
        deadline = time.time() + 2
        got = 0
        while got < n and time.time() < deadline:
            try:
                pull.recv_multipart()
                got += 1
            except zmq.Again:
                pass
        add("echoes", got)
    except zmq.ZMQError:
        add("errors")
    finally:
        push.close()
        pull.close()


def pushonly(rng):
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.setsockopt(zmq.IMMEDIATE, 1)
    push.setsockopt(zmq.SNDTIMEO, 2000)
    try:
        push.connect(f"tcp://127.0.0.1:{a.port}")
        for _ in range(rng.randint(1, 50)):
            push.send_multipart(frame(rng))
            add("frames")
        time.sleep(0.2)
    except zmq.ZMQError:
        add("errors")
    finally:
        push.close()


def raw(rng):
    return socket.create_connection(("127.0.0.1", a.port + rng.randrange(2)), timeout=3)


def junk(rng):
    with raw(rng) as s:
        s.sendall(os.urandom(rng.randint(1, 200)))
        try:
            s.recv(4096)
        except OSError:
            pass


def stall(rng):
    with raw(rng) as s:
        s.sendall(GREETING[:10])
        time.sleep(rng.uniform(0.5, 3))


def reset(rng):
    s = raw(rng)
    s.sendall(GREETING)
    time.sleep(0.05)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


KINDS = [session, session, session, pushonly, junk, stall, reset]


def worker(n):
    rng = random.Random(n)
    while time.time() < a.until:
        kind = rng.choice(KINDS)
        try:
            kind(rng)
        except OSError:
            add("errors")
        add(kind.__name__)


threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(a.peers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctx.term()
print("BRIDGE_PEERS " + " ".join(f"{k}={v}" for k, v in stats.items()))
