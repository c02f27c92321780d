"""Running and measuring children: /usr/bin/time for CPU and peak RSS, /proc for live daemons,
process groups that are all killed when the bench ends."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

TIME = "/usr/bin/time"
children = set()  # process group ids of running children, killed on exit


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def measure(cmd, env, timeout, logbase):
    """Runs cmd under /usr/bin/time in its own process group; returns (rc, wall, user+sys,
    maxrss_kib, timed_out). Wall time is taken here; CPU and peak RSS come from time(1), which
    reports the wait4 rusage of the tool and its waited-for descendants (the tool is forked from
    the small time(1) process, so its RSS does not start at this script's size)."""
    out = open(logbase + ".out", "wb")
    err = open(logbase + ".err", "wb")
    tf = logbase + ".time"
    res = {}
    t0 = time.perf_counter()
    p = subprocess.Popen([TIME, "-f", "%e %U %S %M", "-o", tf] + cmd, env=env,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
    children.add(p.pid)

    def waiter():
        p.wait()
        res["wall"] = time.perf_counter() - t0

    th = threading.Thread(target=waiter, daemon=True)
    th.start()
    th.join(timeout)
    timed_out = th.is_alive()
    if timed_out:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        th.join()
    try:  # leftovers of the group (e.g. an MDA)
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    children.discard(p.pid)
    out.close()
    err.close()
    try:
        with open(tf) as f:
            fields = f.read().split()
        user, sys_, rss = float(fields[-3]), float(fields[-2]), int(fields[-1])
    except (OSError, ValueError, IndexError):
        user = sys_ = rss = 0
    return p.returncode, res["wall"], (user, sys_), rss, timed_out


def load_average():
    """The 1-minute load average, printed with every run: the machine is shared."""
    return os.getloadavg()[0]


def tail(path, n=6):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("      " + x for x in lines[-n:])
    except OSError:
        return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def first_line(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=20)
        txt = (r.stdout + r.stderr).decode("utf-8", "replace").strip().splitlines()
        txt = [x for x in txt if "WARNING" not in x]
        return txt[0] if txt else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"

