"""The state bench (--state-bench): what a state file of --state-uidls seen UIDLs adds to a
popget fetch that finds nothing new.

The server holds N messages and the state file records all N (`fetch --rebuild-state`,
unmeasured). Measured, round-robin:

  seen     fetch with that state: LIST, UIDL, load the state, forget no entry, plan
           nothing, QUIT; the state is not rewritten (checked)
  fresh    the same fetch with a state file that does not exist and --max-size 1: the
           same LIST and UIDL and the same walk over the listing, but no state to load
           or look up (every message is left on the server as "over --max-size")
  refused-seen, refused-fresh
           the same two fetches against a port where nothing listens: popget takes the
           lock and loads the state before connecting, so these time the load alone,
           without Dovecot
  uidl, list   `popget uidl` and `popget list` to a file, for scale
  version      `popget --version`: starting the binary and nothing else

seen - fresh is the state's cost to a run: loading, the per-UIDL lookups and the retain pass.
refused-seen - refused-fresh is the load alone.
"""

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

from . import corpus
from .report import print_failures, print_loads, write_json
from .run import TIME, first_line, free_port, load_average, log, measure, tail
from .testbed import USER
from .tools import popget_connection


@dataclass(frozen=True)
class Variant:
    name: str
    command: Callable[[str], list]  # the run's directory -> argv
    check: Callable  # (rc, stdout, stderr, run directory) -> a problem, or None


