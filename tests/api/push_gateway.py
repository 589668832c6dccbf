"""A push gateway for tests: a real HTTP server on loopback speaking the Push Gateway API.

It records every /_matrix/push/v1/notify body, answers as told (accept, reject the pushkey,
answer garbage, or hang), and can be stopped and started again on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.server import free_port

NOTIFY = "/_matrix/push/v1/notify"


class PushGateway:
    """Records notifications; `mode` is "accept", "reject", "garbage" or "hang"."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = self.base_url + NOTIFY
        self.mode = "accept"
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path != NOTIFY:
                    self.send_response(404)
                    self.end_headers()
                    return
                notification = json.loads(body)["notification"]
                with gateway._lock:
                    gateway.received.append(notification)
                if gateway.mode == "hang":
                    time.sleep(30)
                    return
                if gateway.mode == "garbage":
                    answer = b"<html>not json"
                elif gateway.mode == "reject":
                    answer = json.dumps({"rejected": [d["pushkey"] for d in notification["devices"]]}).encode()
                else:
                    answer = b'{"rejected": []}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def event_ids(self) -> list[str]:
        with self._lock:
            return [n["event_id"] for n in self.received]

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The notifications received, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"gateway received {len(self.received)} notifications, expected {count}")
