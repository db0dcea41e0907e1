"""The SSE row of bench/run: an answer of N events streamed through.

An upstream (this file run as a script) answers every POST with
`Content-Type: text/event-stream`, chunked: N-1 `notifications/progress` events then
the JSON-RPC response, flushed as it goes so that the first event leaves at once.
A client (below, in the bench process) POSTs tools/call on one keep-alive
connection, one stream after another, and measures events/s and the time from
sending the request to the first complete event. wrk cannot see inside a body,
hence Python; the client is the same for every candidate, so its cost is shared.
"""
import asyncio
import json
import os
import socket
import statistics
import sys
import time

# ---------------------------------------------------------------- upstream


HOLD_TOOL = "watch_run"     # a tools/call of this tool is answered by a stream left open


def event(obj):
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


async def serve(port, n):
    progress = [event({"jsonrpc": "2.0", "method": "notifications/progress",
                       "params": {"progressToken": 1, "progress": i, "total": n}})
                for i in range(1, n)]
    # Blocks of 50 events, one chunk each, written with a drain between them: a stream,
    # not one big write, but without making Python's per-write cost the measure.
    blocks = [chunk(b"".join(progress[i:i + 50])) for i in range(1, len(progress), 50)]
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")

    async def handle(reader, writer):
        try:
            while True:
                hdr = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in hdr.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                try:
                    msg = json.loads(body)
                    rid, tool = msg.get("id"), msg.get("params", {}).get("name")
                except (ValueError, AttributeError):
                    rid = tool = None
                writer.write(head + (chunk(progress[0]) if progress else b""))
                await writer.drain()       # the first event leaves now
                if tool == HOLD_TOOL:
                    # A stream that stays open: one event, then nothing until the peer goes.
                    await reader.read()
                    return
                for b in blocks:
                    writer.write(b)
                    await writer.drain()
                writer.write(chunk(event({"jsonrpc": "2.0", "id": rid, "result": {
                    "content": [{"type": "text", "text": "done"}]}})) + b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()

# ---------------------------------------------------------------- client


class Stream:
    """One keep-alive connection; stream() POSTs and reads one SSE answer."""

    def __init__(self, port, request):
        self.port, self.request, self.sock, self.buf = port, request, None, b""

    def _recv(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def stream(self):
        """(seconds to the first complete event, seconds in all, events) for one POST."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), 5)
            self.buf = b""
        t0 = time.perf_counter()
        self.sock.sendall(self.request)
        status = self._line()
        if b" 200 " not in status + b" ":
            raise RuntimeError(status.decode(errors="replace"))
        chunked, length, close = False, None, False
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.partition(b":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == b"transfer-encoding" and b"chunked" in v:
                chunked = True
            elif k == b"content-length":
                length = int(v)
            elif k == b"connection" and v == b"close":
                close = True
        body, first = bytearray(), None
        if chunked:
            while True:
                size = int(self._line().split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._recv()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if first is None and b"\n\n" in body:
                    first = time.perf_counter() - t0
                if size == 0:
                    break
        else:
            while (length is None or len(self.buf) < length):
                try:
                    self._recv()
                except ConnectionError:
                    close = True
                    break
                if first is None and b"\n\n" in self.buf:
                    first = time.perf_counter() - t0
            body, self.buf = self.buf, b""
        total = time.perf_counter() - t0
        if close or length is None and not chunked:
            self.sock.close()
            self.sock = None
        return first or total, total, body.count(b"data:")


def measure(port, request, seconds):
    s = Stream(port, request)
    ttfe, events, spent = [], 0, 0.0
    end = time.time() + seconds
    while time.time() < end:
        first, total, n = s.stream()
        ttfe.append(first)
        events += n
        spent += total
    if s.sock:
        s.sock.close()
    return {"eps": events / spent, "ttfe_ms": statistics.median(ttfe) * 1000,
            "ttfe99_ms": sorted(ttfe)[int(len(ttfe) * 0.99)] * 1000,
            "streams": len(ttfe), "events": events / len(ttfe), "total_events": events}

def hold_streams(port, pid, n, request, vm):
    """Open n streams that stay open (one event each, read), then VmRSS growth per stream."""
    before = vm(pid, "VmRSS")
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), 5)
            s.sendall(request)
            buf = b""
            while b"data:" not in buf or b"\n\n" not in buf.split(b"data:", 1)[1]:
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("stream closed before its first event")
                buf += data
            socks.append(s)
        time.sleep(0.5)
        return (vm(pid, "VmRSS") - before) / n
    finally:
        for s in socks:
            s.close()


def http_request(bench, body):
    body = body.encode()
    return (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % len(body)
            + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in bench.HEADERS.items())
            + b"\r\n" + body)

# ---------------------------------------------------------------- the row


def run(args, bench):
    """bench: the bench/run module, whose helpers start and watch the processes."""
    start, free_port, wait_listening = bench.start, bench.free_port, bench.wait_listening
    up_port = free_port()
    up = start("sse-upstream", [sys.executable, os.path.abspath(__file__), str(up_port),
                                str(args.sse_events)])
    if not wait_listening(up, up_port):
        print("\nSSE row: the SSE upstream did not start")
        return
    cands = [("direct (SSE upstream)", up_port, None, None)]
    p = free_port()
    # proxy_buffering off: nginx passes each read on at once, as an SSE proxy must.
    ng = bench.start_nginx("nginx-sse", bench.proxy_server(p, up_port, extra="proxy_buffering off;"))
    cands.append(("nginx proxy (buffering off)", p, ng,
                  None if wait_listening(ng, p) else "nginx did not start"))
    pol = os.path.join(bench.TMP, "policy-sse.lua")
    with open(pol, "w") as f:
        f.write(bench.LUA_POLICY)
    wp, wport, err = bench.start_warden(args, "warden-sse", up_port, pol)
    cands.append(("warden Lua policy", wport, wp, err))

    request = http_request(bench, bench.ALLOWED_BODY)
    results = {}
    for rnd in range(args.rounds):
        for label, port, proc, err in cands:
            if err:
                continue
            pids = bench.Candidate("", "", port, proc).pids() if proc else [up.pid]
            pid = pids[0] if pids else None
            bench.reset_hwm(pid)
            cpu0 = bench.cpu_seconds(pids)
            try:
                r = measure(port, request, args.sse_seconds)
            except (OSError, RuntimeError, ValueError) as e:
                r = {"error": str(e)}
            cpu1 = bench.cpu_seconds(pids)
            # The candidate's own CPU time per 1,000 events it passed (direct: the upstream's).
            if cpu0 is not None and cpu1 is not None and r.get("total_events"):
                r["cpu_k"] = (cpu1 - cpu0) * 1e6 / r["total_events"] * 1000
            r["hwm"] = bench.vm(pid, "VmHWM") if pid else None
            results.setdefault(label, []).append(r)
            print(f"round {rnd + 1}/{args.rounds} sse      {label:26} "
                  + (f"{r['eps']:>10.0f} events/s  first event {r['ttfe_ms']:.2f} ms"
                     if "eps" in r else f"error: {r['error']}"), file=sys.stderr)

    print(f"\n| SSE, {args.sse_events} events per answer | events/s | vs nginx proxy "
          f"| CPU µs per 1,000 events | first event ms (median) | vs direct | first event p99 ms "
          f"| peak RSS KiB | events/answer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = {}
    for label, _, _, err in cands:
        runs = [r for r in results.get(label, []) if "eps" in r]
        if runs:
            med[label] = {k: statistics.median(r[k] for r in runs) for k in ("eps", "ttfe_ms", "ttfe99_ms", "events")}
            med[label]["hwm"] = max((r["hwm"] or 0) for r in runs) or "-"
            cpus = [r["cpu_k"] for r in runs if r.get("cpu_k")]
            med[label]["cpu"] = f"{statistics.median(cpus):.0f}" if cpus else "-"
    base, direct = med.get("nginx proxy (buffering off)"), med.get("direct (SSE upstream)")
    for label, _, _, err in cands:
        m = med.get(label)
        if not m:
            why = err or next((r["error"] for r in results.get(label, []) if "error" in r), "no result")
            print(f"| {label} | unavailable: {why} ||||||||")
            continue
        print(f"| {label} | {m['eps']:.0f} | {m['eps'] / base['eps']:.2f}x | {m['cpu']} | {m['ttfe_ms']:.3f} | "
              f"{'%+.3f ms' % (m['ttfe_ms'] - direct['ttfe_ms']) if direct else '-'} | "
              f"{m['ttfe99_ms']:.3f} | {m['hwm']} | {m['events']:.0f} |" if base else
              f"| {label} | {m['eps']:.0f} | - | {m['cpu']} | {m['ttfe_ms']:.3f} | - | {m['ttfe99_ms']:.3f} | {m['hwm']} | {m['events']:.0f} |")

    # Memory per open stream: --sse-open streams held open through each proxy.
    hold = http_request(bench, bench.ALLOWED_BODY.replace("get_model_version_by_alias", HOLD_TOOL))
    per = {}
    if args.sse_open:
        print(f"\n| {args.sse_open} SSE streams held open | KiB per open stream |")
        print("|---|---:|")
        for label, port, proc, err in cands[1:]:
            pid = bench.Candidate("", "", port, proc).pid() if proc and not err else None
            try:
                if not pid:
                    raise RuntimeError(err or "no process")
                per[label] = hold_streams(port, pid, args.sse_open, hold, bench.vm)
                print(f"| {label} | {per[label]:.2f} |")
            except (OSError, RuntimeError) as e:
                print(f"| {label} | unavailable: {e} |")
            time.sleep(0.5)

    print()
    w = med.get("warden Lua policy")
    if w and base:
        q = w["eps"] / base["eps"]
        print(f"- SSE, warden events/s vs nginx: {q:.2f}x (target >= 1.0x): " + ("met" if q >= 1 else "NOT met"))
    if w and direct:
        d = w["ttfe_ms"] - direct["ttfe_ms"]
        print(f"- SSE, warden time to first event vs direct: {d:+.3f} ms (target within 1 ms): "
              + ("met" if d <= 1.0 else "NOT met"))
    if "warden Lua policy" in per:
        k = per["warden Lua policy"]
        print(f"- SSE, warden memory per open stream: {k:.2f} KiB (target <= 10 KiB): "
              + ("met" if k <= 10 else "NOT met"))


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
