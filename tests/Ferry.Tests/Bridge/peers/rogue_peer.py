#!/usr/bin/env python3
"""A libzmq peer laid out exactly as Rogue's TcpCore lays out its sockets.

server: PULL bind tcp://ADDR:P, PUSH bind tcp://ADDR:P+1
client: PUSH connect tcp://ADDR:P, PULL connect tcp://ADDR:P+1
PUSH sockets use ZMQ_IMMEDIATE and LINGER 0, as Rogue's do. One frame is a 4-part message:
flags (2 bytes, little-endian), channel (1), error (1), payload.

Modes:
  verify  send one malformed 3-part message, then COUNT generated frames; receive COUNT frames
          and check every byte and header field against the same generator (see BridgeFrames.cs).
  echo    send every received message back unchanged until killed or --count messages were echoed.
Prints JSON lines; exit code 0 means every check passed.
"""
import argparse
import json
import sys
import threading
import time

import zmq


def frame(i, sizes):
    """Frame i of the shared deterministic sequence (mirrored in BridgeFrames.Generate)."""
    size = sizes[i % len(sizes)]
    flags = (i * 7919 + 0x1234) & 0xFFFF
    channel = (i * 31) & 0xFF
    error = (i * 17 + 3) & 0xFF
    base = bytes(((i * 131) + k * 7) & 0xFF for k in range(251))
    payload = (base * (size // 251 + 1))[:size]
    return flags, channel, error, payload


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("--mode", choices=["verify", "echo"], default="verify")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--sizes", default="0,1,2,255,256,65536")
    ap.add_argument("--heartbeat-ms", type=int, default=0)
    ap.add_argument("--heartbeat-timeout-ms", type=int, default=0)
    ap.add_argument("--idle-ms", type=int, default=0)
    ap.add_argument("--timeout-ms", type=int, default=60000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.IMMEDIATE, 1)
    push.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVTIMEO, args.timeout_ms)
    push.setsockopt(zmq.SNDTIMEO, args.timeout_ms)
    if args.heartbeat_ms:
        for s in (pull, push):
            s.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat_ms)
            s.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat_timeout_ms or args.heartbeat_ms * 3)
    monitors = [push.get_monitor_socket(zmq.EVENT_DISCONNECTED), pull.get_monitor_socket(zmq.EVENT_DISCONNECTED)]

    base = f"tcp://{args.addr}:"
    if args.role == "server":
        pull.bind(base + str(args.port))
        push.bind(base + str(args.port + 1))
    else:
        push.connect(base + str(args.port))
        pull.connect(base + str(args.port + 1))
    emit(event="started", zmq=zmq.zmq_version())

    if args.mode == "echo":
        echoed = 0
        while args.count == 0 or echoed < args.count:
            try:
                parts = pull.recv_multipart(copy=False)
            except zmq.Again:
                emit(event="error", detail="receive timed out", echoed=echoed)
                return 1
            push.send_multipart(parts, copy=False)
            echoed += 1
        emit(event="done", echoed=echoed)
        # LINGER 0 (Rogue's setting) would drop the last echoes still queued at exit.
        push.close(linger=args.timeout_ms)
        pull.close(linger=0)
        for m in monitors:
            m.close(linger=0)
        ctx.term()
        return 0

    if args.idle_ms:
        time.sleep(args.idle_ms / 1000.0)  # idle on purpose so only heartbeats cross the wire

    failures = []
    sent_error = []

    def sender():
        try:
            push.send_multipart([b"\x01\x00", b"\x02", b"\x03"])  # malformed: 3 parts
            for i in range(args.count):
                flags, channel, error, payload = frame(i, sizes)
                push.send_multipart([flags.to_bytes(2, "little"), bytes([channel]), bytes([error]), payload])
        except zmq.ZMQError as e:
            sent_error.append(str(e))

    t = threading.Thread(target=sender)
    t.start()
    received = 0
    try:
        for i in range(args.count):
            parts = pull.recv_multipart()
            flags, channel, error, payload = frame(i, sizes)
            if len(parts) != 4:
                failures.append(f"frame {i}: {len(parts)} parts")
                continue
            if parts[0] != flags.to_bytes(2, "little"):
                failures.append(f"frame {i}: flags {parts[0].hex()} expected {flags:04x} little-endian")
            if parts[1] != bytes([channel]) or parts[2] != bytes([error]):
                failures.append(f"frame {i}: channel/error {parts[1].hex()}/{parts[2].hex()} expected {channel:02x}/{error:02x}")
            if parts[3] != payload:
                failures.append(f"frame {i}: payload of {len(parts[3])} bytes differs (expected {len(payload)})")
            received += 1
    except zmq.Again:
        failures.append(f"receive timed out after {received} frames")
    t.join()
    if sent_error:
        failures.append("send failed: " + sent_error[0])

    disconnects = 0
    for m in monitors:
        while m.poll(0):
            m.recv_multipart()
            disconnects += 1
    if args.heartbeat_ms and disconnects:
        failures.append(f"{disconnects} disconnects while heartbeating (PING not answered?)")
    emit(event="done", received=received, sent=args.count, disconnects=disconnects, failures=failures[:10])
    # Rogue's LINGER 0 would drop frames still queued at close; the test wants them all delivered.
    for m in monitors:
        m.close(linger=0)
    push.close(linger=args.timeout_ms)
    pull.close(linger=0)
    ctx.term()
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
