"""Every tool the benches run, one small declaration each: its name, where its program comes
from, how its config is written, its command line per mode and what it supports. The benches
(fetch.py, state.py, daemon.py) only ever go through these declarations."""

import dataclasses
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import floor
from .testbed import PASSWORD, USER

MODES = ("keep", "delete", "mbox")  # keep: keep on the server, deliver into a Maildir


# ---------------------------------------------------------------------------------------------
# The fetch bench's tools


@dataclass
class Run:
    """What a tool's command line is made from, for one measured run."""

    dir: str  # the run's own directory: config, state and the delivered mail go here
    port: int
    mode: str
    exe: str
    env: dict  # the run's environment; a tool may add to it
    timeout: int


@dataclass(frozen=True)
class FetchTool:
    name: str  # its row; a delete or mbox variant's row adds "-delete" or "-mbox"
    exe: Callable  # Session -> the program, or None when it is not there
    command: Callable[[Run], list]  # writes the tool's config into run.dir, returns argv
    modes: tuple = ("keep",)  # the MODES it runs in
    labels: Optional[dict] = None  # mode -> its name in the delete/mbox table (None: not shown)
    package: Optional[str] = None  # the Debian package to install it from
    version: tuple = ("--version",)
    strict: bool = False  # every run compared byte for byte; a problem fails the bench
    slow: bool = False  # --slow-runs instead of --runs
    rtt: bool = False  # measured through the latency proxy too
    raw: bool = False  # writes the raw responses (the floor), not a Maildir or an mbox

    def variant(self, mode):
        return self.name if mode == "keep" else "%s-%s" % (self.name, mode)

    def variants(self, modes):
        """The rows measured for the tool: one per chosen mode it supports."""
        return [(self.variant(m), m) for m in MODES if m in self.modes and m in modes]


def on_path(program):
    return lambda session: shutil.which(program)


def private_file(path, text):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(text)
    return path


def new_maildir(d):
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(d, "Maildir", sub), mode=0o700)
    return d + "/Maildir"


def popget_connection(exe, subcommand, port):
    return [exe, subcommand, "--host", "127.0.0.1", "--port", str(port), "--user", USER,
            "--tls", "none", "--auth", "user"]


def popget_fetch(r):
    dest = ["--mbox", r.dir + "/mbox"] if r.mode == "mbox" else ["--maildir", r.dir + "/Maildir"]
    return (popget_connection(r.exe, "fetch", r.port) + dest
            + ["--state", r.dir + "/popget.state", "--all"]
            + (["--delete"] if r.mode == "delete" else []))


def floor_command(r, kind, *args):
    """A floor client of floor.py as a process of its own."""
    return [r.exe, "-I", "-S", os.path.abspath(floor.__file__), kind] + [str(x) for x in args]


FLOOR = FetchTool(
    "floor", exe=lambda session: sys.executable, strict=True, rtt=True, raw=True,
    command=lambda r: floor_command(r, "fetch", r.port, r.dir + "/raw.txt", r.timeout))

POPGET = FetchTool(
    "popget", exe=lambda session: session.popget, command=popget_fetch, modes=MODES,
    labels={"delete": "--delete", "mbox": "--mbox"}, strict=True, rtt=True)

# --baseline: the same runs with another popget binary (an earlier commit), side by side
BASELINE = FetchTool(
    "before", exe=lambda session: session.baseline, command=popget_fetch, modes=MODES,
    strict=True, rtt=True)

MPOPRC = """account bench
host 127.0.0.1
port {port}
user {user}
password {password}
auth user
tls off
pipelining auto
only_new off
keep {keep}
received_header off
timeout {timeout}
uidls_file {dir}/mpop_uidls
delivery {delivery}
"""


def mpop(r):
    delivery = "mbox %s/mbox" % r.dir if r.mode == "mbox" else "maildir " + new_maildir(r.dir)
    rc = private_file(r.dir + "/mpoprc", MPOPRC.format(
        port=r.port, user=USER, password=PASSWORD, keep="off" if r.mode == "delete" else "on",
        timeout=r.timeout, dir=r.dir, delivery=delivery))
    return [r.exe, "-C", rc, "-q", "bench"]


MPOP = FetchTool(
    "mpop", exe=on_path("mpop"), command=mpop, modes=MODES, package="mpop", rtt=True,
    labels={"delete": "keep off", "mbox": "delivery mbox"})

