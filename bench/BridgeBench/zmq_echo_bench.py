#!/usr/bin/env python3
"""Pure libzmq (pyzmq) echo round trip laid out as Rogue's bridge, the yardstick for Ferry's numbers.

run:   zmq_echo_bench.py run PORT FRAMES SIZE   starts an echo server process, then measures as a client
echo:  zmq_echo_bench.py echo PORT              the echo server: PULL bind P, PUSH bind P+1 (IMMEDIATE)
Frames are Rogue's 4-part messages; the echo returns every part without copying (copy=False).
Prints one JSON line: frames, size, seconds, frames_per_s, mib_per_s.
"""
import json
import subprocess
import sys
import threading
import time

import zmq


def echo(port):
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.IMMEDIATE, 1)
    pull.bind(f"tcp://127.0.0.1:{port}")
    push.bind(f"tcp://127.0.0.1:{port + 1}")
    print("ready", flush=True)
    while True:
        push.send_multipart(pull.recv_multipart(copy=False), copy=False)


def run(port, frames, size):
    server = subprocess.Popen([sys.executable, __file__, "echo", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        pull = ctx.socket(zmq.PULL)
        push.setsockopt(zmq.IMMEDIATE, 1)
        push.connect(f"tcp://127.0.0.1:{port}")
        pull.connect(f"tcp://127.0.0.1:{port + 1}")
        payload = bytes(size)
        message = [b"\x00\x00", b"\x00", b"\x00", payload]

        def pump(count):
            for _ in range(count):
                push.send_multipart(message, copy=False)

        def round_trip(count):
            sender = threading.Thread(target=pump, args=(count,))
            start = time.perf_counter()
            sender.start()
            for _ in range(count):
                parts = pull.recv_multipart(copy=False)
                assert len(parts) == 4 and len(parts[3]) == size
            sender.join()
            return time.perf_counter() - start

        round_trip(max(frames // 10, 100))  # warm-up: connections up, buffers grown
        seconds = round_trip(frames)
        print(json.dumps({"frames": frames, "size": size, "seconds": seconds,
                          "frames_per_s": frames / seconds, "mib_per_s": frames * size / seconds / (1 << 20)}), flush=True)
        push.close(linger=0)
        pull.close(linger=0)
        ctx.term()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(int(sys.argv[2]))
    else:
        run(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
