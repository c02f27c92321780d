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


def check_stored(paths, corpus, traced):
    """Like check_maildir, for the message files a server stored (every one compared); with
    `traced`, each may start with the trace fields an LMTP server adds."""
    msgs = []
    for path in paths:
        with open(path, "rb") as f:
            msgs.append(f.read())
    ident, note = compare_messages(msgs, corpus, traced)
    return len(msgs), ident, note


# What an LMTP server puts in front of a message it stores: Return-Path, Delivered-To and
# Received fields, continuation lines included (Dovecot's lmtp adds all three).
TRACE_LINE = re.compile(rb"(?:Return-Path|Delivered-To|Received):|[ \t]")


def same_after_trace(data, original):
    """Whether data is original with nothing in front but trace fields."""
    if not data.endswith(original):
        return False
    prefix = data[:len(data) - len(original)]
    return prefix == b"" or (prefix.endswith(b"\n") and all(
        TRACE_LINE.match(line) for line in prefix[:-1].split(b"\n")))


def compare_messages(messages, corpus, traced=False):
    """Matches messages to the corpus by X-Bench-Seq and compares them byte for byte (with
    `traced`, after the trace fields an LMTP server adds). Returns (identical or not, note)."""
    got = {}
    differ = dups = unknown = moved = 0
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
        original = corpus[seq - 1] if 1 <= seq <= len(corpus) else None
        if original is None:
            differ += 1
        elif data == original or traced and same_after_trace(data, original):
            pass
        elif traced and original.startswith(b"Return-Path:") and same_after_trace(
                data, original[original.index(b"\n") + 1:]):
            moved += 1  # the client made its Return-Path the envelope's sender
        else:
            differ += 1
    missing = len(corpus) - len(got)
    ident = len(corpus) - missing - differ - moved
    note = "%d/%d byte-identical" % (ident, len(corpus))
    for k, v in (("identical but for their Return-Path, taken out", moved), ("differ", differ),
                 ("missing", missing), ("duplicated", dups), ("unidentified", unknown)):
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

