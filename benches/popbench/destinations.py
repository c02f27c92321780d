"""The destination bench (--destination-bench): the fetch bench's corpus fetched from the private
Dovecot's POP3 into the same Dovecot's IMAP (APPEND) and LMTP, by popget and by fetchmail and
getmail6 over LMTP, beside popget into a Maildir of its own; round-robin, on loopback and with
the latency proxy in front of both the POP3 server and the destination.

Each run delivers to a destination user of its own, so that every run starts with an empty
mailbox and nothing is deleted during the bench (see fetch.KEEP_OUTPUTS_NOTE); the POP3 mailbox
is kept (keep mode), so it holds the corpus for every run. After each run the destination holds
exactly the corpus or the run failed: every message file is compared with the corpus, after the
trace fields LMTP adds in front."""

import os
import statistics
import time

from .corpus import fill_maildrop
from .fetch import KEEP_OUTPUTS_NOTE, install_peers
from .report import print_checks, print_failures, write_json
from .run import first_line, load_average, log, measure, tail
from .testbed import USER
from .tools import DESTINATION_TOOLS, FLOOR, DestinationRun, Run
from .verify import check_maildir, check_stored

# (numerator, denominator, target): a row's median wall time over another's, and what the
# issue asks of it: ("<=", 1.5) at most 1.5 times, (">=", 3) at least 3 times; None: shown for
# what it explains.
RATIOS = (
    ("floor-imap", "popget-maildir", None),
    ("floor-imap-multiappend", "popget-maildir", None),
    ("floor-lmtp", "popget-maildir", None),
    ("popget-imap", "floor-imap", None),
    ("popget-lmtp", "floor-lmtp", None),
    ("popget-imap", "before-imap", None),
    ("popget-lmtp", "before-lmtp", None),
    ("popget-lmtp-unix", "before-lmtp-unix", None),
    ("popget-imap", "popget-maildir", ("<=", 1.5)),
    ("popget-imaps", "popget-maildir", ("<=", 1.5)),
    ("popget-lmtp", "popget-maildir", ("<=", 1.5)),
    ("popget-lmtp-unix", "popget-maildir", ("<=", 1.5)),
    ("fetchmail-lmtp", "popget-lmtp", (">=", 3)),
    ("getmail6-lmtp", "popget-lmtp", (">=", 3)),
)

# A run through the proxy may take this many round trips per message beyond --timeout:
# fetchmail and getmail6 wait for each of their LMTP commands, popget for each message.
ROUND_TRIPS_PER_MESSAGE = 10


def skipped(tool, skip):
    """--skip names a row (popget-imap) or a program (fetchmail: all of its rows)."""
    return tool.name in skip or tool.name.split("-")[0] in skip


