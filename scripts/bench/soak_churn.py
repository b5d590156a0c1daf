#!/usr/bin/env python3
"""Device churn for scripts/bench-soak: through QEMU's QMP socket, unplug the hot NVMe disk
(device_del, waits for DEVICE_DELETED: the guest's pciehp has released it) and plug it back
(device_add) every PERIOD seconds, until QEMU goes away. One line per action in LOG:
host time, action, seconds it took, result."""
import json
import select
import socket
import sys
import time

sock_path, period, log_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
DEV = {"driver": "nvme", "drive": "soakblk", "serial": "soakhot", "bus": "soakrp", "id": "soakhot"}


def log(action, secs, result):
    with open(log_path, "a") as f:
        f.write(f"{time.time():.1f}\t{action}\t{secs:.1f}\t{result}\n")


def connect(deadline):
    while time.time() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock_path)
            return s
        except OSError:
            time.sleep(1)
    return None


class Qmp:
    """QMP over a raw socket with its own line buffer, so that waiting can time out."""

    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.events = []
        self.read(30)  # greeting
        self.cmd("qmp_capabilities")

    def read(self, timeout):
        end = time.time() + timeout
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                return None
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        self.s.sendall((json.dumps({"execute": name, "arguments": args}) + "\n").encode())
        while True:
            m = self.read(60)
            if m is None:
                return "no answer in 60 s"
            if "event" in m:
                self.events.append(m)
            elif "return" in m:
                return None
            elif "error" in m:
                return m["error"].get("desc", "error")

    def wait_event(self, name, timeout):
        end = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    del self.events[i]
                    return True
            m = self.read(max(0.0, end - time.time()))
            if m is None:
                return False
            self.events.append(m)


sock = connect(time.time() + 600)
if sock is None:
    log("connect", 0, "no QMP socket")
    sys.exit(1)
try:
    q = Qmp(sock)
    time.sleep(period)
    while True:
        t = time.time()
        err = q.cmd("device_del", id="soakhot")
        ok = err is None and q.wait_event("DEVICE_DELETED", 120)
        log("unplug", time.time() - t, "ok" if ok else f"failed: {err or 'no DEVICE_DELETED in 120 s'}")
        time.sleep(10)
        t = time.time()
        err = q.cmd("device_add", **DEV)
        log("plug", time.time() - t, "ok" if err is None else f"failed: {err}")
        time.sleep(period)
except (EOFError, OSError, ValueError):
    pass
