"""The daemon bench (--daemon-bench): each of tools.DAEMON_TOOLS polls N accounts that have
nothing new (N Dovecot users, 2 messages each, all fetched once before), one cycle from its
start and then more, each started with SIGUSR1; a daemon reports a cycle's end as STATUS= on a
NOTIFY_SOCKET of ours or with a log line. Beside them a minimal client (floor.login_poll; as
many threads as popget's default --jobs) shows what the server allows, and the server's own CPU
per login is measured for each. On loopback, then through the latency proxy (--rtt-ms) with
--daemon-rtt-cycles cycles."""

import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import threading
import time

from . import corpus
from .report import write_json
from .run import children, log, tail
from .tools import DAEMON_TOOLS, NOTIFY, DaemonRun


def proc_status(pid):
    """VmRSS and VmHWM (KiB), open fds and CPU seconds (user+sys) of a live process."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_kib": int(fields["VmRSS"][0]),
        "peak_rss_kib": int(fields["VmHWM"][0]),
        "fds": len(os.listdir("/proc/%d/fd" % pid)),
        "threads": int(fields["Threads"][0]),
        "cpu_s": (int(stat[11]) + int(stat[12])) / ticks,
    }


class NotifyCycles:
    """A cycle ends with the daemon's `STATUS=cycle N:` on a NOTIFY_SOCKET bound here."""

    def __init__(self, root, env, timeout):
        self.path, self.timeout, self.log = root + "/notify.sock", timeout, env["BENCH_LOG"]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        env["NOTIFY_SOCKET"] = self.path

    def wait(self, proc, n):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536).decode(errors="replace")
            except socket.timeout:
                break
            if "STATUS=cycle %d:" % n in data:
                return
        raise SystemExit("daemon: no cycle %d; log:\n%s" % (n, tail(self.log)))

    def close(self):
        self.sock.close()


class LogCycles:
    """A cycle ends with a line of the daemon's log (counted)."""

    def __init__(self, marker, env, timeout):
        self.marker, self.log, self.timeout = marker, env["BENCH_LOG"], timeout

    def wait(self, proc, n):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                with open(self.log, errors="replace") as f:
                    if f.read().count(self.marker) >= n:
                        return
            except FileNotFoundError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        raise SystemExit("daemon: no cycle %d; log:\n%s" % (n, tail(self.log)))

    def close(self):
        pass