# fetchmail has no Maildir delivery of its own: its MDA is this script.
FETCHMAIL_MDA = """#!/bin/sh
set -e
t=$(mktemp "$1/tmp/fm.XXXXXXXXXXXX")
cat > "$t"
mv -n "$t" "$1/new/"
"""
FETCHMAILRC = """set no syslog
set invisible
poll 127.0.0.1 with proto POP3 service {port} auth password timeout {timeout}
  user "{user}" there with password "{password}"
  options keep fetchall no rewrite sslproto '' {delivery}
"""


def fetchmail_with(r, delivery):
    """fetchmail's command line, its rc file delivering as `delivery` says."""
    rc = private_file(r.dir + "/fetchmailrc", FETCHMAILRC.format(
        port=r.port, timeout=r.timeout, user=USER, password=PASSWORD, delivery=delivery))
    r.env["FETCHMAILHOME"] = r.dir
    return [r.exe, "-f", rc, "--pidfile", r.dir + "/fetchmail.pid", "--idfile",
            r.dir + "/fetchids", "--nodetach", "-s"]


def fetchmail(r):
    maildir = new_maildir(r.dir)
    mda = r.dir + "/mda"
    with open(mda, "w") as f:
        f.write(FETCHMAIL_MDA)
    os.chmod(mda, 0o755)
    return fetchmail_with(r, 'mda "%s %s"' % (mda, maildir))


FETCHMAIL = FetchTool("fetchmail", exe=on_path("fetchmail"), command=fetchmail,
                      package="fetchmail", version=("-V",), slow=True)

GETMAILRC = """[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = {port}
username = {user}
password = {password}
timeout = {timeout}

[destination]
{destination}
[options]
verbose = 0
read_all = true
delete = false
delivered_to = false
received = false
message_log_syslog = false
"""


def getmail6_with(r, destination):
    """getmail's command line, its rc file's [destination] section holding `destination`."""
    g = r.dir + "/getmail"
    os.makedirs(g, mode=0o700)
    rc = private_file(g + "/getmailrc", GETMAILRC.format(
        port=r.port, user=USER, password=PASSWORD, timeout=r.timeout, destination=destination))
    return [r.exe, "--getmaildir", g, "--rcfile", rc, "--quiet"]


def getmail6(r):
    maildir = new_maildir(r.dir)
    destination = "type = Maildir\npath = %s/\n" % maildir
    if os.geteuid() == 0:  # getmail will not deliver to a Maildir as root
        destination += "user = nobody\n"
        os.chmod(r.dir, 0o755)
        for dirpath, _, _ in os.walk(maildir):
            os.chown(dirpath, 65534, 65534)
    return getmail6_with(r, destination)


GETMAIL6 = FetchTool("getmail6", exe=on_path("getmail"), command=getmail6, package="getmail6",
                     slow=True)

FETCH_TOOLS = (FLOOR, POPGET, BASELINE, MPOP, FETCHMAIL, GETMAIL6)
PEERS = tuple(t for t in FETCH_TOOLS if t.package)


# ---------------------------------------------------------------------------------------------
# The destination bench's tools


@dataclass
class DestinationRun(Run):
    """A fetch run (`port` is the POP3 server's) whose mail goes to a destination server."""

    user: str = ""  # the destination's user, whose mailbox is fresh for this run
    to_port: int = 0  # the destination service's TCP port (the proxy's, behind a latency)
    socket: str = ""  # the LMTP server's Unix socket
    ca_file: str = ""  # the certificate of the server's TLS ports
    source: str = ""  # the POP3 mailbox's Maildir on the server: the destination floors read it


@dataclass(frozen=True)
class DestinationTool:
    name: str  # its row
    exe: Callable  # Session -> the program, or None when it is not there
    command: Callable[[DestinationRun], list]  # writes its config into run.dir, returns argv
    # The Dovecot service the mail goes to: "imap", "imaps", "lmtp" (TCP) or "lmtp-socket";
    # None: a Maildir in the run's directory.
    to: Optional[str] = None
    package: Optional[str] = None
    version: tuple = ("--version",)
    strict: bool = False  # a run that did not deliver the corpus unchanged fails the bench
    slow: bool = False  # --slow-runs instead of --runs
    rtt: bool = True  # measured through the latency proxy too
    slow_rtt: bool = False  # through the proxy: --slow-rtt-runs instead of --runs

    @property
    def traced(self):
        """Whether the server puts trace fields in front of each message it stores."""
        return self.to is not None and self.to.startswith("lmtp")


