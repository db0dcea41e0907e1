#!/usr/bin/env python3
"""Header fields read one way by warden and another by a peer, end to end.

Raw bytes go to build/warden in front of a raw-socket upstream that records
every request exactly as it arrives (each header line, duplicates included).
Chunked trailers must never reach the upstream as header fields; a repeated
field that warden keys on is refused with 400 and a JSON-RPC error; an
upstream answer with such a repeated field, a folded or otherwise ambiguous
head, never reaches the client (a hidden tool stays hidden).

Usage: http_fields.py WARDEN_BIN   (prints "N passed, N failed")
"""
import gzip
import json
import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RawUpstream, Tally, chunk, exchange, policy_warden, post, request_head, tool_result  # noqa: E402

HIDDEN = b"get_env"   # hidden by policy.json


class RecordingUpstream:
    """Records (head lines, body) of each request; answers by the request's JSON-RPC method."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        self.port = RawUpstream(self.respond).port

    def respond(self, conn, lines, body):
        with self.lock:
            self.received.append(([l.decode("latin-1") for l in lines], body))
        conn.sendall(self.answer(json.loads(body)))
        return True

    @staticmethod
    def answer(msg):
        method, rid = msg.get("method"), msg.get("id")
        tools = {"jsonrpc": "2.0", "id": rid, "result": {"tools": [
            {"name": "echo", "inputSchema": {"type": "object"}},
            {"name": "get_env", "inputSchema": {"type": "object"}}]}}
        ok = tool_result(rid)
        name = (msg.get("params") or {}).get("name", "") if method == "tools/call" else ""
        body = json.dumps(tools if method == "tools/list" else ok).encode()
        mode = name if method == "tools/call" else ((msg.get("params") or {}).get("cursor") or "")
        heads = {
            # what a client reading the last copy takes for JSON, warden for text
            "dup-ct": b"Content-Type: text/plain\r\nContent-Type: application/json\r\n",
            "dup-sid": b"Content-Type: application/json\r\nMcp-Session-Id: a\r\nMcp-Session-Id: b\r\n",
            "fold-ct": b"Content-Type: text/plain\r\n application/json\r\n",
            "space-ct": b"Content-Type : application/json\r\n",
            "list-ct": b"Content-Type: text/plain, application/json\r\n",
            # a prefix reader (the Python SDK) takes these for JSON
            "json-seq": b"Content-Type: application/json-seq\r\n",
            "substr-ct": b"Content-Type: text/plain; x=application/json\r\n",
        }
        if mode == "gzip-sse":
            # a client's fetch decodes this; warden cannot read it
            sse = gzip.compress(b"event: message\ndata: " + body + b"\n\n")
            return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(sse) + sse)
        if mode == "trailer":
            return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"%x\r\n%s\r\n0\r\nX-Injected: 1\r\nMcp-Session-Id: evil\r\n\r\n" % (len(body), body))
        head = heads.get(mode, b"Content-Type: application/json\r\n")
        return b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def answer(port, raw):
    """Sends raw; returns (first status, head, body) of what came back."""
    data = exchange(port, raw)
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    head, _, body = data.partition(b"\r\n\r\n")
    return (int(m.group(1)) if m else None), head, body


def request(body, extra=b"", chunked_trailer=None):
    """A POST of body with extra header lines; chunked with the given trailer lines when asked."""
    if chunked_trailer is None:
        return post(body, extra=extra)
    chunks = b"".join(chunk(body[i:i + 5]) for i in range(0, len(body), 5))
    return request_head() + extra + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n" + chunked_trailer + b"\r\n"


def call(name, rid=1):
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                       "params": {"name": name, "arguments": {}}}).encode()


def tools_list(cursor, rid=1):
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/list", "params": {"cursor": cursor}}).encode()


def main():
    warden = sys.argv[1]
    up = RecordingUpstream()
    tally = Tally()
    check = tally.check
    with policy_warden(warden, up.port, tally) as port:
        # 1. trailers of a chunked request never become header fields upstream
        trailer = b"X-Injected: 1\r\nMcp-Method: tools/call\r\nMcp-Name: get_env\r\nAuthorization: Bearer stolen\r\n"
        status, _, body = answer(port, request(call("echo", rid=7), chunked_trailer=trailer))
        check("chunked call with trailers answered", status == 200 and b'"ok"' in body, "%r %r" % (status, body[:200]))
        with up.lock:
            seen = [r for r in up.received if b'"id": 7' in r[1]]
        check("the call arrived once, body whole", len(seen) == 1 and json.loads(seen[0][1])["params"]["name"] == "echo",
              repr(seen))
        for lines, _ in seen:
            names = [l.split(":", 1)[0].strip().lower() for l in lines]
            for bad in ("x-injected", "mcp-method", "mcp-name", "authorization"):
                check("trailer %s not forwarded" % bad, bad not in names, repr(lines))

        # 2. repeated fields warden keys on: 400 with a JSON-RPC error, nothing forwarded
        with up.lock:
            before = len(up.received)
        dups = [b"Mcp-Session-Id: a\r\nMcp-Session-Id: b\r\n", b"Content-Type: application/json\r\n",
                b"Host: 127.0.0.1\r\n", b"MCP-Protocol-Version: 2025-06-18\r\nmcp-protocol-version: 2025-03-26\r\n",
                b"Origin: http://127.0.0.1\r\norigin: http://127.0.0.1\r\n", b"Authorization: a\r\nAUTHORIZATION: b\r\n",
                b"Mcp-Method: tools/call\r\nMcp-Method: ping\r\n", b"Mcp-Name: echo\r\nMcp-Name: get_env\r\n",
                b"Last-Event-ID: 1\r\nLast-Event-ID: 2\r\n", b"X-Agent-Name: a\r\nX-Agent-Name: b\r\n"]
        for extra in dups:
            status, _, body = answer(port, request(call("echo"), extra=extra))
            err = {}
            try:
                err = json.loads(body).get("error", {})
            except ValueError:
                pass
            check("repeated %r refused" % extra.split(b":")[0], status == 400 and err.get("code") == -32600 and
                  "more than once" in err.get("message", ""), "%r %r" % (status, body[:200]))
        with up.lock:
            check("no refused request reached the upstream", len(up.received) == before,
                  repr(up.received[before:][:2]))
        # the client's Accept-Encoding is not passed on (warden reads every answer); a coded request is refused
        status, _, _ = answer(port, request(call("echo", rid=8), extra=b"Accept-Encoding: gzip, br\r\n"))
        with up.lock:
            seen = [r for r in up.received if b'"id": 8' in r[1]]
        check("Accept-Encoding not forwarded", status == 200 and len(seen) == 1 and
              not any(l.lower().startswith("accept-encoding") for l in seen[0][0]), repr(seen))
        coded = gzip.compress(call("echo", rid=9))
        status, _, _ = answer(port, request(coded, extra=b"Content-Encoding: gzip\r\n"))
        check("gzip-coded request refused with 415", status == 415, repr(status))
        # an underscore for a dash: a CGI-style server reads it as the field warden did not see
        status, _, body = answer(port, request(call("echo"), extra=b"Mcp_Session_Id: someone-else\r\n"))
        check("Mcp_Session_Id refused", status == 400 and b"underscore" in body, "%r %r" % (status, body[:200]))
        # a list field may repeat
        status, _, _ = answer(port, request(call("echo"), extra=b"Accept: application/json\r\n"))
        check("repeated Accept is fine", status == 200, repr(status))
        # a Content-Type with a second charset is refused too
        status, _, _ = answer(port, request(call("echo")).replace(
            b"Content-Type: application/json", b"Content-Type: application/json; charset=utf-8; charset=latin1"))
        check("two charsets refused", status == 400, repr(status))

        # 3. upstream answers that a client could read otherwise never pass
        for mode in ("dup-ct", "fold-ct", "space-ct", "list-ct", "json-seq", "substr-ct"):
            status, head, body = answer(port, request(tools_list(mode)))
            check("tools/list answer with %s does not pass" % mode, status is not None and HIDDEN not in body and
                  HIDDEN not in head, "%r %r" % (status, body[:300]))
        status, head, body = answer(port, request(tools_list("gzip-sse")))
        check("gzip-coded event stream is a failure, never relayed", status == 200 and b'"code":-32603' in body and
              b"Content-Encoding" not in head, "%r %r" % (head[:300], body[:300]))
        status, head, body = answer(port, request(call("dup-sid")))
        check("answer with two Mcp-Session-Id is a failure", status == 200 and b'"code":-32603' in body and
              b"malformed" in body and b"Mcp-Session-Id: " not in head,
              "%r %r %r" % (status, head[:300], body[:300]))
        status, head, body = answer(port, request(tools_list("trailer")))
        check("chunked answer with trailers: filtered, trailers dropped", status == 200 and HIDDEN not in body and
              b"echo" in body and b"X-Injected" not in head and b"evil" not in head + body, "%r %r" % (head, body[:300]))
    return tally.summary()


if __name__ == "__main__":
    sys.exit(main())
