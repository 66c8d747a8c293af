#!/usr/bin/python3
"""A Rogue-layout client that sends frames and never reads the echoes (libzmq via pyzmq).

    no_reader.py PORT [--size BYTES] [--seconds S]

Connects PUSH to 127.0.0.1:PORT and PULL to PORT+1 (Rogue's TcpClient layout), then for S seconds
sends 4-part frames (flags, channel, error, payload) without blocking, never receiving. Prints one
JSON line per second with how many frames the server has taken so far: once the server, its echo's
send buffer, the sockets and this PULL's queue (RCVHWM frames) are full, the count stops growing.
Loopback only; stops by itself.
"""
import json
import sys
import time

import zmq

port = int(sys.argv[1])
size = int(sys.argv[sys.argv.index("--size") + 1]) if "--size" in sys.argv else 65536
seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 10.0

ctx = zmq.Context()
push = ctx.socket(zmq.PUSH)
push.setsockopt(zmq.IMMEDIATE, 1)
push.setsockopt(zmq.LINGER, 0)
push.connect(f"tcp://127.0.0.1:{port}")
pull = ctx.socket(zmq.PULL)  # connected, never read
pull.setsockopt(zmq.LINGER, 0)
pull.connect(f"tcp://127.0.0.1:{port + 1}")

payload = bytes(size)
sent = 0
start = time.monotonic()
next_report = start + 1
while time.monotonic() - start < seconds:
    try:
        push.send(b"\x00\x00", zmq.SNDMORE | zmq.NOBLOCK)
        push.send(b"\x00", zmq.SNDMORE)
        push.send(b"\x00", zmq.SNDMORE)
        push.send(payload, copy=False)
        sent += 1
    except zmq.Again:
        time.sleep(0.005)
    now = time.monotonic()
    if now >= next_report:
        print(json.dumps({"t": round(now - start, 1), "frames_sent": sent, "mib_sent": round(sent * size / 1048576, 1)}), flush=True)
        next_report += 1
push.close()
pull.close()
ctx.term()