POPGET_IMAP_DESTINATION = """[destinations.bench]
imap = "{scheme}://{user}@127.0.0.1:{port}/INBOX"
password = "{password}"
{security}
"""


def popget_imap(scheme, security):
    """popget fetch into the run's user's INBOX on the server's IMAP port; `security` is the
    destination's TLS line ({ca_file} is the server's certificate)."""
    def command(r):
        config = private_file(r.dir + "/config.toml", POPGET_IMAP_DESTINATION.format(
            scheme=scheme, user=r.user, port=r.to_port, password=PASSWORD,
            security=security.format(ca_file=r.ca_file)))
        return (popget_connection(r.exe, "fetch", r.port)
                + ["--config", config, "--deliver-to", "bench",
                   "--state", r.dir + "/popget.state", "--all"])
    return command


def popget_lmtp(address):
    """popget fetch over LMTP to the run's user; `address` makes --lmtp's value from the run."""
    return lambda r: (popget_connection(r.exe, "fetch", r.port)
                      + ["--lmtp", address(r), "--recipient", r.user,
                         "--state", r.dir + "/popget.state", "--all"])


# RCPT TO is smtpname as it is: without it fetchmail adds its host name as the domain, and
# Dovecot knows the user without one only.
FETCHMAIL_LMTP = 'smtpname "{user}" lmtp smtphost "127.0.0.1/{port}"'
GETMAIL_LMTP = "type = MDA_lmtp\nhost = 127.0.0.1\nport = {port}\noverride = {user}\n"


def tcp(r):
    return "127.0.0.1:%d" % r.to_port


def floor_append(batch):
    return lambda r: floor_command(r, "append", r.to_port, r.user, r.source, r.timeout, batch)


DESTINATION_ROWS = (
    # The destination server alone: the corpus from the POP3 mailbox's files straight into it.
    DestinationTool("floor-imap", exe=lambda session: sys.executable, strict=True, to="imap",
                    command=floor_append(1)),
    DestinationTool("floor-imap-multiappend", exe=lambda session: sys.executable, strict=True,
                    to="imap", command=floor_append(64)),
    DestinationTool("floor-lmtp", exe=lambda session: sys.executable, strict=True, to="lmtp",
                    slow_rtt=True,
                    command=lambda r: floor_command(r, "lmtp", r.to_port, r.user, r.source,
                                                   r.timeout)),
    DestinationTool("popget-maildir", exe=lambda session: session.popget, strict=True,
                    command=popget_fetch),
    DestinationTool("popget-imap", exe=lambda session: session.popget, strict=True, to="imap",
                    command=popget_imap("imap", 'tls = "none"')),
    DestinationTool("popget-imaps", exe=lambda session: session.popget, strict=True,
                    to="imaps", rtt=False,
                    command=popget_imap("imaps", 'ca_file = "{ca_file}"')),
    DestinationTool("popget-lmtp", exe=lambda session: session.popget, strict=True, to="lmtp",
                    command=popget_lmtp(tcp)),
    DestinationTool("popget-lmtp-unix", exe=lambda session: session.popget, strict=True,
                    to="lmtp-socket", rtt=False,
                    command=popget_lmtp(lambda r: "unix:" + r.socket)),
    DestinationTool("fetchmail-lmtp", exe=on_path("fetchmail"), to="lmtp", package="fetchmail",
                    version=("-V",), slow=True, slow_rtt=True,
                    command=lambda r: fetchmail_with(r, FETCHMAIL_LMTP.format(
                        user=r.user, port=r.to_port))),
    DestinationTool("getmail6-lmtp", exe=on_path("getmail"), to="lmtp", package="getmail6",
                    slow=True, slow_rtt=True,
                    command=lambda r: getmail6_with(r, GETMAIL_LMTP.format(
                        port=r.to_port, user=r.user))),
)


def with_baseline(rows):
    """Each popget row followed by the same row with the --baseline binary (an earlier commit),
    named before-...; measured only with --baseline."""
    for row in rows:
        yield row
        if row.name.startswith("popget-"):
            yield dataclasses.replace(row, name=row.name.replace("popget-", "before-", 1),
                                      exe=lambda session: session.baseline)


