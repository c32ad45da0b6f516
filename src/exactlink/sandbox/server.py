"""The sandbox's two transports: an in-process httpx transport and a threaded HTTP server on 127.0.0.1.

Both pass every request to ``Sandbox.handle`` unchanged, so a test gets the same answers either way.
The HTTP server speaks HTTP/1.1 with keep-alive, one daemon thread per connection (``ThreadingHTTPServer``)
and a deep accept queue, so hundreds of concurrent clients (the benchmarks run 500 divisions at once)
really overlap. A dropped-connection fault closes the socket without a byte of answer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from exactlink.sandbox.app import ClientGaveUp, ConnectionDropped

if TYPE_CHECKING:
    from exactlink.sandbox.app import Sandbox


class SandboxTransport(httpx.BaseTransport):
    """Answer httpx requests in-process: ``httpx.Client(transport=sandbox.transport(), base_url=…)``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the sandbox; faults surface as the httpx errors a real network gives."""
        body = request.read()
        timeouts = request.extensions.get("timeout") or {}
        try:
            status, headers, content = self.sandbox.handle(
                request.method, str(request.url), dict(request.headers.items()), body, read_timeout=timeouts.get("read")
            )
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        except ClientGaveUp:
            raise httpx.ReadTimeout("The read operation timed out", request=request) from None
        return httpx.Response(status, headers=headers, content=content, request=request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up mid-answer are normal here (timeouts, drops): stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 300  # idle keep-alive connections end after five minutes
    wbufsize = -1  # buffer the answer: headers and body leave in one send, flushed explicitly

    def setup(self) -> None:
        super().setup()
        # Small answers on keep-alive connections would otherwise wait for Nagle + delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"{self.server.server_name}:{self.server.server_port}"
        try:
            status, headers, content = self.server.sandbox.handle(
                self.command, f"http://{host}{self.path}", dict(self.headers.items()), body
            )
        except (ConnectionDropped, ClientGaveUp):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """The sandbox keeps its own request log; no access log on stderr."""


class RunningServer:
    """A sandbox HTTP server running in a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self._server = _Server((host, port), sandbox)
        self.host: str = str(self._server.server_address[0])
        self.port: int = int(self._server.server_address[1])
        # stop() waits for the serve loop to see the request, up to one poll: short, because tests start and stop
        # hundreds of sandboxes (50 idle wake-ups a second cost nothing measurable).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="exactlink-sandbox", daemon=True
        )
        self._thread.start()
        self._stopped = False

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: what ``EXACTLINK_BASE_URL`` should be."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop accepting, close open connections and wait for the server thread."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        with self._server.connections_lock:
            open_connections = list(self._server.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
