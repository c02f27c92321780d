"""The floor clients: the least a POP3 client can do, and the least a client delivering into an
IMAP or LMTP server can do, to compare the real tools with.

Standard library and sockets only, so that a floor starts as a small process of its own, the
password in POPGET_PASSWORD: `python3 -I -S floor.py fetch PORT OUT TIMEOUT` (the fetch floor),
`floor.py append PORT USER MAILDIR TIMEOUT BATCH` and `floor.py lmtp PORT USER MAILDIR TIMEOUT`
(the destination floors: the messages of MAILDIR straight into the server, no POP3).
"""

import os
import socket
import sys
import threading


def fetch_all(host, port, user, password, out_path, timeout):
    """Logs in with USER/PASS, sends RETR 1..N at once from a second thread and writes the raw
    responses to one file, with no parsing and no fsync."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()

    def line():
        while b"\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise SystemExit("floor: connection closed")
            buf.extend(d)
        i = buf.index(b"\r\n")
        ln = bytes(buf[:i])
        del buf[: i + 2]
        if not ln.startswith(b"+OK"):
            raise SystemExit("floor: server said %r" % ln[:200])
        return ln

    line()
    s.sendall(b"USER " + user.encode() + b"\r\n")
    line()
    s.sendall(b"PASS " + password + b"\r\n")
    line()
    s.sendall(b"STAT\r\n")
    n = int(line().split()[1])
    assert not buf
    cmds = b"".join(b"RETR %d\r\n" % i for i in range(1, n + 1))
    err = []

    def writer():
        try:
            s.sendall(cmds)
        except OSError as e:
            err.append(e)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    seen, tail, total = 0, b"", 0
    with open(out_path, "wb") as out:
        while seen < n:
            d = s.recv(1 << 20)
            if not d:
                raise SystemExit("floor: connection closed after %d of %d messages" % (seen, n))
            out.write(d)
            total += len(d)
            # "\r\n.\r\n" only ever ends a multi-line response (dot-stuffing), and a -ERR
            # would leave us waiting for the timeout.
            seen += (tail + d).count(b"\r\n.\r\n")
            tail = d[-4:]
    w.join()
    if err:
        raise SystemExit("floor: send failed: %s" % err[0])
    s.sendall(b"QUIT\r\n")
    line()
    s.close()
    print("floor: %d messages, %d bytes on the wire" % (n, total))


def login_poll(port, user, password, timeout):
    """One poll of an account that has nothing new: connect, USER, PASS, UIDL, QUIT and nothing
    else (no state, no files)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")

        def ask(command):
            if command:
                s.sendall(command + b"\r\n")
            answer = f.readline()
            if not answer.startswith(b"+OK"):
                raise SystemExit("floor: %r answered %r" % (command, answer))

        ask(b"")
        ask(b"USER " + user.encode())
        ask(b"PASS " + password.encode())
        ask(b"UIDL")
        while f.readline() not in (b".\r\n", b""):
            pass
        ask(b"QUIT")


def read_maildir(maildir):
    """The messages of a Maildir (new/ and cur/), in CRLF form as they go on the wire."""
    msgs = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                msgs.append(f.read().replace(b"\n", b"\r\n"))
    return msgs


class Replies:
    """The lines a server sends, read from a socket; `fail` on anything but what is expected."""

    def __init__(self, s, what):
        self.f, self.what = s.makefile("rb"), what

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise SystemExit("floor: the %s server closed the connection" % self.what)
        return ln

    def tagged(self, tag):
        """Skips untagged lines up to the answer to `tag`, which must be OK."""
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                if not ln.startswith(tag + b" OK"):
                    raise SystemExit("floor: %r" % ln[:200])
                return

    def reply(self):
        """One SMTP/LMTP reply (its continuation lines too), which must be 2xx."""
        while True:
            ln = self.line()
            if ln[3:4] != b"-":
                if not ln.startswith(b"2"):
                    raise SystemExit("floor: %r" % ln[:200])
                return


def pipelined(s, requests, answer):
    """Sends `requests` from a second thread while `answer(i)` reads the i-th one's answer."""
    err = []

    def writer():
        try:
            for r in requests:
                s.sendall(r)
        except OSError as e:
            err.append(e)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    for i in range(len(requests)):
        answer(i)
    w.join()
    if err:
        raise SystemExit("floor: send failed: %s" % err[0])


def connect(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def append_all(port, user, password, maildir, timeout, batch):
    """Logs in and appends every message to INBOX with LITERAL+ literals: with batch 1 one
    APPEND each, all pipelined; with a larger batch one MULTIAPPEND (RFC 3502) command for each
    `batch` messages, one command at a time."""
    msgs = read_maildir(maildir)
    s = connect(port, timeout)
    r = Replies(s, "IMAP")
    r.line()
    s.sendall(b"L LOGIN %s %s\r\n" % (user.encode(), password))
    r.tagged(b"L")
    if batch == 1:
        pipelined(s, [b"A%d APPEND INBOX {%d+}\r\n" % (i, len(m)) + m + b"\r\n"
                      for i, m in enumerate(msgs)], lambda i: r.tagged(b"A%d" % i))
    else:
        for k in range(0, len(msgs), batch):
            s.sendall(b"M%d APPEND INBOX" % k + b"".join(
                b" {%d+}\r\n" % len(m) + m for m in msgs[k:k + batch]) + b"\r\n")
            r.tagged(b"M%d" % k)
    s.sendall(b"Z LOGOUT\r\n")
    r.tagged(b"Z")
    print("floor: %d messages appended" % len(msgs))


def lmtp_all(port, user, maildir, timeout):
    """Says LHLO and hands every message over one at a time: MAIL, RCPT and BDAT LAST in one
    write, then the three replies (one round trip a message, as popget's guarantee of at most
    one message repeated per interruption allows)."""
    msgs = read_maildir(maildir)
    s = connect(port, timeout)
    r = Replies(s, "LMTP")
    r.reply()
    s.sendall(b"LHLO floor\r\n")
    r.reply()
    for m in msgs:
        s.sendall(b"MAIL FROM:<>\r\nRCPT TO:<%s>\r\nBDAT %d LAST\r\n" % (user.encode(), len(m))
                  + m)
        for _ in range(3):
            r.reply()
    s.sendall(b"QUIT\r\n")
    r.reply()
    print("floor: %d messages delivered" % len(msgs))


if __name__ == "__main__":
    # The floors as measured processes of their own (see the module's comment).
    kind, port, password = sys.argv[1], int(sys.argv[2]), os.environ["POPGET_PASSWORD"].encode()
    if kind == "fetch":
        fetch_all("127.0.0.1", port, "bench", password, sys.argv[3], float(sys.argv[4]))
    elif kind == "append":
        append_all(port, sys.argv[3], password, sys.argv[4], float(sys.argv[5]),
                   int(sys.argv[6]))
    else:
        lmtp_all(port, sys.argv[3], sys.argv[4], float(sys.argv[5]))
