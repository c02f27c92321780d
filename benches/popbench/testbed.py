"""The private Dovecot the benches measure against, started by `popget-testbed dovecot`
(crates/testbed), the same code that starts the integration tests' Dovecot."""

import os
import shutil
import subprocess
import time

from .run import first_line, log

USER = "bench"
PASSWORD = "bench-password-0123"


class Dovecot:
    """Dovecot on 127.0.0.1 serving `users` (all with PASSWORD) from Maildirs under `root`.
    Stops when stop() closes the testbed's standard input (or when this process dies)."""

    def __init__(self, testbed, root, users, reuse_processes=False, destinations=False):
        argv = [testbed, "dovecot", "--dir", root, "--mechanisms", "plain login"]
        for user in users:
            argv += ["--user", "%s:%s" % (user, PASSWORD)]
        if reuse_processes:
            argv.append("--reuse-processes")
        if destinations:  # IMAP and LMTP too, delivering into the same users' Maildirs
            argv.append("--destinations")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.maildirs = {}
        info = {}
        for line in self.proc.stdout:
            key, _, value = line.decode().rstrip("\n").partition(" ")
            if key == "ready":
                break
            if key == "maildir":
                user, _, path = value.partition(" ")
                self.maildirs[user] = path
            else:
                info[key] = value
        else:
            self.proc.wait()
            raise SystemExit("bench: popget-testbed did not start Dovecot (exit status %s)"
                             % self.proc.returncode)
        self.port = int(info["pop3_port"])
        self.pid = int(info["pid"])
        self.root, self.log = info["root"], info["log"]
        self.uid, self.gid = (int(x) for x in info["mail_owner"].split())
        self.certificate = info["certificate"]
        self.imap_port = int(info.get("imap_port", 0))
        self.imaps_port = int(info.get("imaps_port", 0))
        self.lmtp_port = int(info.get("lmtp_port", 0))
        self.lmtp_socket = info.get("lmtp_socket")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def version(self):
        return first_line(["/usr/sbin/dovecot", "--version"])

    # -- mail put straight into the server's Maildirs --------------------------------------
    def deliver(self, user, name, data):
        """Writes one message file into the user's Maildir/new, owned by the mail user."""
        path = os.path.join(self.maildirs[user], "new", name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chown(path, self.uid, self.gid)

    def messages(self, user):
        maildir = self.maildirs[user]
        return sum(len(os.listdir(os.path.join(maildir, sub))) for sub in ("new", "cur"))

    def stored(self, user):
        """The paths of the messages the user's Maildir holds (new/ and cur/)."""
        maildir = self.maildirs[user]
        return [os.path.join(maildir, sub, name) for sub in ("new", "cur")
                for name in os.listdir(os.path.join(maildir, sub))]

    # -- Dovecot's processes ------------------------------------------------------------------
    def _services(self):
        """(pid, command name, /proc/PID/stat fields after the name) of the master's children."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[1]) == self.pid:
                yield int(entry), st[st.index("(") + 1:st.rindex(")")], fields

    def wait_for_pop3_processes(self, limit=30.0):
        """Waits until no pop3 process of this Dovecot is left: a client's QUIT is answered
        once the deletions are done, but the process may still be closing its index files."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not any(comm == "pop3" for _, comm, _ in self._services()):
                return
            time.sleep(0.05)
        log("NOTE: a Dovecot pop3 process was still running after %gs" % limit)

    def cpu_s(self):
        """CPU seconds of the Dovecot master and its services, with the reaped ones'."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        for _, _, fields in self._services():
            total += sum(int(x) for x in fields[11:15])
        return total / ticks


def clone_maildir(src, dst):
    """Copies a Dovecot Maildir: message files (immutable; Dovecot only renames or unlinks
    them) as hard links, everything else (index, cache, uidlist, which Dovecot changes in
    place) as real copies; owner, mode and times kept (directory times last, so that
    Dovecot sees cur/ and new/ exactly as they were)."""
    made = []
    for dirpath, dirs, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = os.path.normpath(os.path.join(dst, rel))
        os.makedirs(target, exist_ok=True)
        made.append((dirpath, target))
        st = os.stat(dirpath)
        os.chown(target, st.st_uid, st.st_gid)
        message_dir = os.path.basename(dirpath) in ("cur", "new", "tmp")
        for x in files:
            s, t = os.path.join(dirpath, x), os.path.join(target, x)
            if message_dir:
                os.link(s, t)
            else:
                shutil.copy2(s, t)
                st = os.stat(s)
                os.chown(t, st.st_uid, st.st_gid)
    for s, t in reversed(made):
        shutil.copystat(s, t)


class Snapshot:
    """The server's Maildir of one user as it was when taken, put back after a run that
    deleted on the server (unmeasured: before the sync that starts the next run)."""

    def __init__(self, dovecot, user, where):
        dovecot.wait_for_pop3_processes()
        self.dovecot, self.maildir, self.copy = dovecot, dovecot.maildirs[user], where
        self.user = user
        clone_maildir(self.maildir, self.copy)
        self.count = dovecot.messages(user)

    def restore(self):
        self.dovecot.wait_for_pop3_processes()
        shutil.rmtree(self.maildir)
        clone_maildir(self.copy, self.maildir)
        if self.dovecot.messages(self.user) != self.count:
            raise SystemExit("bench: restoring the server's Maildir failed")
