"""scripts/bench's command line: the options, then the one bench they choose."""

import argparse
import signal

from . import daemon, destinations, fetch, state
from .session import Session
from .tools import MODES

USAGE = """Benchmark popget against a raw pipelined client ("floor") and other POP3 fetchers.

  scripts/bench [--small] [--runs N] [--slow-runs N] [--rtt-ms N] [--bw-mbit N]
                [--modes keep,delete,mbox] [--out-dir DIR] [--no-build | --popget PATH]
                [--json FILE]                                                (--help for all)
  scripts/bench --state-bench [--small] [--state-uidls N] [--runs N] ...
  scripts/bench --daemon-bench [--daemon-accounts 200] [--daemon-cycles 50] [--daemon-rtt-cycles 3]
  scripts/bench --destination-bench [--small] [--runs N] [--slow-runs N] [--slow-rtt-runs N] ...

Starts a private Dovecot on 127.0.0.1 (popget-testbed, the one the integration tests use),
generates a deterministic seeded corpus straight into its Maildir, then measures over several
runs (median wall time; user and sys CPU and peak RSS of the tool and its waited-for
descendants, from /usr/bin/time):

  floor      a raw client (benches/popbench/floor.py): one socket, all RETR 1..N pipelined,
             responses to a file
  popget     popget fetch --tls none --auth user --maildir DIR --state FILE --all (keep mode)
  mpop       --delivery maildir, keep, only_new off, auth user, tls off     (if installed)
  fetchmail  --keep --all, MDA = a small sh script writing into a Maildir     (if installed)
  getmail6   SimplePOP3Retriever, read_all, delete = false, Maildir           (if installed)

and floor/popget/mpop again through a latency-adding TCP proxy (default 50 ms RTT). Every run's
Maildir is checked to hold the whole corpus; the first run of each tool and network is compared
byte for byte with the corpus, and every popget run too (a popget mismatch fails the bench).

--modes (default keep,delete,mbox) adds, for popget and mpop alike, runs that delete on the
server (popget --delete; mpop keep off) and runs that deliver into an mbox (popget --mbox FILE;
mpop delivery mbox FILE), next to the keep/Maildir runs, and reports their ratios to the
keep/Maildir runs of the same tool and network. A delete run empties the server, so before the
next run the server's whole Maildir (messages and Dovecot's index files, as they were after
the unmeasured warm-up) is restored from a snapshot, unmeasured; a delete run must leave the
server empty.

--state-bench instead measures what a state file of --state-uidls seen UIDLs (default 100,000)
adds to a fetch that finds nothing new (benches/popbench/state.py). --daemon-bench measures
popget's daemon and fetchmail's polling accounts with nothing new (benches/popbench/daemon.py).
--destination-bench fetches the same corpus into Dovecot's IMAP and LMTP with popget, and over
LMTP with fetchmail and getmail6, beside popget into a Maildir, with the proxy in front of both
servers for the --rtt-ms runs (benches/popbench/destinations.py).

Talks to 127.0.0.1 only; every child has a timeout; Dovecot, the proxy and the temporary
directory go away on exit. Standard library only. Needs root or an ordinary user that can run
/usr/sbin/dovecot.
"""


