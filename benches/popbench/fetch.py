"""The fetch bench: every tool of tools.FETCH_TOOLS downloads the same corpus from the private
Dovecot, round-robin, on loopback and through the latency proxy; each run is measured with
/usr/bin/time and what it delivered is checked against the corpus."""

import os
import re
import statistics
import subprocess
import time

from . import corpus as corpora
from .report import print_checks, print_failures, write_json
from .run import TIME, first_line, load_average, log, measure, tail
from .testbed import USER, Snapshot
from .tools import FETCH_TOOLS, MODES, PEERS, Run
from .verify import check_maildir, check_mbox

KEEP_OUTPUTS_NOTE = (
    "each run's output is kept until the bench ends, because deleting 2000 files slows the file "
    "creation of the next run: ext4 without a journal will not reuse an inode freed in the last "
    "60 to 300 s and rereads every such inode on each create; a user's fetch does not follow a "
    "mass deletion, and the one-file floor would never pay for it")


class Row:
    """One measured variant: a tool in a mode."""

    def __init__(self, tool, mode, exe):
        self.tool, self.mode, self.exe = tool, mode, exe
        self.name = tool.variant(mode)


def install_peers(s, peers=PEERS):
    """apt-get the peers that are missing (unless --no-install or skipped) and /usr/bin/time;
    returns {tool name: program} of the peers there are."""
    missing = list(dict.fromkeys(t.package for t in peers
                                 if not t.exe(s) and t.name not in s.a.skip))
    if not os.access(TIME, os.X_OK):
        missing.append("time")
    if missing and not s.a.no_install:
        log("installing missing peers: %s" % " ".join(missing))
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (sudo + ["apt-get", "update", "-q"],
                    sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                    + missing):
            try:
                subprocess.run(cmd, env=env, timeout=600, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as e:
                log("  %s: %s" % (cmd[0], e))
    if not os.access(TIME, os.X_OK):
        raise SystemExit("%s is missing (Debian package time)" % TIME)
    found = {}
    for t in peers:
        if t.exe(s):
            found[t.name] = t.exe(s)
        elif t.name not in s.a.skip:
            s.notes.append("%s: not installed and could not be installed; skipped" % t.name)
            log("NOTE: %s could not be installed; continuing without it" % t.name)
    return found


def check_floor(d):
    with open(d + "/log.out") as f:
        m = re.search(r"floor: (\d+) messages, (\d+) bytes", f.read())
    return (int(m.group(1)) if m else 0), "%s wire bytes" % (m.group(2) if m else "?")


class FetchBench:
    def __init__(self, session):
        self.s, self.a = session, session.a
        self.results = session.results
        self.peer_problems = []  # a peer that did not deliver everything: reported
        self.snapshot = None  # the server's Maildir after the warm-up, restored after deletes
        self.server_touched = False

    def write_corpus(self):
        self.corpus, self.workload = corpora.fill_maildrop(self.s.dovecot, self.a)
        self.corpus_bytes = sum(len(m) for m in self.corpus)

    # -- one measured run --------------------------------------------------------------------
    def run_once(self, row, net, port, i, full_check):
        a, s = self.a, self.s
        tool, mode = row.tool, row.mode
        d = os.path.join(s.out, "%s-%s-%d" % (row.name, net, i))
        os.makedirs(d, mode=0o700)
        r = Run(dir=d, port=port, mode=mode, exe=row.exe, env=s.env(d + "/home"),
                timeout=a.timeout)
        cmd = tool.command(r)
        if self.server_touched:  # a delete run emptied the server: put the corpus back
            self.snapshot.restore()
            self.server_touched = False
        os.sync()  # earlier runs' writeback must not land in this run's fsyncs
        load = load_average()
        if a.syscalls:
            cmd = ["strace", "-f", "-c", "-o", d + "/strace", "-e",
                   "trace=fsync,fdatasync,write,read,recvfrom,sendto,rename,link,openat"] + cmd
        rc, wall, (user, sys_), rss, timed_out = measure(cmd, r.env, a.timeout, d + "/log")
        if a.syscalls and i == 0:
            with open(d + "/strace") as f:
                calls = {m.group(2): int(m.group(1)) for m in
                         re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$",
                                     f.read(), re.M)}
            s.notes.append("syscalls %s/%s: %s" % (row.name, net, ", ".join(
                "%s %d" % kv for kv in sorted(calls.items()) if kv[0] != "total")))
        n = len(self.corpus)
        ident = None
        if tool.raw:
            count, note = check_floor(d)
        elif mode == "mbox":
            count, ident, note = check_mbox(d + "/mbox", self.corpus, full_check)
            if count != n:
                note = ("%d of %d messages in the mbox; " % (count, n) + note).rstrip("; ")
        else:
            count, ident, note = check_maildir(d + "/Maildir", self.corpus, full_check)
            if count != n:
                note = ("%d of %d files in new/; " % (count, n) + note).rstrip("; ")
        left = 0
        if mode == "delete":
            s.dovecot.wait_for_pop3_processes()
            self.server_touched = True
            left = s.dovecot.messages(USER)
            note = (note + "; " if note else "") + (
                "server emptied" if left == 0 else "%d messages LEFT on the server" % left)
        # complete: the tool exited 0 with every message delivered (and, when compared, every
        # one byte-identical for popget; peers that rewrite messages are only reported); a
        # delete run also left the server empty.
        ok = rc == 0 and count == n and not timed_out and left == 0
        if tool.strict and ident is False:
            ok = False
        if timed_out:
            note = "TIMED OUT after %ds; " % a.timeout + note
        status = "ok" if ok else "FAIL rc=%d" % rc
        log("  %-13s %-9s run %d: %7.3fs wall %6.2fs user %6.2fs sys %6.1f MiB load %.1f  %s %s"
            % (row.name, net, i + 1, wall, user, sys_, rss / 1024, load, status, note))
        if not ok:
            log(tail(d + "/log.err") or tail(d + "/log.out"))
            (s.failures if tool.strict else self.peer_problems).append(
                "%s/%s run %d: %s %s" % (row.name, net, i + 1, status, note))
        self.results.append(dict(tool=row.name, mode=mode, net=net, run=i + 1, rc=rc, ok=ok,
                                 wall=wall, cpu=user + sys_, user=user, sys=sys_,
                                 rss_kib=rss, delivered=count, timed_out=timed_out, load=load,
                                 note=note))
        # The output stays until the bench ends: see KEEP_OUTPUTS_NOTE.

    def check_space(self, rows):
        """Every run's output stays until the bench ends (see KEEP_OUTPUTS_NOTE): make sure
        the output directory can hold them all."""
        a = self.a
        runs = sum(min(a.runs, a.slow_runs) if r.tool.slow else a.runs for r in rows)
        if a.rtt_ms > 0:
            runs += a.runs * sum(1 for r in rows if r.tool.rtt)
        self.s.check_space(self.s.out, runs, self.corpus_bytes)
        self.s.notes.append(KEEP_OUTPUTS_NOTE)

    def series(self, net, port, rows):
        runs = self.a.runs
        slow_runs = min(runs, self.a.slow_runs)
        for r in rows:
            if r.tool.slow and slow_runs < runs:
                log("NOTE: %s runs %d times instead of %d (slow peer)" % (r.name, slow_runs, runs))
        for i in range(runs):  # round-robin, so drift hits every tool alike
            for r in rows:
                if r.tool.slow and i >= slow_runs:
                    continue
                # every popget run is compared byte for byte; the peers' first run only
                self.run_once(r, net, port, i, full_check=(i == 0 or r.tool.strict))

    # -- report -------------------------------------------------------------------------------
    def table(self):
        """Medians over the runs that finished in time; runs that did not deliver everything
        are counted in the "complete" column and their row is marked."""
        mb = self.corpus_bytes / 1e6
        n = len(self.corpus)
        modes = {r["tool"]: r["mode"] for r in self.results}
        keys = list(dict.fromkeys((r["tool"], r["net"]) for r in self.results))
        used = {k: [r for r in self.results if (r["tool"], r["net"]) == k and not r["timed_out"]]
                for k in keys}
        med = {k: statistics.median(r["wall"] for r in rs) for k, rs in used.items() if rs}
        mpop = {m: t.variant(m) for t in FETCH_TOOLS if t.name == "mpop" for m in MODES}
        out = ["| tool | network | complete runs | median wall s | MB/s | x floor | x mpop | "
               "CPU s/MB | user s/MB | peak RSS MiB |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for k in keys:
            tool, net = k
            all_rs = [r for r in self.results if (r["tool"], r["net"]) == k]
            rs = used[k]
            good = sum(r["ok"] for r in all_rs)
            runs = "%d/%d" % (good, len(all_rs))
            if good < len(all_rs):
                runs += " (delivered %s of %d)" % (
                    "/".join(str(r["delivered"]) for r in all_rs), n)
            if not rs:
                out.append("| %s | %s | %s | timed out | | | | | | |" % (tool, net, runs))
                continue
            w = med[k]
            cpu = statistics.median(r["cpu"] for r in rs)
            user = statistics.median(r["user"] for r in rs)
            fl = med.get(("floor", net))
            # every row is compared with mpop in the same mode
            mp = med.get((mpop[modes[tool]], net))
            out.append("| %s | %s | %s | %.3f | %.1f | %s | %s | %.4f | %.4f | %.1f |" % (
                tool, net, runs, w, mb / w,
                "%.2f" % (w / fl) if fl else "n/a", "%.2f" % (w / mp) if mp else "n/a",
                cpu / mb, user / mb, max(r["rss_kib"] for r in rs) / 1024))
        return "\n".join(out)

    def modes_table(self):
        """Delete and mbox runs against the keep/Maildir runs of the same tool and network:
        the ratio of the median wall times, and the median of the per-round ratios (the tools
        take turns, so run k of each variant ran close together in time: the paired ratio is
        less exposed to drift in the machine's load)."""
        rows = []
        for tool in (t for t in FETCH_TOOLS if t.labels):
            nets = list(dict.fromkeys(r["net"] for r in self.results if r["tool"] == tool.name))
            for net in nets:
                def runs(name):
                    return {r["run"]: r for r in self.results
                            if (r["tool"], r["net"]) == (name, net) and not r["timed_out"]}
                keep = runs(tool.name)
                if not keep:
                    continue
                kw = statistics.median(r["wall"] for r in keep.values())
                kc = statistics.median(r["cpu"] for r in keep.values())
                for mode in MODES[1:]:
                    var = runs(tool.variant(mode))
                    if not var:
                        continue
                    w = statistics.median(r["wall"] for r in var.values())
                    c = statistics.median(r["cpu"] for r in var.values())
                    paired = [var[k]["wall"] / keep[k]["wall"] for k in var if k in keep]
                    rows.append("| %s | %s | %s | %.3f | %.3f | %.2f | %s | %.2f |" % (
                        tool.name, net, tool.labels[mode], w, kw, w / kw,
                        "%.2f" % statistics.median(paired) if paired else "n/a",
                        c / kc if kc else float("nan")))
        if not rows:
            return ""
        return "\n".join(["| tool | network | mode | median wall s | keep-maildir median wall s "
                          "| x keep-maildir | x keep-maildir (median of paired runs) "
                          "| CPU x keep-maildir |",
                          "|---|---|---|---|---|---|---|---|"] + rows)

    # -- the bench ------------------------------------------------------------------------------
    def run(self):
        a, s = self.a, self.s
        peers = install_peers(s)
        s.build()
        dovecot = s.start_dovecot([USER])
        self.write_corpus()
        # Warm-up (not measured): Dovecot builds its index and moves new/ to cur/.
        floor = FETCH_TOOLS[0]
        self.run_once(Row(floor, "keep", floor.exe(s)), "warmup", dovecot.port, 0, False)
        self.results.clear()
        tools = [t for t in FETCH_TOOLS if t.name not in a.skip and t.exe(s)]
        rows = [Row(t, mode, t.exe(s)) for t in tools for name, mode in t.variants(a.modes)
                if name not in a.skip]
        if any(r.mode == "delete" for r in rows):
            # What the delete runs take away is put back from here (as the warm-up left it).
            self.snapshot = Snapshot(dovecot, USER, os.path.join(s.work, "pristine-Maildir"))
        self.check_space(rows)
        t0 = time.time()
        log("== loopback: %s, %d runs" % (", ".join(r.name for r in rows), a.runs))
        self.series("loopback", dovecot.port, rows)
        net_desc = None
        if a.rtt_ms > 0:
            proxy = s.start_proxy(a.bw_mbit * 1e6 / 8 if a.bw_mbit else None)
            net = "%gms-RTT" % a.rtt_ms + ("-%gMbit" % a.bw_mbit if a.bw_mbit else "")
            net_desc = "%s: proxy adds %g ms each way per chunk%s" % (
                net, a.rtt_ms / 2, ", %g Mbit/s per direction" % a.bw_mbit if a.bw_mbit else
                ", no bandwidth cap")
            rtt_rows = [r for r in rows if r.tool.rtt]
            log("== %s via proxy 127.0.0.1:%d: %s" % (net, proxy.port,
                                                     ", ".join(r.name for r in rtt_rows)))
            self.series(net, proxy.port, rtt_rows)
        log("measuring took %.0fs" % (time.time() - t0))

        vers = {"popget": first_line([s.popget, "--version"]),
                **({"before (--baseline)": first_line([s.baseline, "--version"])}
                   if s.baseline else {}),
                "dovecot": dovecot.version()}
        for t in PEERS:
            if t.name in peers:
                vers[t.name] = first_line([peers[t.name], *t.version])
        print()
        print("workload: " + self.workload)
        print("versions: " + "; ".join("%s %s" % kv for kv in vers.items()))
        fs = first_line(["stat", "-f", "-c", "%T", s.out])
        print("fetched into: %s (%s)%s" % (s.out, fs, "; network %s" % net_desc
                                            if net_desc else ""))
        slow = "/".join(t.name for t in FETCH_TOOLS if t.slow)
        print("runs: %d (slow peers %s: %d); median wall time, median CPU (user+sys, and user "
              "alone) per MB of corpus (MB = 10^6 bytes), max RSS over runs; ratios are of "
              "median wall times" % (a.runs, slow, min(a.runs, a.slow_runs)))
        print()
        print(self.table())
        print()
        modes = self.modes_table()
        if modes:
            print("delete and mbox against keep/Maildir (popget --maildir, mpop delivery "
                  "maildir, both keeping mail on the server):")
            print()
            print(modes)
            print()
        print_checks(self.results, s.notes, self.peer_problems)
        if a.json:
            write_json(a.json, dict(workload=self.workload, versions=vers, results=self.results,
                                    notes=s.notes, failures=s.failures,
                                    peer_problems=self.peer_problems))
        return print_failures(s.failures)


def run(session):
    return FetchBench(session).run()
