"""The idle-connections row of bench/run: memory per idle client connection.

For each candidate: sample VmRSS, open N client connections, send one tools/call on
each and read its answer (an agent's pooled keep-alive connection, buffers allocated),
hold them all idle, sample VmRSS again. (after - before) / N is what one idle
connection costs. Needs N file descriptors here and in the candidate: bench/run
raises RLIMIT_NOFILE before it starts anything, so the children inherit it.
"""
import socket
import sys
import time


def answer_length(sock):
    """Read one HTTP answer with a Content-Length (all the candidates send one here)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the answer")
        buf += data
    head, body = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed mid-answer")
        body += data


def hold(port, pid, n, request, vm):
    """KiB of VmRSS per connection, and the number actually held."""
    before = vm(pid, "VmRSS")
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), 5)
            s.sendall(request)
            answer_length(s)
            socks.append(s)
        time.sleep(0.5)  # let the candidate settle (timers, deferred frees)
        after = vm(pid, "VmRSS")
        alive = sum(1 for s in socks if _alive(s))
        return (after - before) / len(socks), alive, before, after
    finally:
        for s in socks:
            s.close()


def _alive(s):
    # An idle connection the candidate closed would read EOF now.
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def run(args, bench, cands):
    body = bench.ALLOWED_BODY.encode()
    request = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % len(body)
               + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in bench.HEADERS.items())
               + b"\r\n" + body)
    print(f"\n| {args.idle} idle connections (after one request each) | KiB per connection "
          f"| connections still open | VmRSS before KiB | VmRSS after KiB |")
    print("|---|---:|---:|---:|---:|")
    verdicts = []
    for c in cands:
        pid = c.pid() if not c.error else None
        if not pid:
            print(f"| {c.label} | unavailable: {c.error or 'no process'} ||||")
            continue
        try:
            per, alive, before, after = hold(c.port, pid, args.idle, request, bench.vm)
        except OSError as e:
            print(f"| {c.label} | unavailable: {e} ||||")
            continue
        print(f"| {c.label} | {per:.2f} | {alive} | {before} | {after} |")
        print(f"idle     {c.label:26} {per:.2f} KiB per connection, {alive} held", file=sys.stderr)
        if c.key.startswith("warden"):
            verdicts.append(f"idle connection, {c.key}: {per:.2f} KiB (target <= 4 KiB): "
                            + ("met" if per <= 4 and alive == args.idle else "NOT met"))
        time.sleep(0.5)   # let the closes drain before the next candidate
    print()
    for v in verdicts:
        print("- " + v)