class DestinationBench:
    def __init__(self, session):
        self.s, self.a = session, session.a
        self.results = session.results
        self.peer_problems = []

    def plan(self, tools):
        """The measured runs, in order: (network, tool, run index), round-robin by index."""
        a = self.a

        def runs_of(t, net):
            if net == "loopback":
                return min(a.runs, a.slow_runs) if t.slow else a.runs
            return 0 if not t.rtt else min(a.runs, a.slow_rtt_runs) if t.slow_rtt else a.runs

        nets = (["loopback"] if "loopback" in a.networks else []) + (
            [self.rtt_net] if "rtt" in a.networks and a.rtt_ms > 0 else [])
        runs = []
        for net in nets:
            for i in range(a.runs):
                runs += [(net, t, i) for t in tools if i < runs_of(t, net)]
        return runs

    def ports(self, net):
        """The POP3 port and each destination service's TCP port on a network."""
        d = self.s.dovecot
        ports = {"pop3": d.port, "imap": d.imap_port, "imaps": d.imaps_port,
                 "lmtp": d.lmtp_port}
        if net != "loopback":  # a proxy in front of each of them
            ports = {k: self.s.start_proxy(port=p).port for k, p in ports.items()}
        return ports

    def run_once(self, tool, net, ports, i, user):
        a, s = self.a, self.s
        d = os.path.join(s.out, "%s-%s-%d" % (tool.name, net, i))
        os.makedirs(d, mode=0o700)
        timeout = a.timeout
        if net != "loopback":
            timeout += int(ROUND_TRIPS_PER_MESSAGE * len(self.corpus) * a.rtt_ms / 1000)
        r = DestinationRun(dir=d, port=ports["pop3"], mode="keep", exe=self.exes[tool.name],
                           env=s.env(d + "/home"), timeout=timeout, user=user or "",
                           to_port=ports.get(tool.to, 0), socket=s.dovecot.lmtp_socket,
                           ca_file=s.dovecot.certificate, source=s.dovecot.maildirs[USER])
        cmd = tool.command(r)
        os.sync()  # earlier runs' writeback must not land in this run's fsyncs
        load = load_average()
        server_before = s.dovecot.cpu_s()
        rc, wall, (user_s, sys_s), rss, timed_out = measure(cmd, r.env, timeout, d + "/log")
        server = s.dovecot.cpu_s() - server_before
        n = len(self.corpus)
        if tool.to is None:
            count, ident, note = check_maildir(d + "/Maildir", self.corpus, True)
        else:
            count, ident, note = check_stored(s.dovecot.stored(user), self.corpus, tool.traced)
        if count != n:
            note = "%d of %d messages stored; %s" % (count, n, note)
        # complete: the tool exited 0 and the destination holds every message; a popget run
        # must also have stored each one unchanged (the peers' changes are only reported).
        ok = rc == 0 and count == n and not timed_out and (ident or not tool.strict)
        if timed_out:
            note = "TIMED OUT after %ds; %s" % (timeout, note)
        status = "ok" if ok else "FAIL rc=%d" % rc
        log("  %-16s %-9s run %d: %7.3fs wall %6.2fs user %6.2fs sys %6.1f MiB dovecot %5.2fs "
            "load %.1f  %s %s" % (tool.name, net, i + 1, wall, user_s, sys_s, rss / 1024, server,
                                  load, status, note))
        if not ok:
            log(tail(d + "/log.err") or tail(d + "/log.out"))
        if not ok or not ident:
            (s.failures if tool.strict else self.peer_problems).append(
                "%s/%s run %d: %s %s" % (tool.name, net, i + 1, status, note))
        self.results.append(dict(tool=tool.name, net=net, run=i + 1, rc=rc, ok=ok, wall=wall,
                                 cpu=user_s + sys_s, user=user_s, sys=sys_s, rss_kib=rss,
                                 server_cpu=server, delivered=count, timed_out=timed_out,
                                 load=load, note=note))

    def check_space(self, runs):
        """Each run's mail stays until the bench ends: a Maildir run's under the output
        directory, a destination run's in Dovecot's (under the work directory)."""
        s = self.s
        here = sum(1 for _, t, _ in runs if t.to is None)
        there = len(runs) - here
        if os.stat(s.out).st_dev == os.stat(s.work).st_dev:
            here, there = here + there, 0
        s.check_space(s.out, here, self.corpus_bytes)
        if there:
            s.check_space(s.work, there, self.corpus_bytes)
        s.notes.append(KEEP_OUTPUTS_NOTE)

    # -- report -------------------------------------------------------------------------------
    def runs_of(self, tool, net):
        """{run number: result} of the runs that finished in time."""
        return {r["run"]: r for r in self.results
                if (r["tool"], r["net"]) == (tool, net) and not r["timed_out"]}

    def median(self, tool, net, key="wall"):
        rs = self.runs_of(tool, net)
        return statistics.median(r[key] for r in rs.values()) if rs else None

    def table(self):
        mb = self.corpus_bytes / 1e6
        out = ["| tool | network | complete runs | median wall s | min s | max s | MB/s "
               "| x popget-maildir | CPU s/MB | Dovecot CPU s | peak RSS MiB |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for tool, net in dict.fromkeys((r["tool"], r["net"]) for r in self.results):
            every = [r for r in self.results if (r["tool"], r["net"]) == (tool, net)]
            good = sum(r["ok"] for r in every)
            complete = "%d/%d" % (good, len(every))
            rs = list(self.runs_of(tool, net).values())
            if not rs:
                out.append("| %s | %s | %s | timed out | | | | | | | |" % (tool, net, complete))
                continue
            walls = [r["wall"] for r in rs]
            w = statistics.median(walls)
            ref = self.median("popget-maildir", net)
            out.append("| %s | %s | %s | %.3f | %.3f | %.3f | %.1f | %s | %.4f | %.2f | %.1f |"
                       % (tool, net, complete, w, min(walls), max(walls), mb / w,
                          "%.2f" % (w / ref) if ref else "n/a",
                          statistics.median(r["cpu"] for r in rs) / mb,
                          statistics.median(r["server_cpu"] for r in rs),
                          max(r["rss_kib"] for r in rs) / 1024))
        return "\n".join(out)

    def ratios(self):
        """The issue's ratios on each network: of the medians, and the median of the paired
        runs (run k of each row ran in the same round, so close together in time)."""
        out = ["| network | ratio | of the medians | median of paired runs | target | met |",
               "|---|---|---|---|---|---|"]
        for net in dict.fromkeys(r["net"] for r in self.results):
            for top, bottom, target in RATIOS:
                x, y = self.median(top, net), self.median(bottom, net)
                if x is None or y is None:
                    continue
                xs, ys = self.runs_of(top, net), self.runs_of(bottom, net)
                paired = [xs[k]["wall"] / ys[k]["wall"] for k in xs if k in ys]
                ratio = x / y
                if target:
                    sense, bound = target
                    met = ratio <= bound if sense == "<=" else ratio >= bound
                    goal = ("%s %g" % target, "yes" if met else "NO")
                else:
                    goal = ("", "")
                out.append("| %s | %s / %s | %.2f | %s | %s | %s |" % (
                    (net, top, bottom, ratio,
                     "%.2f" % statistics.median(paired) if paired else "n/a") + goal))
        return "\n".join(out)

    # -- the bench ------------------------------------------------------------------------------
    def run(self):
        a, s = self.a, self.s
        tools = [t for t in DESTINATION_TOOLS if not skipped(t, a.skip)]
        peers = install_peers(s, [t for t in tools if t.package])
        s.build()
        tools = [t for t in tools if t.exe(s)]
        self.exes = {t.name: t.exe(s) for t in tools}
        self.rtt_net = "%gms-RTT" % a.rtt_ms
        runs = self.plan(tools)
        users = ["to%03d" % k for k, (_, t, _) in enumerate(runs) if t.to is not None]
        dovecot = s.start_dovecot([USER] + users, destinations=True)
        self.corpus, workload = fill_maildrop(dovecot, a)
        self.corpus_bytes = sum(len(m) for m in self.corpus)
        self.check_space(runs)
        # Warm-up (not measured): Dovecot builds the POP3 mailbox's index.
        warm = Run(dir=os.path.join(s.out, "warmup"), port=dovecot.port, mode="keep",
                   exe=FLOOR.exe(s), env=s.env(os.path.join(s.out, "warmup", "home")),
                   timeout=a.timeout)
        measure(FLOOR.command(warm), warm.env, a.timeout, warm.dir + "/log")
        t0 = time.time()
        users = iter(users)
        ports = {}
        for net, tool, i in runs:
            if net not in ports:
                ports[net] = self.ports(net)
                log("== %s: %s" % (net, ", ".join(
                    dict.fromkeys(t.name for n, t, _ in runs if n == net))))
            self.run_once(tool, net, ports[net], i, next(users) if tool.to else None)
        log("measuring took %.0fs" % (time.time() - t0))
        self.report(workload, peers)
        if a.json:
            write_json(a.json, dict(workload=workload, results=self.results, notes=s.notes,
                                    failures=s.failures, peer_problems=self.peer_problems))
        return print_failures(s.failures)

    def report(self, workload, peers):
        a, s = self.a, self.s
        vers = {"popget": first_line([s.popget, "--version"]), "dovecot": s.dovecot.version()}
        if s.baseline:
            vers["before (--baseline)"] = first_line([s.baseline, "--version"])
        for t in DESTINATION_TOOLS:
            if t.package and t.package not in vers and t.name in peers:
                vers[t.package] = first_line([peers[t.name], *t.version])
        print()
        print("workload: " + workload)
        print("versions: " + "; ".join("%s %s" % kv for kv in vers.items()))
        print("destinations: Dovecot's IMAP (popget-imap: imap:// with tls = \"none\"; "
              "popget-imaps: imaps:// trusting the testbed's certificate) and LMTP (TCP; "
              "popget-lmtp-unix: its Unix socket), each run to a user of its own; "
              "popget-maildir into %s (%s)" % (s.out, first_line(["stat", "-f", "-c", "%T",
                                                                     s.out])))
        if any(r["net"] == self.rtt_net for r in self.results):
            print("%s: the proxy adds %g ms each way per chunk in front of the POP3 server and "
                  "of the destination server alike" % (self.rtt_net, a.rtt_ms / 2))
        print("floors: the corpus's files straight into the server, no POP3 (floor-imap: "
              "one APPEND each, all pipelined; floor-imap-multiappend: one MULTIAPPEND per 64; "
              "floor-lmtp: MAIL, RCPT and BDAT LAST in one write, one message at a time)")
        print("runs: %d (fetchmail and getmail6: %d on loopback; through the proxy they and "
              "floor-lmtp: %d); median, min and max wall time, median CPU (user+sys) per MB of "
              "corpus, median Dovecot CPU (POP3 and destination), max RSS over runs" % (
                  a.runs, min(a.runs, a.slow_runs), min(a.runs, a.slow_rtt_runs)))
        print()
        print(self.table())
        print()
        print(self.ratios())
        print()
        print_checks(self.results, s.notes, self.peer_problems)


def run(session):
    return DestinationBench(session).run()