def parse(argv=None):
    p = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    p.add_argument("--small", action="store_true", help="tiny corpus: 50 messages, ~1 MB")
    p.add_argument("--messages", type=int, help="corpus size (default 2000, --small 50)")
    p.add_argument("--total-mb", type=float, help="approximate corpus MB (default 100, small 1)")
    p.add_argument("--max-attachment", type=int, help="largest message part, bytes")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--runs", type=int, help="runs of each tool (default 5; --state-bench 11)")
    p.add_argument("--slow-runs", type=int, default=3, help="runs for fetchmail and getmail6")
    p.add_argument("--rtt-ms", type=float, default=50, help="round trip via the proxy; 0: skip")
    p.add_argument("--bw-mbit", type=float, default=0, help="proxy bandwidth cap per direction")
    p.add_argument("--out-dir", help="where the fetched Maildirs go (default: the temp dir, "
                   "under $TMPDIR or /tmp); e.g. /dev/shm to take the disk out of the picture")
    p.add_argument("--timeout", type=int, default=120,
                   help="seconds per child process (--destination-bench through the proxy: "
                   "plus 10 round trips per message)")
    p.add_argument("--syscalls", action="store_true",
                   help="diagnostic: run every tool under strace -f -c and report its fsync, "
                   "fdatasync, write, read and recv counts (timings are then meaningless)")
    p.add_argument("--skip", action="append", default=[],
                   help="tool to leave out (repeatable): floor, popget, mpop, fetchmail, "
                   "getmail6, or one variant such as popget-mbox or mpop-delete")
    p.add_argument("--state-bench", action="store_true",
                   help="instead: measure what a state file of --state-uidls seen UIDLs adds to "
                   "a fetch that finds nothing new")
    p.add_argument("--state-uidls", type=int,
                   help="messages on the server and UIDLs in the state (default 100000, "
                   "--small 2000)")
    p.add_argument("--daemon-bench", action="store_true",
                   help="instead: popget daemon and fetchmail -d polling --daemon-accounts "
                   "Dovecot users with nothing new, --daemon-cycles cycles")
    p.add_argument("--destination-bench", action="store_true",
                   help="instead: popget into Dovecot's IMAP and LMTP and into a Maildir, "
                   "fetchmail --lmtp and getmail6's MDA_lmtp, on loopback and through the "
                   "--rtt-ms proxy in front of both servers")
    p.add_argument("--networks", default="loopback,rtt",
                   help="--destination-bench: loopback, rtt (through the --rtt-ms proxy) or "
                   "both, comma-separated")
    p.add_argument("--slow-rtt-runs", type=int, default=1,
                   help="--destination-bench: runs of fetchmail and getmail6 through the proxy "
                   "(each waits for every LMTP command: minutes per run)")
    p.add_argument("--daemon-accounts", type=int, default=200)
    p.add_argument("--daemon-cycles", type=int, default=50)
    p.add_argument("--daemon-rtt-cycles", type=int, default=3,
                   help="cycles through the --rtt-ms proxy (0: loopback only)")
    p.add_argument("--modes", default="keep,delete,mbox",
                   help="comma-separated modes for popget and mpop: keep (keep on the server, "
                   "deliver into a Maildir), delete (delete on the server, Maildir), mbox (keep, "
                   "deliver into an mbox); default all three")
    p.add_argument("--no-build", action="store_true", help="use the existing release binary")
    p.add_argument("--popget", metavar="PATH", help="measure this popget binary (no build)")
    p.add_argument("--baseline", metavar="PATH",
                   help="also measure this popget binary (a build of an earlier commit) as "
                   "'before', round-robin with the current one, in every mode, in "
                   "--state-bench and in --destination-bench")
    p.add_argument("--no-install", action="store_true", help="do not apt-get missing peers")
    p.add_argument("--keep-work", action="store_true", help="keep the temp dir (debugging)")
    p.add_argument("--json", help="also write raw results here")
    a = p.parse_args(argv)
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    a.networks = [n.strip() for n in a.networks.split(",") if n.strip()]
    if not a.networks or any(n not in ("loopback", "rtt") for n in a.networks):
        p.error("--networks takes loopback, rtt or both")
    if not a.modes or any(m not in MODES for m in a.modes):
        p.error("--modes takes a comma-separated list of %s" % ", ".join(MODES))
    a.runs = a.runs or (11 if a.state_bench else 5)
    a.state_uidls = a.state_uidls or (2000 if a.small else 100_000)
    a.messages = a.messages or (50 if a.small else 2000)
    a.total_mb = a.total_mb or (1.0 if a.small else 100.0)
    a.max_attachment = a.max_attachment or (150_000 if a.small else 1_500_000)
    return a


def main(argv=None):
    a = parse(argv)
    bench = (daemon if a.daemon_bench else state if a.state_bench
             else destinations if a.destination_bench else fetch)
    session = Session(a)

    def on_signal(sig, _):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return bench.run(session)
    finally:
        session.cleanup()
