#!/usr/bin/env python3
"""Writes src/Ferry.Cli/ferry.order: the managed methods a native `ferry` runs when it starts and idles,
in the order ILC should lay them out (docs/benchmarks.md, "Native binary, fifth round").

Why: ILC places methods by its own sort, so the ~2,500 methods a start runs (about 560 KiB of code) are
spread over the whole 8.5 MB code section, and every page they touch brings its neighbours in with the
kernel's fault-around: an idle `ferry serve` had 6.3 MB of its code resident. Listed in this file, ILC
(`--method-layout:explicit --order:FILE`, set in Ferry.Cli.csproj) puts them first and together, and
`--file-layout:methodorder` puts the data they use next to each other too.

How: each scenario runs the native binary under valgrind's callgrind (every executed instruction, not a
sample), the executed addresses inside `__managedcode` are mapped to the method symbols of the binary's
separate debug file (`Ferry.Cli.dbg`, from `nm`), and the methods are written scenario by scenario (the
idle server first), each scenario's methods in the compiler's own order. A method the code no longer has is
skipped by ILC, a new one goes after the listed ones: a stale file costs memory, never correctness.

  dotnet publish src/Ferry.Cli -r linux-x64 -p:PublishAot=true -o /tmp/ferry-native
  bench/startup/make-order.py /tmp/ferry-native/Ferry.Cli > src/Ferry.Cli/ferry.order

Needs valgrind, binutils (nm, readelf) and python3; takes about two minutes.
"""
import bisect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def sections(binary):
    out = subprocess.run(['readelf', '-SW', binary], capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        m = re.match(r'\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)', line)
        if m:
            result[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return result


def method_symbols(dbg):
    out = subprocess.run(['nm', '-S', '-n', '--defined-only', dbg], capture_output=True, text=True, check=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in 'tT':
            address, name = int(parts[0], 16), parts[3]
        elif len(parts) == 3 and parts[1] in 'tT':
            address, name = int(parts[0], 16), parts[2]
        else:
            continue
        # Several names at one address (folded bodies, section start markers): keep one real method name.
        if address not in symbols or symbols[address].startswith('__start'):
            symbols[address] = name
    starts = sorted(symbols)
    return starts, [symbols[a] for a in starts]


def load_base(pid, binary):
    # Valgrind maps the program inside its own address space: its /proc maps show where.
    name = os.path.realpath(binary)
    for line in open(f'/proc/{pid}/maps'):
        fields = line.split()
        if len(fields) >= 6 and fields[5] == name and int(fields[2], 16) == 0:
            return int(fields[0].split('-')[0], 16)
    raise SystemExit(f'make-order: {binary} is not mapped in process {pid}')


def wait_for(path, text, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, errors='replace').read():
            return
        time.sleep(0.2)
    raise SystemExit(f'make-order: no "{text}" in {path} after {seconds} s')


def echo_once(stdout_path):
    listening = open(stdout_path).read()
    port = int(re.search(r'"local":"127\.0\.0\.1:(\d+)"', listening).group(1))
    with socket.create_connection(('127.0.0.1', port), timeout=60) as s:
        for _ in range(3):
            s.sendall(b'hello ferry\n')
            got = b''
            while not got.endswith(b'\n'):
                got += s.recv(4096)


def run_scenario(binary, args, work, name, idle, client=None):
    trace = os.path.join(work, f'{name}.callgrind')
    stdout_path = os.path.join(work, f'{name}.out')
    cmd = ['valgrind', '--tool=callgrind', '--dump-instr=yes', '--compress-pos=no', '--compress-strings=no',
           f'--callgrind-out-file={trace}', binary] + args
    with open(stdout_path, 'w') as out, open(os.path.join(work, f'{name}.err'), 'w') as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO)
    base = None
    try:
        if idle:
            wait_for(stdout_path, 'listening', 300)
            base = load_base(proc.pid, binary)
            if client:
                client(stdout_path)
            time.sleep(idle)
            proc.send_signal(signal.SIGTERM)
        else:
            deadline = time.monotonic() + 300
            while base is None and proc.poll() is None and time.monotonic() < deadline:
                try:
                    base = load_base(proc.pid, binary)
                except (SystemExit, FileNotFoundError, ProcessLookupError):
                    time.sleep(0.05)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    if base is None:
        raise SystemExit(f'make-order: scenario {name} ended before its load address was seen')
    return trace, base


def executed(trace, base, program):
    # Callgrind names the program's object for the code it has symbols for (addresses relative to the
    # image) and '???' for the managed code (absolute addresses).
    current = None
    relative, absolute = set(), set()
    for line in open(trace):
        if line.startswith('ob='):
            current = line[3:].strip()
        elif line.startswith('0x'):
            address = int(line.split(None, 1)[0], 16)
            if current == program:
                relative.add(address)
            elif current == '???':
                absolute.add(address - base)
    return relative | absolute


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = os.path.realpath(sys.argv[1])
    dbg = binary + '.dbg'
    for tool in ('valgrind', 'nm', 'readelf'):
        if shutil.which(tool) is None:
            raise SystemExit(f'make-order: {tool} is not installed')
    if not os.path.exists(dbg):
        raise SystemExit(f'make-order: {dbg} is missing (publish without StripSymbols=false keeps it)')
    code_start, code_size = sections(binary)['__managedcode']
    starts, names = method_symbols(dbg)
    seed004 = os.path.join(REPO, 'examples', 'seed004-node.yaml')
    scenarios = [
        ('serve-idle', ['serve', '--bind', '127.0.0.1:0', '--quiet'], 4, None),
        ('run-idle', ['run', seed004, '--set', 'stages.0.config.port=0', '--quiet'], 4, None),
        ('check', ['check', seed004], 0, None),
        ('serve-echo', ['serve', '--bind', '127.0.0.1:0', '--echo', '--quiet'], 2, echo_once),
    ]
    work = tempfile.mkdtemp(prefix='ferry-order-')
    # A copy without the debug file beside it: valgrind 3.19 cannot read ILC's DWARF and gives up when it
    # finds Ferry.Cli.dbg through the debug link; the symbols come from nm instead.
    program = os.path.join(work, 'ferry')
    shutil.copy2(binary, program)
    seen, order = set(), []
    for name, args, idle, client in scenarios:
        trace, base = run_scenario(program, args, work, name, idle, client)
        methods = set()
        for address in executed(trace, base, program):
            if code_start <= address < code_start + code_size:
                k = bisect.bisect_right(starts, address) - 1
                if k >= 0:
                    methods.add(starts[k])
        for address in sorted(methods):
            name_at = names[bisect.bisect_left(starts, address)]
            if name_at not in seen:
                seen.add(name_at)
                order.append(name_at)
        print(f'make-order: {name}: {len(methods)} methods, {len(order)} in all', file=sys.stderr)
    shutil.rmtree(work)
    sys.stdout.write(''.join(n + '\n' for n in order))


if __name__ == '__main__':
    main()