class StateBench:
    def __init__(self, session):
        self.s, self.a = session, session.a
        self.results = session.results

    def write_maildrop(self, n):
        t = time.time()
        self.maildrop_bytes = 0
        for i in range(1, n + 1):
            name, m = corpus.state_message(i)
            self.s.dovecot.deliver(USER, name, m)
            self.maildrop_bytes += len(m)
        log("maildrop: %d messages written into %s/new (%.1fs)"
            % (n, self.s.dovecot.maildirs[USER], time.time() - t))

    def prepare_state(self, n):
        """Unmeasured: Dovecot indexes the maildrop (moving new/ to cur/), then every message on
        the server is recorded as seen. Returns the shared directory and the state file."""
        s, a = self.s, self.a
        shared = os.path.join(s.out, "shared")
        os.makedirs(shared + "/home", mode=0o700)
        env = s.env(shared + "/home")
        state = shared + "/seen.state"
        t = time.time()
        r = subprocess.run(popget_connection(s.popget, "uidl", s.dovecot.port), env=env,
                           capture_output=True, timeout=max(600, a.timeout))
        if r.returncode != 0 or r.stdout.count(b"\n") != n:
            raise SystemExit("bench: the first popget uidl failed (rc %d, %d lines):\n%s" % (
                r.returncode, r.stdout.count(b"\n"), r.stderr.decode("utf-8", "replace")))
        r = subprocess.run(popget_connection(s.popget, "fetch", s.dovecot.port) + [
            "--maildir", shared + "/Maildir", "--state", state, "--rebuild-state", "--yes"],
            env=env, capture_output=True, timeout=max(600, a.timeout))
        try:
            with open(state, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        self.state_bytes = len(data)
        if r.returncode != 0 or not data.endswith(b"\nend %d\n" % n):
            raise SystemExit("bench: fetch --rebuild-state failed (rc %d):\n%s" % (
                r.returncode, r.stderr.decode("utf-8", "replace")))
        log("indexed and rebuilt a state of %d UIDLs, %d bytes (%.1fs)"
            % (n, self.state_bytes, time.time() - t))
        return state

    def variants(self, n, state):
        """The measured commands, each with the check of its run."""
        s = self.s
        st = os.stat(state)
        port, refused_port = s.dovecot.port, free_port()

        def fetch(port, state_path, extra=(), exe=None):
            return lambda d: (popget_connection(exe or s.popget, "fetch", port)
                              + ["--maildir", d + "/Maildir", "--state", state_path(d)]
                              + list(extra))

        def seen(d):
            return state

        def fresh(d):
            return d + "/fresh.state"

        def nothing_delivered(d):
            new = os.path.join(d, "Maildir", "new")
            return os.path.isdir(new) and not os.listdir(new)

        def check_seen(rc, out, err, d):
            now = os.stat(state)
            if (now.st_mtime_ns, now.st_ino, now.st_size) != (st.st_mtime_ns, st.st_ino,
                                                              st.st_size):
                return "the state file was rewritten"
            if rc != 0 or out.strip() or err.strip():
                return "rc %d, expected a silent run that finds nothing new" % rc
            return None if nothing_delivered(d) else "something was delivered"

        def check_fresh(rc, out, err, d):
            # --json: off a terminal a run that changed nothing prints no summary line.
            try:
                account = json.loads(out)["accounts"][0]
            except (ValueError, KeyError, IndexError):
                account = {}
            if rc != 0 or account.get("delivered") != 0 or \
                    account.get("left_on_server_oversized") != n:
                return "rc %d, expected all %d messages over --max-size" % (rc, n)
            if os.path.exists(d + "/fresh.state"):
                return "a state file was written"
            return None if nothing_delivered(d) else "something was delivered"

        def check_refused(rc, out, err, d):
            return None if rc != 0 and b"refused" in err.lower() else \
                "rc %d, expected connection refused" % rc

        def check_lines(rc, out, err, d):
            lines = out.count(b"\n")
            return None if rc == 0 and lines == n else "rc %d, %d lines" % (rc, lines)

        def check_version(rc, out, err, d):
            return None if rc == 0 and out.startswith(b"popget ") else "rc %d, no version" % rc

        over = ["--max-size", "1", "--json"]
        variants = [
            Variant("seen", fetch(port, seen), check_seen),
            Variant("fresh", fetch(port, fresh, over), check_fresh),
            Variant("refused-seen", fetch(refused_port, seen), check_refused),
            Variant("refused-fresh", fetch(refused_port, fresh), check_refused),
            Variant("uidl", lambda d: popget_connection(s.popget, "uidl", port), check_lines),
            Variant("list", lambda d: popget_connection(s.popget, "list", port), check_lines),
            Variant("version", lambda d: [s.popget, "--version"], check_version),
        ]
        if s.baseline:
            # The same fetches with the --baseline binary, round-robin with the current one.
            variants += [
                Variant("seen-before", fetch(port, seen, exe=s.baseline), check_seen),
                Variant("fresh-before", fetch(port, fresh, over, exe=s.baseline), check_fresh),
                Variant("refused-seen-before", fetch(refused_port, seen, exe=s.baseline),
                        check_refused),
                Variant("version-before", lambda d: [s.baseline, "--version"], check_version),
            ]
        return variants

    def run_once(self, v, i):
        s = self.s
        d = os.path.join(s.out, "state-%s-%d" % (v.name, i))
        os.makedirs(d, mode=0o700)
        env = s.env(d + "/home")
        cmd = v.command(d)
        load = load_average()
        rc, wall, (user, sys_), rss, timed_out = measure(cmd, env, self.a.timeout, d + "/log")
        with open(d + "/log.out", "rb") as f:
            out = f.read()
        with open(d + "/log.err", "rb") as f:
            err = f.read()
        problem = "timed out" if timed_out else v.check(rc, out, err, d)
        ok = not problem
        log("  %-18s run %2d: %7.3fs wall %6.3fs user %6.3fs sys %6.1f MiB load %.1f  %s"
            % (v.name, i + 1, wall, user, sys_, rss / 1024, load, "ok" if ok else
               "FAIL: " + problem))
        if not ok:
            log(tail(d + "/log.err") or tail(d + "/log.out"))
            s.failures.append("%s run %d: %s" % (v.name, i + 1, problem))
        self.results.append(dict(tool=v.name, net="loopback", run=i + 1, rc=rc, ok=ok,
                                 wall=wall, cpu=user + sys_, user=user, sys=sys_, rss_kib=rss,
                                 timed_out=timed_out, load=load, note=problem or ""))

    def run(self):
        a, s = self.a, self.s
        n = a.state_uidls
        if not os.access(TIME, os.X_OK):
            raise SystemExit("%s is missing (Debian package time)" % TIME)
        s.build()
        s.start_dovecot([USER])
        self.write_maildrop(n)
        state = self.prepare_state(n)
        variants = self.variants(n, state)
        log("== state bench: %d UIDLs, %d runs of %s" % (
            n, a.runs, ", ".join(v.name for v in variants)))
        t0 = time.time()
        for i in range(a.runs):
            for v in variants:
                self.run_once(v, i)
        log("measuring took %.0fs" % (time.time() - t0))
        self.report(n, variants)
        if a.json:
            write_json(a.json, dict(state_uidls=n, state_bytes=self.state_bytes,
                                    results=self.results, failures=s.failures))
        return print_failures(s.failures)

    def report(self, n, variants):
        s = self.s
        by = {}
        for r in self.results:
            if not r["timed_out"]:
                by.setdefault(r["tool"], {})[r["run"]] = r

        def med(name, key="wall"):
            rs = by.get(name, {})
            return statistics.median(r[key] for r in rs.values()) if rs else float("nan")

        def paired(x, y, key="wall"):
            pairs = [by[x][k][key] - by[y][k][key] for k in by.get(x, {}) if k in by.get(y, {})]
            return statistics.median(pairs) if pairs else float("nan")

        print()
        print("workload: %d messages on the server (%d bytes on average), all of them in a state "
              "file of %d bytes (Dovecot's UIDLs, 16 characters)" % (
                  n, self.maildrop_bytes // n, self.state_bytes))
        print("versions: popget %s; dovecot %s" % (first_line([s.popget, "--version"]),
                                                   s.dovecot.version()))
        print("binary: %d bytes%s" % (os.path.getsize(s.popget), "; --baseline %d bytes" % (
            os.path.getsize(s.baseline)) if s.baseline else ""))
        print("runs: %d each, round-robin; medians; max RSS over runs" % self.a.runs)
        print()
        print("| run | complete runs | median wall s | median user s | median sys s | "
              "peak RSS MiB |")
        print("|---|---|---|---|---|---|")
        for v in variants:
            all_rs = [r for r in self.results if r["tool"] == v.name]
            rs = list(by.get(v.name, {}).values())
            if not rs:
                print("| %s | 0/%d | timed out | | | |" % (v.name, len(all_rs)))
                continue
            print("| %s | %d/%d | %.3f | %.3f | %.3f | %.1f |" % (
                v.name, sum(r["ok"] for r in all_rs), len(all_rs), med(v.name),
                med(v.name, "user"), med(v.name, "sys"), max(r["rss_kib"] for r in rs) / 1024))
        print()
        cost = med("seen") - med("fresh")
        print("state cost to a run that finds nothing new (seen - fresh): %+.1f ms wall "
              "(median of paired runs %+.1f ms), %+.1f ms CPU (paired %+.1f ms), "
              "%+.1f MiB peak RSS" % (
                  1000 * cost, 1000 * paired("seen", "fresh"),
                  1000 * (med("seen", "cpu") - med("fresh", "cpu")),
                  1000 * paired("seen", "fresh", "cpu"),
                  (max(r["rss_kib"] for r in by["seen"].values())
                   - max(r["rss_kib"] for r in by["fresh"].values())) / 1024
                  if by.get("seen") and by.get("fresh") else float("nan")))
        print("loading the state alone (refused-seen - refused-fresh): %+.1f ms wall (paired "
              "%+.1f ms), %+.1f ms CPU (paired %+.1f ms)" % (
                  1000 * (med("refused-seen") - med("refused-fresh")),
                  1000 * paired("refused-seen", "refused-fresh"),
                  1000 * (med("refused-seen", "cpu") - med("refused-fresh", "cpu")),
                  1000 * paired("refused-seen", "refused-fresh", "cpu")))
        if s.baseline:
            print("current vs --baseline (paired medians): seen %+.1f ms wall, %+.1f ms CPU; "
                  "loading the state (refused-seen) %+.1f ms wall, %+.1f ms CPU; --version "
                  "%+.2f ms wall" % (
                      1000 * paired("seen", "seen-before"),
                      1000 * paired("seen", "seen-before", "cpu"),
                      1000 * paired("refused-seen", "refused-seen-before"),
                      1000 * paired("refused-seen", "refused-seen-before", "cpu"),
                      1000 * paired("version", "version-before")))
        print("target (issue 6): < 50 ms for %d UIDLs%s" % (
            n, "" if n == 100_000 else " (this run used another count)"))
        print_loads(self.results)


def run(session):
    return StateBench(session).run()
