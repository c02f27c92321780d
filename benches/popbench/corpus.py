"""The deterministic corpus of the fetch bench, the small maildrops of the state and daemon
benches, and the byte-for-byte checks of what a tool delivered."""

import base64
import random
import statistics
import time

from .run import log
from .testbed import USER

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no will "
    "mail server message fetch delivery pop3 maildir invoice meeting tomorrow report attached "
    "please find quarterly budget review schedule project update thanks regards best team ok"
).split()


def text_block(rng, nbytes):
    lines, size, cur = [], 0, []
    while size < nbytes:
        w = rng.choice(WORDS)
        cur.append(w)
        if sum(len(x) + 1 for x in cur) > rng.randint(50, 76):
            ln = " ".join(cur)
            lines.append(ln)
            size += len(ln) + 1
            cur = []
            if rng.random() < 0.12:
                lines.append("")
                size += 1
    return ("\n".join(lines) + "\n").encode()


def edge_block(rng, seq, long_line):
    parts = [
        b"Dot lines follow.\n.\n..\n...\n.hidden\n. space\n",
        b"From the very start of a line\n>From quoted once\n>>From quoted twice\nFrom \n",
        b"trailing spaces   \n   \n\t tab line\n",
    ]
    if seq % 40 == 23 or seq == 1:
        raw = bytes(b for b in rng.randbytes(600) if b not in (0, 10, 13))
        parts.append(b"8-bit: caf\xc3\xa9 \xe2\x82\xac latin1 \xe9\xe8 raw " + raw + b"\n")
    if long_line:
        parts.append(b"LONG:" + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789")
                                      for _ in range(64)) * (long_line // 64) + b"\n")
    parts.append(b".\n")  # the last body line is a single dot
    return b"".join(parts)


def make_corpus(n, total_bytes, seed, max_att):
    """Returns a list of message bytes (LF line ends, every message ends with LF)."""
    rng = random.Random(seed)
    n_att = max(1, round(n * 0.14))
    att_seqs = set(rng.sample(range(1, n + 1), n_att))
    text_sizes = {i: int(1024 * 2 ** rng.uniform(0, 3)) for i in range(1, n + 1)}  # 1-8 KiB
    lo = 8192
    raw_att = {i: lo * (max_att / lo) ** rng.random() for i in att_seqs}  # log-uniform
    budget = total_bytes - sum(text_sizes.values()) - 600 * n
    scale = max(0.05, budget / sum(raw_att.values()))
    att = {i: int(min(max_att, max(lo, s * scale))) for i, s in raw_att.items()}
    att[max(att, key=att.get)] = max_att  # at least one at the maximum size
    long_seq = sorted(i for i in range(1, n + 1) if i % 100 == 63)
    msgs = []
    for i in range(1, n + 1):
        r = random.Random(seed * 1000003 + i)
        day = 1 + i % 28
        hdr = (
            "Return-Path: <sender{i}@example.org>\n"
            "Received: from mx{m}.example.org (mx{m}.example.org [192.0.2.{m}])\n"
            "\tby pop.example.net with ESMTPS id b{i:06d}; Mon, {d} Mar 2025 10:{mm:02d}:00 +0000\n"
            "From: Sender {i} <sender{i}@example.org>\n"
            "To: {u}@example.net\n"
            "Subject: Benchmark message {i} of {n}\n"
            "Date: Mon, {d} Mar 2025 10:{mm:02d}:00 +0000\n"
            "Message-ID: <bench-{i}-{s}@example.org>\n"
            "X-Bench-Seq: {i}\n"
            "MIME-Version: 1.0\n"
        ).format(i=i, n=n, m=1 + i % 250, d=day, mm=i % 60, u=USER, s=seed)
        if i == n // 2 + 1:  # headers only, empty body
            msgs.append(hdr.encode() + b"Content-Type: text/plain\n\n")
            continue
        body = text_block(r, text_sizes[i])
        if i % 20 == 3 or i == 1:
            ll = 0
            if i in long_seq:
                ll = 65536 * (1 + long_seq.index(i) % 4)
            if i == 1:
                ll = min(1 << 19, total_bytes // 20)  # one very long line (512 KiB)
            body += edge_block(r, i, ll)
        if i in att:
            b = "bnd-%d-%d" % (seed, i)
            raw = r.randbytes(att[i] * 3 // 4)
            msg = (hdr + 'Content-Type: multipart/mixed; boundary="%s"\n\n' % b).encode()
            msg += b"--%s\nContent-Type: text/plain; charset=us-ascii\n\n" % b.encode() + body
            msg += (b"--%s\nContent-Type: application/octet-stream; name=\"file%d.bin\"\n"
                    b"Content-Transfer-Encoding: base64\n\n" % (b.encode(), i))
            msg += base64.encodebytes(raw) + b"--%s--\n" % b.encode()
        else:
            msg = hdr.encode() + b"Content-Type: text/plain; charset=utf-8\n\n" + body
        msgs.append(msg)
    return msgs




def fill_maildrop(dovecot, a):
    """Writes the corpus the options ask for into the bench user's Maildir/new on the server;
    returns (the corpus, its workload line)."""
    t = time.time()
    corpus = make_corpus(a.messages, int(a.total_mb * 1e6), a.seed, a.max_attachment)
    for i, m in enumerate(corpus, 1):
        dovecot.deliver(USER, corpus_file_name(i), m)
    workload = describe(corpus, a.seed)
    log("corpus: %s (%.1fs)" % (workload, time.time() - t))
    return corpus, workload


def describe(corpus, seed):
    """The workload line of the report."""
    total = sum(len(m) for m in corpus)
    sizes = sorted(len(m) for m in corpus)
    longest = [max(len(x) for x in m.split(b"\n")) for m in corpus]
    return ("%d messages, %.1f MB (%d bytes), seed %d; sizes: median %.1f KiB, "
            "largest %.2f MB, %d with base64 attachments; %d with dot and From "
            "lines, %d with 8-bit bytes, %d with lines over 64 KiB (longest %d "
            "bytes)" % (len(sizes), total / 1e6, total, seed, statistics.median(sizes) / 1024,
                        sizes[-1] / 1e6, sum(1 for m in corpus if b"multipart/mixed" in m),
                        sum(1 for m in corpus if b"\n..\n" in m),
                        sum(1 for m in corpus if b"8-bit: " in m),
                        sum(1 for x in longest if x > 65536), max(longest)))


def corpus_file_name(i):
    return "%d.M%d.bench" % (1700000000 + i, i)


def state_message(i):
    """The state bench's small message i, and a file name carrying its size and CRLF size
    (,S= and ,W=), so that Dovecot answers LIST without reading 100,000 files."""
    m = ("From: Sender %d <s%d@example.org>\nTo: %s@example.net\nSubject: state bench %d\n"
         "Message-ID: <state-%d@example.org>\nX-Bench-Seq: %d\n\nmessage %d\n"
         % (i, i, USER, i, i, i, i)).encode()
    return "%d.M%dP1.bench,S=%d,W=%d" % (1700000000 + i, i, len(m), len(m) + m.count(b"\n")), m


def daemon_messages(user):
    """The two small messages each daemon-bench account holds: (file name, bytes)."""
    return [("%d.M%d.%s" % (1700000000 + k, k, user),
             b"Subject: %d for %s\n\nhello\n" % (k, user.encode())) for k in (1, 2)]
