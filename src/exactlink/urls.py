"""Which URLs exactlink may send a token or the client secret to: https, or plain http on a loopback address."""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is a loopback IP literal (127.0.0.0/8 or ::1); a *name* such as ``localhost`` is not."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def insecure_url_problem(url: str) -> str | None:
    """Why ``url`` may not carry tokens or the client secret, or ``None`` when it may.

    https is required; plain http only for a loopback address (the sandbox on 127.0.0.1).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return None
    if parts.scheme == "http":
        return "must use https:// (plain http:// would send the refresh token and client secret readable)"
    return "must be an https:// address"
