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
# Where cargo puts the release build (CARGO_TARGET_DIR when it is set, as cargo reads it).
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"),
                       "release")


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
        self.proxies = []
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
        if not self.a.popget:
            # The binary measured is a copy: a build in a shared target directory during the
            # bench would otherwise change it between runs.
            os.makedirs(os.path.join(self.work, "bin"))
            self.popget = shutil.copy2(self.popget, os.path.join(self.work, "bin", "popget"))
        self.baseline = os.path.abspath(self.a.baseline) if self.a.baseline else None
        if self.baseline and not os.access(self.baseline, os.X_OK):
            raise SystemExit("no %s" % self.baseline)

    def start_dovecot(self, users, reuse_processes=False, destinations=False):
        self.dovecot = Dovecot(self.testbed, os.path.join(self.work, "dovecot"), users,
                               reuse_processes, destinations)
        log("dovecot %s on 127.0.0.1:%d, work dir %s" % (self.dovecot.version(),
                                                          self.dovecot.port, self.work))
        return self.dovecot

    def start_proxy(self, bw=None, port=None):
        """A latency proxy in front of one of Dovecot's ports (POP3 unless `port` is given):
        --rtt-ms, half of it each way."""
        proxy = DelayProxy(port or self.dovecot.port, self.a.rtt_ms / 2000.0, bw)
        self.proxies.append(proxy)
        return proxy

    def check_space(self, path, runs, run_bytes):
        """Every run's output stays until the bench ends (see fetch.KEEP_OUTPUTS_NOTE): makes
        sure the filesystem of `path` can hold `runs` outputs of `run_bytes` each."""
        need = int(runs * run_bytes * 1.1) + (1 << 30)
        free = shutil.disk_usage(path).free
        if free < need:
            raise SystemExit("bench: %s has %.1f GB free; the %d runs keep %.1f GB of output "
                             "until the end; pass --out-dir, fewer --runs or --modes"
                             % (path, free / 1e9, runs, need / 1e9))

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
        for proxy in self.proxies:
            proxy.close()
        if self.dovecot:
            self.dovecot.stop()
        if self.a.keep_work:
            log("work dir kept: %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
            shutil.rmtree(self.out, ignore_errors=True)
