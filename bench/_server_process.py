"""The sandbox served from a child process, as Exact Online is served from another machine.

A benchmark that serves the sandbox from a thread of its own process makes exactlink's threads share one
interpreter lock with the server they are measuring: at 20,000 administrations the server's work then counts as the
client's. The child is forked after the set-up (so it holds the prepared office without copying it through a pipe),
serves on the same port, and answers the benchmark's questions about what it saw over a pipe.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any


def _serve(sandbox: Any, port: int, conn: Connection) -> None:
    from exactlink.sandbox import Faults

    server = sandbox.serve(port=port)
    conn.send(server.base_url)
    while True:
        question, argument = conn.recv()
        if question == "stop":
            server.stop()
            conn.send(None)
            return
        if question == "reset":
            sandbox.reset_counters()
            conn.send(None)
        elif question == "latency":
            sandbox.faults = Faults(latency_ms=argument)
            conn.send(None)
        elif question == "figures":
            log = list(sandbox.request_log)
            statuses, endpoints = Counter(e.status for e in log), Counter(e.endpoint for e in log)
            conn.send({"calls": len(log), "statuses": statuses, "by_endpoint": endpoints})


class ServerProcess:
    """The sandbox's server in a forked child; ``figures()`` returns the calls it saw since ``reset()``."""

    def __init__(self, sandbox: Any, port: int) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(sandbox, port, child_end), daemon=True)
        self._process.start()
        self.base_url: str = self._conn.recv()

    def _ask(self, question: str, argument: Any = None) -> Any:
        self._conn.send((question, argument))
        return self._conn.recv()

    def reset(self) -> None:
        """Forget the calls seen so far."""
        self._ask("reset")

    def set_latency(self, latency_ms: float) -> None:
        """Add ``latency_ms`` to every answer from now on."""
        self._ask("latency", latency_ms)

    def figures(self) -> dict[str, Any]:
        """``calls``, ``statuses`` (Counter) and ``by_endpoint`` (Counter) since the last ``reset``."""
        return dict(self._ask("figures"))

    def stop(self) -> None:
        """Stop serving and end the child."""
        if self._process.is_alive():
            self._ask("stop")
        self._process.join(timeout=30)
