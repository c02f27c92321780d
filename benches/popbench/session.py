"""What the benches share: the options, the work and output directories, the binaries under
test, the private Dovecot, the latency proxy, and the cleanup that ends them all."""

import os
import shutil
import signal
import subprocess
import tempfile

from . import run
from .proxy import DelayProxy
from .run import log
from .testbed import PASSWORD, Dovecot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")


class Session:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="popget-bench.")
        os.chmod(self.work, 0o755)
        self.out = tempfile.mkdtemp(prefix="popget-bench-out.", dir=a.out_dir) if a.out_dir \
            else os.path.join(self.work, "out")
        os.makedirs(self.out, exist_ok=True)
        os.chmod(self.out, 0o755)
        self.dovecot = None
        self.proxy = None
        self.results = []  # one dict per measured run
        self.failures = []  # floor or popget: the bench fails
        self.notes = []

    def cargo_build(self, packages):
        log("building %s (cargo build --release --quiet)" % " and ".join(packages))
        r = subprocess.run(["cargo", "build", "--release", "--quiet"]
                           + [x for p in packages for x in ("-p", p)], cwd=ROOT, timeout=1200)
        if r.returncode != 0:
            raise SystemExit("bench: the build failed; fix it, or pass --no-build or "
                             "--popget PATH to measure an existing binary")

    def build(self):
        """popget (unless --no-build or --popget), and the testbed that starts Dovecot."""
        self.testbed = os.path.join(RELEASE, "popget-testbed")
        if self.a.popget:
            self.popget = os.path.abspath(self.a.popget)
        else:
            if not self.a.no_build:
                self.cargo_build(["popget", "popget-testbed"])
            self.popget = os.path.join(RELEASE, "popget")
        if not os.access(self.testbed, os.X_OK):
            self.cargo_build(["popget-testbed"])
        if not os.access(self.popget, os.X_OK):
            raise SystemExit("no %s" % self.popget)
        self.baseline = os.path.abspath(self.a.baseline) if self.a.baseline else None
        if self.baseline and not os.access(self.baseline, os.X_OK):
            raise SystemExit("no %s" % self.baseline)

    def start_dovecot(self, users, reuse_processes=False):
        self.dovecot = Dovecot(self.testbed, os.path.join(self.work, "dovecot"), users,
                               reuse_processes)
        log("dovecot %s on 127.0.0.1:%d, work dir %s" % (self.dovecot.version(),
                                                          self.dovecot.port, self.work))
        return self.dovecot

    def start_proxy(self, bw=None):
        """The latency proxy in front of Dovecot: --rtt-ms, half of it each way."""
        self.proxy = DelayProxy(self.dovecot.port, self.a.rtt_ms / 2000.0, bw)
        return self.proxy

    def env(self, home):
        """A measured run's whole environment: its own HOME, nothing of the user's."""
        os.makedirs(home, mode=0o700, exist_ok=True)
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": home, "XDG_CONFIG_HOME": home + "/.config",
                "XDG_STATE_HOME": home + "/.state", "LC_ALL": "C", "TMPDIR": home,
                "POPGET_PASSWORD": PASSWORD}

    def cleanup(self):
        for pg in list(run.children):
            try:
                os.killpg(pg, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proxy:
            self.proxy.close()
        if self.dovecot:
            self.dovecot.stop()
        if self.a.keep_work:
            log("work dir kept: %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
            shutil.rmtree(self.out, ignore_errors=True)
