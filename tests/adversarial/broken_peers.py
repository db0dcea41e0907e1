#!/usr/bin/env python3
"""Broken peers, end to end: upstreams that reset, hang, lie or flood, and
clients that vanish, read slowly, trickle bytes or come in too many. Each
case must end in a clear error for the affected request only, with memory
and file descriptors bounded and other clients served throughout.

Usage: broken_peers.py WARDEN_BIN   (prints "N passed, N failed")
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SSE_HEAD, RawUpstream, Tally, chunk, config_file, exchange, free_port, healthz, post,  # noqa: E402
                     running_warden, send, tool_result)


def event(obj):
    return chunk(b"event: message\ndata: " + json.dumps(obj).encode() + b"\n\n")


def json_answer(obj):
    body = json.dumps(obj).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


class BadUpstream:
    """A raw-socket HTTP server whose behaviour is chosen by the JSON-RPC method it receives."""

    def __init__(self):
        self.closed_early = 0
        self.port = RawUpstream(self.respond, backlog=128).port

    def respond(self, conn, lines, body):
        return self.answer(conn, json.loads(body))

    def answer(self, conn, msg):
        """Writes the answer for msg; returns False when the connection must end."""
        method, rid = msg.get("method"), msg.get("id")
        ok = tool_result(rid)
        if method == "reset":
            conn.sendall(SSE_HEAD + event({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        if method == "hang_after_headers":
            conn.sendall(SSE_HEAD)
            time.sleep(5)
            return False
        if method == "hang":
            time.sleep(5)
            return False
        if method == "garbage":
            conn.sendall(b"HTTP/1.1 2x0 What\r\nFoo\r\n\r\n")
            return False
        if method == "wrong_id":
            conn.sendall(json_answer({**ok, "id": "someone-else"}))
            return True
        if method == "oversize":
            conn.sendall(json_answer(tool_result(rid, "x" * 300000)))
            return True
        if method == "flood":
            conn.sendall(SSE_HEAD)
            note = event({"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "y" * 16000}})
            try:
                for _ in range(4000):            # about 64 MB unless warden stops reading
                    conn.sendall(note)
                conn.sendall(event(ok) + b"0\r\n\r\n")
            except OSError:
                self.closed_early += 1
            return False
        if method == "slow":
            conn.sendall(SSE_HEAD)
            try:
                time.sleep(3)
                conn.sendall(event(ok) + b"0\r\n\r\n")
            except OSError:
                self.closed_early += 1
            return False
        conn.sendall(json_answer(ok))
        return True


def request(port, method, rid=1, timeout=10, read=True):
    raw = post(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method}), path="/mcp/bad")
    if not read:
        return send(port, raw, timeout)
    t0 = time.time()
    data = exchange(port, raw, timeout)
    return data, time.time() - t0


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    warden_bin = sys.argv[1]
    up = BadUpstream()
    port = free_port()
    cfg = {
        "listen": "127.0.0.1:%d" % port,
        "workers": 1,
        "limits": {"max_connections": 40, "header_timeout_ms": 1000, "max_sse_event_bytes": 65536},
        "servers": {"bad": {"url": "http://127.0.0.1:%d/mcp" % up.port, "first_byte_timeout_ms": 1000,
                            "sse_idle_timeout_ms": 1000}},
    }
    tally = Tally()
    check = tally.check
    with config_file(cfg) as cfg_path, running_warden(warden_bin, ["--config", cfg_path], port, tally) as proc:
        fds_before = fds(proc.pid)

        data, took = request(port, "reset", rid=11)
        check("reset mid-stream: the event before it, then an error for the request",
              b"notifications/progress" in data and b'"id":11' in data and b"-32603" in data and data.endswith(b"0\r\n\r\n"), data[-300:])

        data, took = request(port, "hang_after_headers", rid=12)
        check("hang after headers: error within the idle timeout", b'"id":12' in data and b"sent nothing for 1000 ms" in data and took < 3, (took, data[-200:]))

        data, took = request(port, "hang", rid=13)
        check("hang before answering: error within the first-byte timeout", b'"id":13' in data and b"did not answer within 1000 ms" in data and took < 3, (took, data[-200:]))

        data, _ = request(port, "garbage", rid=14)
        check("malformed HTTP: JSON-RPC error for the request", data.startswith(b"HTTP/1.1 200") and b'"id":14' in data and b"malformed" in data, data[-200:])

        data, _ = request(port, "wrong_id", rid=15)
        check("an answer for another id: error for ours", b'"id":15' in data and b"not the response to this request" in data and b"someone-else" not in data, data[-200:])

        data, _ = request(port, "oversize", rid=16)
        check("an oversize answer: error for the request", b'"id":16' in data and b"larger than" in data, data[-200:])

        # a client that disconnects mid-call: warden ends the upstream exchange and goes on
        sock = request(port, "slow", rid=17, read=False)
        time.sleep(0.3)
        sock.close()
        time.sleep(0.5)
        check("a client gone mid-call: others served", healthz(port))

        # a client that reads slowly: warden stops reading the upstream instead of buffering it all
        rss0 = rss_kb(proc.pid)
        sock = request(port, "flood", rid=18, read=False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        time.sleep(2.0)
        rss1 = rss_kb(proc.pid)
        check("a slow reader: memory stays bounded while the upstream floods", rss1 - rss0 < 16 * 1024, "RSS grew %d kB" % (rss1 - rss0))
        check("a slow reader: others served meanwhile", healthz(port))
        sock.close()

        # slow-loris: a byte a second never finishes a head; 408 after the header timeout, others served
        loris = socket.create_connection(("127.0.0.1", port), timeout=5)
        t0 = time.time()
        got = b""
        for b in b"POST /mcp/bad HTTP/1.1\r\n":
            try:
                loris.sendall(bytes([b]))
            except OSError:
                break
            time.sleep(0.25)
            if healthz(port) is False:
                break
            loris.settimeout(0.01)
            try:
                got += loris.recv(4096)
            except (socket.timeout, BlockingIOError):
                pass
            if got:
                break
        loris.settimeout(3)
        try:
            got += loris.recv(4096)
        except (socket.timeout, OSError):
            pass
        loris.close()
        check("slow-loris: 408 after the header timeout", got.startswith(b"HTTP/1.1 408") and time.time() - t0 < 4, got[:100])

        # more connections than the limit: the extra ones are refused at once, the others still served
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(45)]
        time.sleep(0.3)
        refused = 0
        for c in held[40:]:
            c.settimeout(2)
            try:
                if c.recv(4096).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except OSError:
                pass
        for c in held:
            c.close()
        time.sleep(0.3)
        check("over the connection limit: 503 for the extra ones", refused == 5, "refused %d" % refused)
        check("over the connection limit: served again once they left", healthz(port))

        time.sleep(1.5)
        fds_after = fds(proc.pid)
        check("no file descriptor leaked", fds_after <= fds_before + 1, "%d before, %d after" % (fds_before, fds_after))
    return tally.summary()


if __name__ == "__main__":
    sys.exit(main())
