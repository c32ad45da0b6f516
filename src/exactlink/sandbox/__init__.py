"""The embedded Exact Online sandbox: generated data served with Exact's REST/OAuth rules, in-process or over HTTP.

``from exactlink.sandbox import Sandbox`` loads the server lazily, so modules that only need the data
contract (``exactlink.sandbox.model``) do not pull in httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactlink.sandbox.app import ClientGaveUp, ConnectionDropped, LoggedRequest, Sandbox
    from exactlink.sandbox.clock import Clock
    from exactlink.sandbox.evidence import Evidence
    from exactlink.sandbox.faults import Faults
    from exactlink.sandbox.server import RunningServer

__all__ = [
    "ClientGaveUp",
    "Clock",
    "ConnectionDropped",
    "Evidence",
    "Faults",
    "LoggedRequest",
    "RunningServer",
    "Sandbox",
]

_LOCATIONS = {
    "Sandbox": "exactlink.sandbox.app",
    "LoggedRequest": "exactlink.sandbox.app",
    "ConnectionDropped": "exactlink.sandbox.app",
    "ClientGaveUp": "exactlink.sandbox.app",
    "Clock": "exactlink.sandbox.clock",
    "Evidence": "exactlink.sandbox.evidence",
    "Faults": "exactlink.sandbox.faults",
    "RunningServer": "exactlink.sandbox.server",
}


def __getattr__(name: str) -> Any:
    module_name = _LOCATIONS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'exactlink.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
