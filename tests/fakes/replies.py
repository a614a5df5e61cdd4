"""Scripted replies and the small HTTP plumbing both fake providers share.

A test scripts how the next create calls are answered (`fake.script(Reply.error(429), ...)`);
calls beyond the script are answered normally. Each fake runs a ThreadingHTTPServer on a
random local port in a daemon thread, so the official client libraries can talk to it.
"""
from __future__ import annotations

import json
import sys
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """How the fake answers one create call.

    kind is "ok", "error", "slow" or "accepted_then_error". `code` is the provider's own
    error code (Twilio uses it; SendGrid has none and ignores it).
    """

    kind: str
    status: int | None = None
    code: int | None = None
    message: str | None = None
    seconds: float = 0.0
    then: Reply | None = None

    @classmethod
    def ok(cls) -> Reply:
        return cls("ok")

    @classmethod
    def error(cls, status: int, code: int | None = None, message: str | None = None) -> Reply:
        return cls("error", status=status, code=code, message=message)

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait `seconds` before answering with `then`, so a client's timeout fires first."""
        return cls("slow", seconds=seconds, then=then or cls.ok())

    @classmethod
    def accepted_then_error(cls, status: int = 500, code: int | None = None,
                            message: str | None = None) -> Reply:
        """The provider takes the message (and sends it) but the HTTP answer is an error:
        the caller cannot tell whether it was sent."""
        return cls("accepted_then_error", status=status, code=code, message=message)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # Benchmarks open many connections at once; the default listen backlog of 5 would make
    # the kernel drop SYNs and stall clients for a second.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # A client that timed out has hung up before we answer; that is the point of
        # Reply.slow, not a failure worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeHandler(BaseHTTPRequestHandler):
    """Request handler with the few helpers the fakes need; `self.server.fake` is the fake."""

    def log_message(self, format: str, *args) -> None:
        pass  # keep test output clean; the fakes record what matters

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, body: bytes | dict = b"",
               content_type: str = "application/json; charset=utf-8",
               headers: dict[str, str] | None = None) -> None:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class ScriptedServer:
    """Lifecycle, reply script and latency shared by FakeTwilio and FakeSendGrid."""

    handler_class: type[FakeHandler]

    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.url: str | None = None
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next create calls, first in first out."""
        with self._lock:
            self._script.extend(replies)

    def next_reply(self) -> Reply:
        """Take the next scripted answer and wait out latency and any slow step before it."""
        with self._lock:
            reply = self._script.popleft() if self._script else Reply.ok()
        delay = self.latency
        while reply.kind == "slow":
            delay += reply.seconds
            reply = reply.then
        if delay:
            # An Event wait rather than sleep, so stop() does not hang on a slow reply.
            self._stopping.wait(delay)
        return reply

    def start(self):
        self._stopping.clear()
        self._server = QuietServer(("127.0.0.1", 0), self.handler_class)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval keeps stop() fast; the default is half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
