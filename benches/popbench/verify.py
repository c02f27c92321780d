"""Checks of what a tool delivered: every message present, each compared byte for byte with the
corpus it came from (matched by its X-Bench-Seq header)."""

import os
import re

SEQ_RE = re.compile(rb"^X-Bench-Seq: (\d+)$", re.M)


def check_maildir(d, corpus, full):
    """Counts files in d/new; with full, compares each byte for byte with its corpus message.
    Returns (count, identical or None, note)."""
    new = os.path.join(d, "new")
    names = os.listdir(new) if os.path.isdir(new) else []
    if not full:
        return len(names), None, ""
    msgs = []
    for nm in names:
        with open(os.path.join(new, nm), "rb") as f:
            msgs.append(f.read())
    ident, note = compare_messages(msgs, corpus)
    return len(names), ident, note


def split_mbox(data):
    """Splits an mboxrd file into its messages: a line starting with "From " (at the start or
    after a blank line) begins one, ">From "-quoted lines lose one ">", and the blank line that
    ends each message is removed. Returns the list of message bytes."""
    msgs, cur = [], None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    prev_blank = True
    for ln in lines:
        if ln.startswith(b"From ") and prev_blank:
            if cur is not None:
                msgs.append(cur)
            cur = []
        elif cur is not None:
            if MBOXRD_QUOTED.match(ln):
                ln = ln[1:]
            cur.append(ln)
        prev_blank = ln == b""
    if cur is not None:
        msgs.append(cur)
    out = []
    for m in msgs:
        if m and m[-1] == b"":
            m = m[:-1]  # the blank line before the next From_ line (or at the end)
        out.append(b"\n".join(m) + b"\n")
    return out


MBOXRD_QUOTED = re.compile(rb"^>+From ")


def compare_messages(messages, corpus):
    """Matches messages to the corpus by X-Bench-Seq and compares them byte for byte.
    Returns (identical or not, note)."""
    got = {}
    differ = dups = unknown = 0
    for data in messages:
        end = data.find(b"\n\n")
        m = SEQ_RE.search(data, 0, end if end >= 0 else len(data))
        if not m:
            unknown += 1
            continue
        seq = int(m.group(1))
        if seq in got:
            dups += 1
        got[seq] = True
        if not (1 <= seq <= len(corpus)) or data != corpus[seq - 1]:
            differ += 1
    missing = len(corpus) - len(got)
    ident = len(corpus) - missing - differ
    note = "%d/%d byte-identical" % (ident, len(corpus))
    for k, v in (("differ", differ), ("missing", missing), ("duplicated", dups),
                 ("unidentified", unknown)):
        if v:
            note += ", %d %s" % (v, k)
    return (ident == len(corpus) and not dups and not unknown), note


def check_mbox(path, corpus, full):
    """Like check_maildir, for an mboxrd file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    msgs = split_mbox(data)
    if not full:
        return len(msgs), None, ""
    ident, note = compare_messages(msgs, corpus)
    return len(msgs), ident, note

