"""Servers the notification tests start on 127.0.0.1: a real SMTP server and a scripted webhook receiver."""

from __future__ import annotations

import contextlib
import email
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """aiosmtpd handler keeping every received message (parsed) in ``messages``."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields (port, sink)."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


class WebhookReceiver:
    """Records JSON POSTs; answers with the scripted statuses in order, then 200."""

    def __init__(self, statuses: list[int] | None = None, retry_after: str | None = None):
        self.statuses = list(statuses or [])
        self.retry_after = retry_after
        self.requests: list[dict] = []  # {"json": ..., "headers": {...}, "status": int}
        self.lock = threading.Lock()

    @property
    def delivered(self) -> list[dict]:
        return [r["json"] for r in self.requests if r["status"] < 300]


@contextlib.contextmanager
def webhook_server(receiver: WebhookReceiver):
    """A local HTTP server for ``receiver``; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append({"json": json.loads(body or b"null"), "headers": dict(self.headers),
                                          "status": status})
            self.send_response(status)
            if status == 429 and receiver.retry_after:
                self.send_header("Retry-After", receiver.retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/T0KEN"
    finally:
        server.shutdown()
        server.server_close()