class DaemonBench:
    def __init__(self, session):
        self.s, self.a = session, session.a
        self.n, self.cycles = self.a.daemon_accounts, self.a.daemon_cycles
        self.users = ["bench%03d" % i for i in range(self.n)]

    def result(self, name, net, walls, first, last, server_cpu):
        later = walls[1:] or walls
        logins = max(1, (len(walls) - 1) * self.n)
        return {
            "tool": name, "net": net, "accounts": self.n, "cycles": len(walls),
            "first_cycle_s": walls[0], "median_cycle_s": statistics.median(later),
            "max_cycle_s": max(later),
            "cpu_ms_per_account_cycle": first and 1000 * (last["cpu_s"] - first["cpu_s"]) / logins,
            "first_cycle_cpu_ms_per_account": first and 1000 * first["cpu_s"] / self.n,
            "server_cpu_ms_per_login": 1000 * server_cpu / logins,
            "after_1": first, "after_last": last,
        }

    def measure_daemon(self, tool, exe, net, port, cycles):
        """Primes the state with one unmeasured run, starts the daemon, and measures cycle 1
        (from the start) and `cycles - 1` more (each from its SIGUSR1)."""
        a, dovecot = self.a, self.s.dovecot
        root = os.path.join(self.s.work, re.sub(r"\W+", "-", tool.name + " " + net))
        os.makedirs(root)
        r = DaemonRun(root=root, port=port, users=self.users, exe=exe)
        r.config = tool.config(r)
        env = dict(os.environ, BENCH_LOG=root + "/log", **tool.env(r))
        env.pop("JOURNAL_STREAM", None)
        timeout = max(a.timeout, tool.cycle_timeout or 0)
        cycle_end = NotifyCycles(root, env, timeout) if tool.cycle_end == NOTIFY \
            else LogCycles(tool.cycle_end, env, timeout)
        try:
            p = subprocess.run(tool.prime(r), env=env, timeout=1200, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if p.returncode not in (0, 1):  # fetchmail: 1 = no new mail
                raise SystemExit("%s: priming run exited %d: %s" % (tool.name, p.returncode,
                                                                    p.stderr[-2000:]))
            started = time.monotonic()
            # fetchmail -v writes its log to stdout when it is not a terminal.
            with open(env["BENCH_LOG"], "wb") as out:
                proc = subprocess.Popen(tool.daemon(r), env=env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            children.add(proc.pid)
            walls = []
            try:
                cycle_end.wait(proc, 1)
                walls.append(time.monotonic() - started)
                first = proc_status(proc.pid)
                server_before = dovecot.cpu_s()
                for cycle in range(2, cycles + 1):
                    t = time.monotonic()
                    os.kill(proc.pid, signal.SIGUSR1)
                    cycle_end.wait(proc, cycle)
                    walls.append(time.monotonic() - t)
                server_cpu = dovecot.cpu_s() - server_before
                last = proc_status(proc.pid)
            finally:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                children.discard(proc.pid)
        finally:
            cycle_end.close()
        return self.result(tool.name, net, walls, first, last, server_cpu)

    def measure_client(self, tool, net, port, cycles):
        """An in-process client: tool.jobs threads take the accounts from one queue."""
        def cycle():
            todo = queue.SimpleQueue()
            for u in self.users:
                todo.put(u)
            failed = []

            def worker():
                while not failed:
                    try:
                        user = todo.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        tool.poll(port, user, self.a.timeout)
                    except BaseException as e:  # noqa: B036 - reported below
                        failed.append(e)

            threads = [threading.Thread(target=worker) for _ in range(tool.jobs)]
            t = time.monotonic()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if failed:
                raise SystemExit("%s: %s" % (tool.name, failed[0]))
            return time.monotonic() - t

        walls = [cycle()]
        server_before = self.s.dovecot.cpu_s()
        walls += [cycle() for _ in range(cycles - 1)]
        server_cpu = self.s.dovecot.cpu_s() - server_before
        return self.result(tool.name, net, walls, None, None, server_cpu)

    def series(self, net, port, cycles):
        log("== daemon bench, %s: %d accounts, %d cycles" % (net, self.n, cycles))
        results = []
        for tool in DAEMON_TOOLS:
            exe = tool.exe(self.s)
            if exe is None:
                log("NOTE: %s is not installed; left out" % tool.name)
            elif tool.poll:
                results.append(self.measure_client(tool, net, port, cycles))
            else:
                results.append(self.measure_daemon(tool, exe, net, port, cycles))
        return results

    def run(self):
        s, a = self.s, self.a
        s.build()
        # Login and pop3 processes kept and reused: hundreds of short sessions would
        # otherwise measure Dovecot's fork and exec per session more than either client.
        dovecot = s.start_dovecot(self.users, reuse_processes=True)
        for u in self.users:
            for name, message in corpus.daemon_messages(u):
                dovecot.deliver(u, name, message)
        load = os.getloadavg()
        tables = [self.report("loopback", self.series("loopback", dovecot.port, self.cycles))]
        if a.rtt_ms > 0 and a.daemon_rtt_cycles > 0:
            proxy = s.start_proxy()
            net = "%g ms RTT" % a.rtt_ms
            tables.append(self.report(net, self.series(net, proxy.port, a.daemon_rtt_cycles)))
        load_after = os.getloadavg()
        print("\n\n".join(t for t, _ in tables))
        print("load average before %.2f %.2f %.2f, after %.2f %.2f %.2f; %d CPUs"
              % (load + load_after + (os.cpu_count(),)))
        if a.json:
            write_json(a.json, [r for _, rs in tables for r in rs], indent=2)
        return 0

    def report(self, net, results):
        out = ["%s, %d accounts:\n" % (net, self.n),
               "| | " + " | ".join(r["tool"] for r in results) + " |",
               "|---|" + "---|" * len(results)]

        def row(label, fmt, get):
            out.append("| %s | %s |" % (label, " | ".join(
                "-" if get(r) is None else fmt % get(r) for r in results)))

        def client(get):
            return lambda r: None if r["after_1"] is None else get(r)

        cycles = results[0]["cycles"]
        row("first cycle (start to last account), s", "%.3f", lambda r: r["first_cycle_s"])
        row("cycle after SIGUSR1, median of %d, s" % (cycles - 1), "%.3f",
            lambda r: r["median_cycle_s"])
        row("slowest cycle after SIGUSR1, s", "%.3f", lambda r: r["max_cycle_s"])
        row("CPU per account per cycle, ms", "%.2f",
            client(lambda r: r["cpu_ms_per_account_cycle"]))
        row("server (Dovecot) CPU per login, ms", "%.2f", lambda r: r["server_cpu_ms_per_login"])
        row("peak RSS, MiB", "%.1f", client(lambda r: r["after_last"]["peak_rss_kib"] / 1024))
        row("RSS after cycle 1, MiB", "%.1f", client(lambda r: r["after_1"]["rss_kib"] / 1024))
        row("RSS after cycle %d, MiB" % cycles, "%.1f",
            client(lambda r: r["after_last"]["rss_kib"] / 1024))
        row("open fds after cycle 1", "%d", client(lambda r: r["after_1"]["fds"]))
        row("open fds after cycle %d" % cycles, "%d", client(lambda r: r["after_last"]["fds"]))
        fetchmail = [r for r in results if r["tool"].startswith("fetchmail")]
        floor = [r for r in results if r["tool"].startswith("minimal")]
        for r in results:
            if r["tool"].startswith("popget"):
                out.append("\n%s: cycle %s%.2fx the minimal client's" % (
                    r["tool"], "%.1fx as fast as fetchmail's, " % (
                        fetchmail[0]["median_cycle_s"] / r["median_cycle_s"]) if fetchmail else "",
                    r["median_cycle_s"] / floor[0]["median_cycle_s"]))
        server = statistics.median(r["server_cpu_ms_per_login"] for r in results)
        out.append("\nthe server's CPU per login (%.2f ms, median of the columns) bounds a cycle "
                   "of %d logins on %d CPUs to at least %.3f s, whatever the client"
                   % (server, self.n, os.cpu_count(), server * self.n / 1000 / os.cpu_count()))
        return "\n".join(out), results


def run(session):
    return DaemonBench(session).run()
