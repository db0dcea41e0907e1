"""What the raw-socket tests in this folder share: warden started and stopped on a
free loopback port, raw HTTP requests and the answers read back with a deadline,
upstreams to put behind warden, and the tally that each script prints last
("N passed, N failed") and exits on.

Every script imports this module from its own folder; nothing here asserts by
itself: the checks stay in the scripts.
"""
import contextlib
import http.server
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, "policy.json")
# What policy.json stops: these tools never reach the upstream, nor delete_model_alias with these aliases.
FORBIDDEN_TOOLS = {"get_env", "delete_registered_model"}
PROTECTED_ALIASES = {"champion", "production"}

SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


class Tally:
    """Counts the checks of one script; a failed one is printed at once with its detail."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s %s" % (name, detail))

    def summary(self):
        """Prints the counts; returns the script's exit code."""
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tool_result(rid, text="ok"):
    """A JSON-RPC result of tools/call carrying one text item."""
    return {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": text}]}}


def chunk(data):
    """One chunk of a chunked HTTP body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


# --- warden itself ---------------------------------------------------------

def start_warden(binary, args):
    """Starts warden with args; its stderr is kept for the failure messages, its stdout dropped."""
    return subprocess.Popen([binary] + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def policy_args(upstream_port, port):
    """Arguments for one worker with policy.json on 127.0.0.1:port in front of an upstream at /mcp."""
    return ["--upstream", "http://127.0.0.1:%d/mcp" % upstream_port, "--listen", "127.0.0.1:%d" % port,
            "--workers", "1", "--policy", POLICY]


@contextlib.contextmanager
def config_file(cfg):
    """A temporary file holding cfg as JSON; yields its path and removes it on leaving."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
    try:
        yield f.name
    finally:
        os.unlink(f.name)


def healthz(port):
    """True when GET /healthz on port is answered 200 and the connection closed within 2 s."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            more = s.recv(4096)
            if not more:
                break
            data += more
        s.close()
        return data.startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def wait_serving(proc, port):
    """True once warden answers /healthz on port; False when it exits first or after about 5 s."""
    for _ in range(100):
        if proc.poll() is not None:
            return False
        if healthz(port):
            return True
        time.sleep(0.05)
    return False


def wait_started(proc, port):
    """Waits until warden serves on port; raises with its stderr when it exits first. A warden
    still not serving after the wait is left to the checks, which then fail on it."""
    if not wait_serving(proc, port) and proc.poll() is not None:
        raise RuntimeError("warden did not start: " + stderr_text(proc))


def stop(proc):
    """SIGTERM, then SIGKILL after 10 s; returns the exit code (-9 when killed)."""
    proc.terminate()
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def stderr_text(proc):
    """All warden wrote to stderr; call once it has exited."""
    return proc.stderr.read().decode(errors="replace")


def stop_and_check(tally, proc):
    """Stops warden and checks it exited 0 (a sanitizer's report makes it exit otherwise)."""
    rc = stop(proc)
    tally.check("warden exits 0", rc == 0, "rc %s; stderr:\n%s" % (rc, stderr_text(proc)[-3000:]))


@contextlib.contextmanager
def running_warden(binary, args, port, tally):
    """Warden started with args and serving on port (see wait_started); yields its process.
    On leaving, stops it and checks that it exited 0."""
    proc = start_warden(binary, args)
    try:
        wait_started(proc, port)
        yield proc
    finally:
        stop_and_check(tally, proc)


@contextlib.contextmanager
def policy_warden(binary, upstream_port, tally):
    """running_warden with one worker and policy.json on a free port, in front of the upstream at
    http://127.0.0.1:upstream_port/mcp; yields the port."""
    port = free_port()
    with running_warden(binary, policy_args(upstream_port, port), port, tally):
        yield port


# --- the client side: raw requests ------------------------------------------

def request_head(path="/mcp", headers=None, content_type="application/json", close=True):
    """The request line and fields of a POST as an MCP client sends it, up to the body's framing.
    headers adds or replaces fields (None drops one); content_type None sends no Content-Type."""
    h = {"Host": "127.0.0.1", "Content-Type": content_type, "Accept": "application/json, text/event-stream",
         "Connection": "close" if close else None}
    h.update(headers or {})
    lines = ["POST %s HTTP/1.1" % path] + ["%s: %s" % kv for kv in h.items() if kv[1] is not None]
    return ("\r\n".join(lines) + "\r\n").encode()


def post(body, headers=None, content_type="application/json", close=True, path="/mcp", extra=b""):
    """A whole POST of body with Content-Length; extra is raw field lines (repeats allowed) put before it."""
    if isinstance(body, str):
        body = body.encode()
    return (request_head(path, headers, content_type, close) + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def send(port, raw, timeout):
    """Connects to 127.0.0.1:port and sends raw; returns the socket. Warden may refuse and close
    before reading all of an oversized request: the answer is still there to read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return s


def read_answer(s, timeout, quiet=None):
    """Reads until the peer closes or resets, nothing comes for `quiet` seconds (when given), or
    `timeout` seconds pass; closes the socket and returns what came."""
    if quiet is not None:
        s.settimeout(quiet)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            more = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not more:
            break
        data += more
    s.close()
    return data


def exchange(port, raw, timeout=5.0, quiet=None):
    """send() then read_answer(): the bytes warden answered to raw."""
    return read_answer(send(port, raw, timeout), timeout, quiet)


def statuses(data):
    """The status code of every HTTP/1.1 answer in data, in order."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def check_answer(tally, name, data, want_status, want_text, ok=True):
    """Checks that the first answer in data has want_status and holds want_text (None: any text),
    and that the caller's own condition ok holds."""
    seen = statuses(data)
    tally.check(name, ok and bool(seen) and seen[0] == want_status and (want_text is None or want_text in data),
                "statuses %s, want %s %r; got %r" % (seen, want_status, want_text, data[:300]))


# --- upstreams ----------------------------------------------------------------

class RawUpstream:
    """A raw-socket HTTP/1.1 server on a free loopback port, a thread per connection. Each request
    is read whole (head to the blank line, body by Content-Length) and handed to
    respond(conn, field_lines, body), which writes any bytes it likes and returns False to
    end the connection. Socket errors and unreadable requests end the connection quietly."""

    def __init__(self, respond, backlog=64):
        self.respond = respond
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, data = data.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")[1:]
                length = 0
                for line in lines:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(data) < length:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                body, data = data[:length], data[length:]
                if not self.respond(conn, lines, body):
                    return
        except (OSError, ValueError):
            pass
        finally:
            conn.close()


class Recorder:
    """An http.server upstream on a free loopback port, parsing as most servers do: records each
    POST body in received and answers it with a tools/call result "ok" (id null when the body
    has none or is unreadable)."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with recorder.lock:
                    recorder.received.append(body)
                try:
                    msg = json.loads(body)
                    rid = msg.get("id") if isinstance(msg, dict) else None
                except ValueError:
                    rid = None
                out = json.dumps(tool_result(rid)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self):
        with self.lock:
            return list(self.received)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