DESTINATION_TOOLS = tuple(with_baseline(DESTINATION_ROWS))


# ---------------------------------------------------------------------------------------------
# The daemon bench's tools


@dataclass
class DaemonRun:
    """What a daemon's config and command lines are made from."""

    root: str  # the tool's own directory for this network
    port: int
    users: list
    exe: str
    config: str = ""  # the config file, once written


NOTIFY = "notify"  # the daemon reports each cycle's end as STATUS=cycle N: on NOTIFY_SOCKET


@dataclass(frozen=True)
class DaemonTool:
    name: str
    exe: Callable  # Session -> the program, or None when it is not there
    config: Optional[Callable[[DaemonRun], str]] = None  # writes it for all accounts
    prime: Optional[Callable[[DaemonRun], list]] = None  # unmeasured: records all as seen
    daemon: Optional[Callable[[DaemonRun], list]] = None
    env: Callable[[DaemonRun], dict] = field(default=lambda r: {})
    cycle_end: str = NOTIFY  # NOTIFY, or a log line that ends each cycle (counted)
    cycle_timeout: Optional[int] = None  # seconds per cycle; None: --timeout
    # An in-process client instead of a program: one poll of one account, run by `jobs`
    # threads taking the accounts from one queue.
    poll: Optional[Callable] = None
    jobs: int = 0


POPGET_DAEMON_CONFIG = """[defaults]
host = "127.0.0.1"
port = {port}
{tls}auth = "user"
password = "{password}"
interval = "1h"
{extra}"""


def popget_daemon(name, extra=""):
    def config(r):
        path = r.root + "/config.toml"
        tls = "" if "tls =" in extra else 'tls = "none"\n'
        text = POPGET_DAEMON_CONFIG.format(port=r.port, tls=tls, password=PASSWORD, extra=extra)
        text += "".join('[accounts.%s]\nuser = "%s"\nmaildir = "%s/mail/%s"\n'
                        % (u, u, r.root, u) for u in r.users)
        return private_file(path, text)

    return DaemonTool(
        name, exe=lambda session: session.popget, config=config,
        prime=lambda r: [r.exe, "--config", r.config, "fetch", "-q"],
        daemon=lambda r: [r.exe, "--config", r.config, "daemon"],
        env=lambda r: {"HOME": r.root, "XDG_STATE_HOME": r.root + "/state",
                       "XDG_CONFIG_HOME": r.root})


def fetchmail_daemon_config(r):
    return private_file(r.root + "/fetchmailrc", "set idfile %s/fetchids\nset no bouncemail\n"
                        % r.root + "".join(
                            "poll 127.0.0.1 port %d proto pop3 uidl user %s password \"%s\" "
                            "sslproto '' keep mda \"cat >/dev/null\"\n" % (r.port, u, PASSWORD)
                            for u in r.users))


DAEMON_TOOLS = (
    popget_daemon("popget daemon"),
    # USER and PASS pipelined (the default with a server announcing PIPELINING) meet
    # Dovecot's Nagle and the client's delayed ACK: shown beside pipelining off.
    popget_daemon("popget daemon, pipelining off", 'pipelining = "off"\n'),
    # TLS, popget's default: insecure only because the bench's certificate is self-signed;
    # the connector still loads the system's trusted roots.
    popget_daemon("popget daemon, STARTTLS", 'tls = "starttls"\ninsecure = true\n'),
    # popget daemon's default --jobs
    DaemonTool("minimal client, 8 threads", exe=lambda session: "", jobs=8,
               poll=lambda port, user, timeout: floor.login_poll(port, user, PASSWORD,
                                                                 timeout)),
    DaemonTool(
        "fetchmail -d", exe=on_path("fetchmail"), config=fetchmail_daemon_config,
        prime=lambda r: [r.exe, "-f", r.config, "--pidfile", r.root + "/pid"],
        daemon=lambda r: [r.exe, "-f", r.config, "--pidfile", r.root + "/pid",
                          "-d", "3600", "-N", "-v"],
        env=lambda r: {"HOME": r.root, "FETCHMAILHOME": r.root},
        # A cycle of 200 accounts at 50 ms RTT takes fetchmail about a minute.
        cycle_end="sleeping at", cycle_timeout=600),
)
