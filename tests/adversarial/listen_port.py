#!/usr/bin/env python3
"""Warden never shares its port, end to end.

A second warden started on a port another warden holds must refuse to start
(exit 2, a message naming the port) while the first keeps serving; the same
when any other process listens there; and while warden holds the port, a
process binding with SO_REUSEPORT (what warden's workers did before, so an
older warden) is refused by the kernel. A restart right after serving
connections (sockets in TIME_WAIT) still binds.

Usage: listen_port.py WARDEN_BIN   (prints "N passed, N failed")
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tally, free_port, healthz, start_warden, stop, wait_serving  # noqa: E402


def start(warden, listen, workers=2):
    return start_warden(warden, ["--upstream", "http://127.0.0.1:9/mcp", "--listen", listen, "--workers", str(workers)])


def main():
    warden = sys.argv[1]
    tally = Tally()
    check = tally.check

    def refused(name, listen, port):
        second = start(warden, listen)
        try:
            rc = second.wait(10)
        except subprocess.TimeoutExpired:
            stop(second)
            rc = None
        err = second.stderr.read().decode(errors="replace")
        check(name + ": exits 2", rc == 2, "rc %r" % rc)
        check(name + ": says the port is in use", ":%d" % port in err and "already in use" in err, repr(err))

    port = free_port()
    first = start(warden, "127.0.0.1:%d" % port)
    try:
        check("first warden serves", wait_serving(first, port))
        refused("second warden, same address", "127.0.0.1:%d" % port, port)
        refused("second warden, wildcard address", "0.0.0.0:%d" % port, port)
        refused("second warden, IPv6 wildcard", "[::]:%d" % port, port)
        check("first warden still serves every connection", all(healthz(port) for _ in range(20)))
        # what an older warden's workers do: SO_REUSEPORT, same user
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(16)
            check("a SO_REUSEPORT listener cannot join warden's port", False)
        except OSError:
            check("a SO_REUSEPORT listener cannot join warden's port", True)
        finally:
            s.close()
    finally:
        check("first warden stops cleanly", stop(first) == 0)

    # restart at once, with the connections above in TIME_WAIT
    again = start(warden, "127.0.0.1:%d" % port)
    check("a restart binds the same port at once", wait_serving(again, port),
          again.stderr.read().decode(errors="replace") if again.poll() is not None else "")
    check("the restarted warden stops cleanly", stop(again) == 0)

    # any other process holding the port, with SO_REUSEPORT (which let an older warden in beside it) or not
    for reuseport in (True, False):
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(16)
        refused("a plain socket holds the port (SO_REUSEPORT %s)" % reuseport, "0.0.0.0:%d" % other.getsockname()[1],
                other.getsockname()[1])
        other.close()

    return tally.summary()


if __name__ == "__main__":
    sys.exit(main())
