"""The floor clients: the least a POP3 client can do, to compare the real tools with.

Standard library and sockets only, so that the fetch floor starts as a small process of its own:
`python3 -I -S floor.py PORT OUT TIMEOUT`, with the password in POPGET_PASSWORD.
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


if __name__ == "__main__":
    # floor.py PORT OUT TIMEOUT: the fetch floor as its own measured process.
    fetch_all("127.0.0.1", int(sys.argv[1]), "bench", os.environ["POPGET_PASSWORD"].encode(),
              sys.argv[2], float(sys.argv[3]))
