#!/usr/bin/env python3
"""Host side of the benchmark's segment marks (scripts/bench-overhead).

Inside a TCG guest, the guest's own CPU accounting is distorted: the vCPUs are
run in turn by one host thread, so a vCPU that has work "runs" while it waits
for its turn. What a segment really cost is the host CPU time QEMU spent on it.
The guest (scripts/bench/guest-overhead.sh) writes SHARE/out/sync/NAME.req at
the start and at the end of each measured workload and waits for NAME.ack; this
process samples QEMU's CPU time when a request appears, appends the sample to
SHARE/host-cpu.jsonl, then writes the ack.

    host_sync.py SHARE LAB_PID     (runs until LAB_PID, scripts/lab/run, exits)

Samples: tcg_ns = run time of QEMU's TCG vCPU thread (/proc/PID/task/TID/schedstat,
ns), proc_ticks = utime+stime of the whole QEMU process (/proc/PID/stat, clock
ticks, dead threads included), wall = host monotonic seconds.
"""
import json
import os
import sys
import time


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def find_qemu(lab_pid, share):
    """The qemu-system process below LAB_PID whose command line names SHARE."""
    todo, seen = [lab_pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu-system" in argv[0] and any(f"path={share}".encode() in a for a in argv):
            return p
        todo.extend(children(p))
    return None


def tcg_thread(qpid):
    """QEMU's vCPU thread: named "... TCG"/"... KVM" with -name debug-threads=on (which
    scripts/bench-overhead passes), else the thread that has run the longest (once the guest
    has booted, the vCPU thread dwarfs the others)."""
    best, best_ns = None, -1
    try:
        tasks = os.listdir(f"/proc/{qpid}/task")
    except OSError:
        return None
    for t in tasks:
        try:
            with open(f"/proc/{qpid}/task/{t}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{qpid}/task/{t}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if "TCG" in comm or "KVM" in comm:
            return int(t)
        if ns > best_ns:
            best, best_ns = int(t), ns
    return best


def sample(qpid, tid):
    s = {"wall": time.monotonic(), "tcg_ns": None, "proc_ticks": None}
    try:
        with open(f"/proc/{qpid}/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        s["proc_ticks"] = int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        pass
    if tid:
        try:
            with open(f"/proc/{qpid}/task/{tid}/schedstat") as f:
                s["tcg_ns"] = int(f.read().split()[0])
        except OSError:
            pass
    return s


def main():
    share, lab_pid = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    sync = os.path.join(share, "out", "sync")
    log = os.path.join(share, "host-cpu.jsonl")
    hz = os.sysconf("SC_CLK_TCK")
    qpid = tid = None
    done = set()
    while True:
        alive = os.path.exists(f"/proc/{lab_pid}")
        if qpid is None or not os.path.exists(f"/proc/{qpid}"):
            qpid = find_qemu(lab_pid, share)
            tid = tcg_thread(qpid) if qpid else None
        try:
            reqs = sorted(n[:-4] for n in os.listdir(sync) if n.endswith(".req"))
        except OSError:
            reqs = []
        for name in reqs:
            if name in done:
                continue
            s = sample(qpid, tid) if qpid else {"wall": time.monotonic(), "tcg_ns": None, "proc_ticks": None}
            s.update(name=name, hz=hz, qemu_pid=qpid, tcg_tid=tid)
            with open(log, "a") as f:
                f.write(json.dumps(s) + "\n")
            tmp = os.path.join(sync, f".{name}.tmp")
            with open(tmp, "w") as f:
                json.dump(s, f)
            os.rename(tmp, os.path.join(sync, f"{name}.ack"))
            done.add(name)
        if not alive:
            break
        time.sleep(0.02)


if __name__ == "__main__":
    main()
