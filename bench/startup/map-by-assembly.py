#!/usr/bin/env python3
"""Where a Native AOT binary's size goes: sums the ILC map (-p:IlcGenerateMapFile=true) by assembly,
or by namespace inside one assembly.

  dotnet publish src/Ferry.Cli -r linux-x64 -p:PublishAot=true -p:IlcGenerateMapFile=true -o OUT
  bench/startup/map-by-assembly.py src/Ferry.Cli/obj/Release/net10.0/linux-x64/native [--assembly NAME] [--top N]

The directory is ILC's (it holds Ferry.Cli.map.xml and Ferry.Cli.ilc.rsp, whose reference list names
the assemblies). Every map node with a Length is counted once: its mangled name starts with its
assembly's name, dots as underscores (System.Private.CoreLib is S_P_CoreLib; a generic instantiation is
counted for the assembly of its definition). What no assembly prefix matches (runtime data structures,
metadata blobs, frozen objects) is summed by node kind. The sum is of compiled nodes, before linking:
close to, not exactly, the file's size (the native runtime and the ELF headers come on top).
"""
import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def mangle(assembly: str) -> str:
    if assembly.startswith("System.Private."):
        return "S_P_" + assembly[len("System.Private."):].replace(".", "_")
    return assembly.replace(".", "_")


def assemblies(ilc_dir: str) -> list[str]:
    rsp = next(f for f in os.listdir(ilc_dir) if f.endswith(".ilc.rsp"))
    names = set()
    for line in open(os.path.join(ilc_dir, rsp), encoding="utf-8"):
        line = line.strip()
        if line.startswith("-r:") or (line and not line.startswith("-")):
            path = line[3:] if line.startswith("-r:") else line
            if path.endswith(".dll"):
                names.add(os.path.basename(path)[:-4])
    return sorted(names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ilc_dir")
    parser.add_argument("--assembly", help="break this assembly down by namespace (the first --depth name parts)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--depth", type=int, default=4, help="name parts kept with --assembly (default 4)")
    args = parser.parse_args()

    maps = [f for f in os.listdir(args.ilc_dir) if f.endswith(".map.xml")]
    if not maps:
        print(f"no *.map.xml in {args.ilc_dir}: publish with -p:IlcGenerateMapFile=true", file=sys.stderr)
        return 2
    # Longest prefix first, so that System.Net.Http.Json is not counted as System.Net.Http.
    prefixes = sorted(((mangle(a) + "_", a) for a in assemblies(args.ilc_dir)), key=lambda p: -len(p[0]))
    by_first = defaultdict(list)
    for prefix, assembly in prefixes:
        by_first[prefix[:3]].append((prefix, assembly))

    totals = defaultdict(int)
    inside = defaultdict(int)
    total = 0
    for _, node in ET.iterparse(os.path.join(args.ilc_dir, maps[0])):
        length = node.get("Length")
        name = node.get("Name")
        if length is None or name is None:
            continue
        length = int(length)
        total += length
        # Type nodes are named like _ZTV<name>; generic instantiations may open with a module name.
        bare = re.sub(r"^(_ZTV\d*|__GenericDict_|__Canonical_)", "", name)
        owner = None
        for prefix, assembly in by_first.get(bare[:3], ()):
            if bare.startswith(prefix):
                owner = assembly
                break
        key = owner if owner else f"(no assembly: {node.tag})"
        totals[key] += length
        if args.assembly and owner == args.assembly:
            rest = bare[len(mangle(owner)) + 1:]
            inside["_".join(rest.split("_")[: args.depth])] += length
        node.clear()

    rows = sorted(inside.items() if args.assembly else totals.items(), key=lambda kv: -kv[1])
    shown = 0
    for key, length in rows[: args.top]:
        shown += length
        print(f"{length / 1024:10.1f} KiB  {100 * length / total:5.1f} %  {key}")
    print(f"{total / 1024:10.1f} KiB  100.0 %  (all map nodes; {len(rows)} rows, top {min(args.top, len(rows))} shown)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
