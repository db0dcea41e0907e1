#!/usr/bin/env python3
"""An upstream's event stream as clients of every kind read it, end to end.

Warden passes an event on byte for byte only when every SSE reader reads it
as warden did, and writes any other event anew from what it read (see
on_sse_block in src/exchange.c). A raw-socket upstream answers each POST
with a scripted event stream; the client decodes warden's chunked answer and
reads it three ways: as the HTML standard says (LF, CRLF and CR line ends, a
BOM at the start), as a lenient reader that splits lines on LF only and
trims and folds field names (and stops a name at NUL, as C does), and as one
that splits on CRLF or LF. All three must read the same messages, none may
read a message warden did not pass, and the request's answer must arrive.
Verbatim events go out as they came, a read's events in one chunk.

Usage: sse_framing.py WARDEN_BIN   (prints "N passed, N failed")
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SSE_HEAD, RawUpstream, Tally, chunk, config_file, exchange, free_port, post,  # noqa: E402
                     running_warden, tool_result)


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def answer(rid, text):
    return js(tool_result(rid, text))


def note(i):
    return js({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": i}})


def script(method, rid):
    """The pieces of the event stream (each written apart, the last ones after a pause) for a method."""
    evil = answer(rid, "evil")
    good = answer(rid, "good")
    if method == "endpoint_then_plain":
        # The endpoint event's type must not stick to the next event (it crashed warden once).
        return [b"event: endpoint\ndata: /message?sessionId=1\n\n" + b"data: " + good + b"\n\n"]
    if method == "folded_field":
        return [b"Data: " + evil + b"\n\n" + b"data: " + good + b"\n\n"]
    if method == "empty_data_then_folded":
        return [b"data:\nDATA: " + evil + b"\n\n" + b"data: " + good + b"\n\n"]
    if method == "spaced_field":
        return [b" data: " + evil + b"\n\ndata : " + evil + b"\n\n" + b"data: " + good + b"\n\n"]
    if method == "nul_field":
        return [b"data\0x: " + evil + b"\n\n" + b"data: " + good + b"\n\n"]
    if method == "lone_cr":
        return [b"data: " + note(1) + b"\r\rdata: " + good + b"\r\r"]
    if method == "mixed_ends":
        return [b"data: " + note(1) + b"\n\r\n" + b"id: 7\r\ndata: " + good + b"\n\n"]
    if method == "bom":
        return [b"\xef\xbb\xbf" + b"data: " + good + b"\n\n"]
    if method == "split_crlf":
        # The blank line's CR ends one read, its LF starts the next.
        return [b"data: " + note(1) + b"\r\n\r", b"\ndata: " + good + b"\r\n\r\n"]
    if method == "crlf":
        return [b"".join(b"data: " + note(i) + b"\r\n\r\n" for i in range(3)) + b"id: 9\r\nevent: message\r\ndata: " + good + b"\r\n\r\n"]
    if method == "many":
        events = [b"data: " + note(i) + b"\n\n" for i in range(999)] + [b"data: " + good + b"\n\n"]
        return [b"".join(events[i:i + 50]) for i in range(0, len(events), 50)]
    raise ValueError(method)


def respond(conn, lines, body):
    """Answers a POST with script(method, id), one chunk per piece."""
    msg = json.loads(body)
    pieces = script(msg["method"], msg["id"])
    conn.sendall(SSE_HEAD)
    for i, piece in enumerate(pieces):
        if i:
            time.sleep(0.05)
        conn.sendall(chunk(piece))
    conn.sendall(b"0\r\n\r\n")
    return True


def request(port, method, rid):
    """(the decoded body, its number of chunks) of warden's answer to a POST of method."""
    data = exchange(port, post(js({"jsonrpc": "2.0", "id": rid, "method": method}), path="/mcp/up"), timeout=10)
    head, rest = data.split(b"\r\n\r\n", 1)
    if b"transfer-encoding: chunked" not in head.lower():
        raise ValueError("not chunked: %r" % head)
    out, chunks = b"", 0
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2:]
        chunks += 1
    return out, chunks


def spec_reader(stream):
    """The data of each dispatched event, as the HTML standard reads a stream."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    out, data, has = [], [], False
    for line in re.split(r"\r\n|\r|\n", text)[:-1]:
        if line == "":
            if has and "\n".join(data) != "":
                out.append("\n".join(data))
            data, has = [], False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
            has = True
    return out


def lenient_reader(stream, splitter):
    """A careless reader: lines split by splitter, a trailing CR dropped, field
    names cut at NUL, trimmed and folded, every leading space of a value dropped."""
    text = stream.decode("utf-8", "replace")
    out, data = [], []
    for line in re.split(splitter, text)[:-1]:
        line = line.rstrip("\r")
        if line.strip() == "":
            if data:
                out.append("\n".join(data))
            data = []
            continue
        name, _, value = line.partition(":")
        if name.split("\0")[0].strip().lower() == "data":
            data.append(value.lstrip())
    return out


def messages(datas):
    out = []
    for d in datas:
        try:
            out.append(json.loads(d))
        except ValueError:
            out.append(("unreadable", d))
    return out


def main():
    warden_bin = sys.argv[1]
    up = RawUpstream(respond)
    port = free_port()
    cfg = {"listen": "127.0.0.1:%d" % port, "workers": 1,
           "servers": {"up": {"url": "http://127.0.0.1:%d/mcp" % up.port}}}
    tally = Tally()
    check = tally.check
    with config_file(cfg) as cfg_path, running_warden(warden_bin, ["--config", cfg_path], port, tally) as proc:
        cases = ["endpoint_then_plain", "folded_field", "empty_data_then_folded", "spaced_field", "nul_field",
                 "lone_cr", "mixed_ends", "bom", "split_crlf", "crlf", "many"]
        for rid, method in enumerate(cases, 1):
            try:
                stream, chunks = request(port, method, rid)
            except (OSError, ValueError) as e:
                check(method, False, "no answer: %s" % e)
                continue
            readers = {"spec": spec_reader(stream), "lf": lenient_reader(stream, r"\n"),
                       "crlf": lenient_reader(stream, r"\r?\n")}
            read = {k: messages(v) for k, v in readers.items()}
            check(method + ": every reader reads the same messages", read["spec"] == read["lf"] == read["crlf"],
                  json.dumps(read)[:600])
            last = read["spec"][-1] if read["spec"] else None
            check(method + ": the answer arrives, and nothing warden did not pass",
                  isinstance(last, dict) and last.get("id") == rid and last["result"]["content"][0]["text"] == "good"
                  and b"evil" not in stream, stream[-400:])
            if method == "bom":
                check("bom: not forwarded", not stream.startswith(b"\xef\xbb\xbf"), stream[:40])
            if method in ("crlf", "many"):
                want = b"".join(script(method, rid))
                check(method + ": forwarded byte for byte", stream == want, (stream[:200], want[:200]))
            if method == "many":
                check("many: a read's events leave as one chunk, not one chunk each", chunks < 200, chunks)
        check("warden still runs", proc.poll() is None)
    return tally.summary()


if __name__ == "__main__":
    sys.exit(main())
