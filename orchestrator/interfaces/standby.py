"""A `shotfarm serve` on a PostgreSQL log that another one leads: wait, say where the leader is, take over.

Two or more `serve` processes may share one PostgreSQL event log. One leads
(it holds the log's lease, eventlog.lease) and runs the farm; the others
wait without starting Ray. While waiting, a standby answers every HTTP
request on its own port with 503, the leader's address in the body and in
`X-Shotfarm-Leader`, and `Retry-After`, so a client or a load balancer knows
where to go. Once the leader's lease runs out (the leader killed, paused,
cut off), the standby takes the lease, stops answering 503, and `serve`
goes on as a leader: starts Ray, replays the log and resumes the farm.

A leader whose lease is taken over (it was paused past it, then resumed)
stops itself: its coordinator is refused on its next append anyway.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from orchestrator.eventlog.lease import Leader, Lease

log = logging.getLogger(__name__)


def advertised(host: str, port: int) -> str:
    """The URL other processes reach this one's API at ($SHOTFARM_ADVERTISE_URL in a cluster)."""
    if os.environ.get("SHOTFARM_ADVERTISE_URL"):
        return os.environ["SHOTFARM_ADVERTISE_URL"]
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Answer(BaseHTTPRequestHandler):
    leader: Leader | None = None

    def _answer(self) -> None:
        where = self.leader.address if self.leader and self.leader.address else ""
        body = json.dumps(
            {
                "detail": f"this shotfarm serve is a standby; the farm's leader is at {where or 'an unknown address'}",
                "leader": where or None,
            }
        ).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "5")
        if where:
            self.send_header("X-Shotfarm-Leader", where)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass  # a standby's refusals are not worth a line each


def _say(message: str, json_logs: bool) -> None:
    if json_logs:
        log.info(message)
    else:
        print(f"shotfarm: {message}", file=sys.stderr, flush=True)


def lead(url: str, sock: socket.socket, address: str, json_logs: bool = False) -> Lease:
    """Return once this process leads the log at `url`; until then answer 503 on `sock`, naming the leader.

    SIGTERM while waiting is a clean stop (KeyboardInterrupt, as SIGINT).
    """
    lease = Lease(url, address=address)
    if lease.try_take() is not None:
        return lease

    class Answer(_Answer):
        pass

    Answer.leader = lease.leader()
    server = HTTPServer(sock.getsockname()[:2], Answer, bind_and_activate=False)
    server.socket = sock
    server.server_activate()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="shotfarm-standby", daemon=True)
    thread.start()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    _say(f"standby on {address}: the farm's leader is {Answer.leader.address if Answer.leader else 'unknown'}; waiting", json_logs)

    def waiting(leader: Leader | None) -> None:
        Answer.leader = leader

    try:
        lease.wait(waiting=waiting)
    except BaseException:
        lease.release()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.shutdown()  # the socket stays open: the API goes on listening on it
    _say(f"took over as the farm's leader (lease token {lease.token})", json_logs)
    return lease
