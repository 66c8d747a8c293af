# smaps.py PID: the 15 mappings of PID with the most resident KiB: (rss KiB, size KiB, name, start)
import sys,re
cur=None; out=[]
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    m=re.match(r'^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$',line)
    if m:
        cur=[(int(m.group(2),16)-int(m.group(1),16))//1024, m.group(3), m.group(1)]; continue
    if line.startswith('Rss:') and cur: out.append((int(line.split()[1]),cur[0],cur[1],cur[2]))
out.sort(reverse=True)
for o in out[:15]: print(o)
