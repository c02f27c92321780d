"""A latency-adding TCP proxy on loopback, to measure the tools behind a slow network."""

import queue
import socket
import threading
import time


class DelayProxy:
    """Listens on 127.0.0.1, forwards to 127.0.0.1:target. Each direction has a reader thread
    that timestamps chunks and a writer thread that sends each chunk `delay` seconds after it was
    read (in order), optionally at most `bw` bytes/s; the two directions are independent."""

    def __init__(self, target_port, delay, bw=None):
        self.target_port, self.delay, self.bw = target_port, delay, bw
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            for x in (c, u):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [c, u]
            done = [0]
            lock = threading.Lock()

            def finished(c=c, u=u, done=done, lock=lock):
                with lock:
                    done[0] += 1
                    if done[0] == 2:
                        for x in (c, u):
                            try:
                                x.close()
                            except OSError:
                                pass

            self._pipe(c, u, finished)
            self._pipe(u, c, finished)

    def _pipe(self, src, dst, finished):
        q = queue.SimpleQueue()

        def reader():
            while True:
                try:
                    d = src.recv(1 << 18)
                except OSError:
                    d = b""
                q.put((time.monotonic() + self.delay, d))
                if not d:
                    return

        def writer():
            free_at = 0.0
            ok = True
            while True:
                due, d = q.get()
                if self.bw and d:
                    free_at = max(free_at, due) + len(d) / self.bw
                    due = free_at
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not d:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    break
                if ok:
                    try:
                        dst.sendall(d)
                    except OSError:
                        ok = False  # keep draining until the reader sees EOF
            finished()

        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

    def close(self):
        self.closed = True
        for x in [self.ls] + self.socks:
            try:
                x.close()
            except OSError:
                pass
