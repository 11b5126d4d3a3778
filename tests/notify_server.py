"""A local HTTP server that records the POSTs it gets: the far end of apprise's json:// URLs.

with notify_server() as server:
    url = server.url            # "json://127.0.0.1:PORT/"
    ...
    payload = server.wait_for_post()   # the decoded JSON body
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class NotifyServer:
    port: int
    status: int = 200  # what the server answers (500 to make deliveries fail)
    posts: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/"

    def wait_for_post(self, count: int = 1, timeout: float = 30.0) -> dict[str, Any]:
        """The `count`-th POST's JSON body, waiting for it to arrive (a deadline, not a sleep)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.posts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.posts)} POSTs arrived, expected {count}")
                self.arrived.wait(left)
            return self.posts[count - 1]


@contextmanager
def notify_server(status: int = 200) -> Iterator[NotifyServer]:
    record = NotifyServer(port=0, status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with record.arrived:  # recorded before the answer: the sender exits after it
                record.posts.append(json.loads(body))
                record.arrived.notify_all()
            self.send_response(record.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest's output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
