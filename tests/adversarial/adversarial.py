#!/usr/bin/env python3
"""Hostile input against warden, end to end.

Raw bytes go over sockets to build/warden in front of a fixture upstream that
records every request it receives and parses bodies the way most servers do
(Python's json keeps the LAST duplicate key). For each case warden must answer
in time with the expected status, and after all of them no forbidden call may
have reached the upstream as the upstream reads it.

Usage: adversarial.py WARDEN_BIN   (prints "N passed, N failed")
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FORBIDDEN_TOOLS, PROTECTED_ALIASES, Recorder, Tally, check_answer, exchange,  # noqa: E402
                     policy_warden, post, statuses)


def forbidden(body):
    """True when the upstream, parsing like a common server, sees a call warden must stop."""
    try:
        msg = json.loads(body)
    except ValueError:
        return False
    msgs = msg if isinstance(msg, list) else [msg]
    for m in msgs:
        if not isinstance(m, dict) or m.get("method") != "tools/call":
            continue
        params = m.get("params") or {}
        if not isinstance(params, dict):
            continue
        name = params.get("name")
        args = params.get("arguments") or {}
        if isinstance(name, str) and name in FORBIDDEN_TOOLS:
            return True
        alias = args.get("alias") if isinstance(args, dict) else None
        if name == "delete_model_alias" and isinstance(alias, str) and alias in PROTECTED_ALIASES:
            return True
    return False


def call(name, args, rid=1, raw_args=None):
    a = raw_args if raw_args is not None else json.dumps(args)
    return '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%s,"arguments":%s}}' % (rid, json.dumps(name), a)


# (name, raw request, expected first status, a substring the answer must contain or None)
CASES = [
    # duplicate keys at every level
    ("dup tool name", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_registered_model","arguments":{}}}'), 400, b"-32700"),
    ("dup arguments", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_model_alias","arguments":{"alias":"x"},"arguments":{"alias":"champion"}}}'), 400, b"-32700"),
    ("dup argument value", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_model_alias","arguments":{"alias":"x","alias":"champion"}}}'), 400, b"-32700"),
    ("dup method", post('{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"get_env","arguments":{}}}'), 400, b"-32700"),
    ("dup params", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"params":{"name":"get_env"}}'), 400, b"-32700"),
    ("dup key by escape", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","n\\u0061me":"get_env"}}'), 400, b"-32700"),
    # escapes in names and values
    ("escaped hidden name", post(call("get_env", {}).replace('"get_env"', '"get\\u005fenv"')), 200, b"Unknown tool"),
    ("escaped denied name", post(call("delete_registered_model", {}).replace("delete_registered", "delete\\u005fregistered")), 200, b"isError"),
    ("escaped protected value", post(call("delete_model_alias", {}, raw_args='{"name":"m","alias":"ch\\u0061mpion"}')), 200, b"protected alias"),
    ("escaped slash method", post('{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"get_env","arguments":{}}}'), 200, b"Unknown tool"),
    # NUL, invalid UTF-8, surrogates, BOM
    ("NUL escape in name", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_env\\u0000x","arguments":{}}}'), 400, None),
    ("raw NUL", post(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_env\x00","arguments":{}}}'), 400, None),
    ("invalid UTF-8", post(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_env\xff","arguments":{}}}'), 400, None),
    ("overlong UTF-8", post(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_env\xc0\xaf","arguments":{}}}'), 400, None),
    ("lone surrogate", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_env\\ud800","arguments":{}}}'), 400, None),
    ("BOM", post(b'\xef\xbb\xbf' + call("get_env", {}).encode()), 400, None),
    # batches and several values
    ("batch", post("[" + call("get_env", {}) + "]"), 400, b"-32600"),
    ("two values", post(call("echo", {}) + call("get_env", {}, rid=2)), 400, b"-32700"),
    ("trailing garbage", post(call("get_env", {}) + "x"), 400, b"-32700"),
    # wrong types for name and arguments
    ("name array", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["get_env"],"arguments":{}}}'), 400, None),
    ("name number", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7,"arguments":{}}}'), 400, None),
    ("arguments string", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_model_alias","arguments":"alias=champion"}}'), 400, None),
    ("alias as array", post(call("delete_model_alias", {"name": "m", "alias": ["champion"]})), 200, None),
    ("id null", post('{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"get_env","arguments":{}}}'), 400, None),
    ("jsonrpc 1.0", post('{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"get_env","arguments":{}}}'), 400, None),
    # content types and charsets
    ("text/plain", post(call("echo", {}), content_type="text/plain"), 415, None),
    ("latin1", post(call("echo", {}), content_type="application/json; charset=latin1"), 415, None),
    ("no content type", post(call("echo", {}), content_type=None), 415, None),
    ("json utf-8 ok", post(call("echo", {}), content_type="application/json; charset=UTF-8"), 200, None),
    # HTTP framing
    ("CL+TE", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, None),
    ("duplicate CL", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, None),
    ("obs-fold", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n Content-Length: 2\r\n\r\n{}", 400, None),
    ("space before colon", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type : application/json\r\nContent-Length: 2\r\n\r\n{}", 400, None),
    ("bare LF", b"POST /mcp HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 2\n\n{}", 400, None),
    ("TE gzip", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, None),
    ("chunked denied call", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (1, bytes([c])) for c in call("get_env", {}).encode()) + b"0\r\n\r\n", 200, b"Unknown tool"),
    ("pipelined allowed+denied", post(call("echo", {"a": 1}), close=False) + post(call("delete_registered_model", {"name": "m"}, rid=2), close=False) + post(call("echo", {}, rid=3)), 200, b"models are deleted by people"),
    # size and shape bombs
    ("deep nesting", post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":' + "[" * 5000 + "]" * 5000 + "}}}"), 400, None),
    ("huge header", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431, None),
    ("many headers", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"\r\n", 431, None),
    ("huge declared length", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}", 413, None),
    ("body over limit", post(call("echo", {"a": "x" * (5 * 1024 * 1024)})), 413, None),
    ("signed length", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: +2\r\n\r\n{}", 400, None),
    # hidden and denied tools called directly
    ("hidden tool", post(call("get_env", {})), 200, b"Unknown tool: get_env"),
    ("denied tool", post(call("delete_registered_model", {"name": "m"})), 200, b"models are deleted by people"),
    ("protected alias", post(call("delete_model_alias", {"name": "m", "alias": "champion"})), 200, b"protected alias"),
    ("other alias allowed", post(call("delete_model_alias", {"name": "m", "alias": "challenger"})), 200, b'"ok"'),
    # origin, host, methods, paths
    ("bad origin", post(call("echo", {}), headers={"Origin": "http://evil.example"}), 403, None),
    ("bad host", post(call("echo", {}), headers={"Host": "evil.example"}), 403, None),
    ("no host", b"POST /mcp HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 400, None),
    ("unknown path", post(call("echo", {})).replace(b"POST /mcp ", b"POST /other "), 404, None),
    ("PUT", post(call("echo", {})).replace(b"POST /mcp", b"PUT /mcp"), 405, None),
    ("bad session id", post(call("echo", {}), headers={"Mcp-Session-Id": "a b"}), 400, None),
]


def main():
    tally = Tally()
    with Recorder() as up, policy_warden(sys.argv[1], up.port, tally) as port:
        for name, raw, want_status, want_text in CASES:
            t0 = time.time()
            data = exchange(port, raw, quiet=0.6)
            ok = time.time() - t0 < 5
            if name == "pipelined allowed+denied":
                ok = ok and statuses(data) == [200, 200, 200] and data.count(b"isError") == 1
            check_answer(tally, name, data, want_status, want_text, ok)
        leaked = [b for b in up.bodies() if forbidden(b)]
        tally.check("no forbidden call reached the upstream", not leaked, repr(leaked[:3]))
        alive = statuses(exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", quiet=0.6))
        tally.check("warden still serves after the suite", alive == [200])
    return tally.summary()


if __name__ == "__main__":
    sys.exit(main())
