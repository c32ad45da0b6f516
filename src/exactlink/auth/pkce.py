"""PKCE (RFC 7636, method S256) and the random ``state`` of an authorization request."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PkcePair:
    """A code verifier (kept secret until the code exchange) and its S256 challenge (sent in the URL)."""

    verifier: str
    challenge: str
    method: str = "S256"


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_pkce_pair() -> PkcePair:
    """A fresh verifier of 64 URL-safe characters (RFC 7636 allows 43-128) and its challenge."""
    verifier = _b64url(secrets.token_bytes(48))
    return PkcePair(verifier=verifier, challenge=s256_challenge(verifier))


def new_state() -> str:
    """An unguessable ``state`` value that ties the callback to this login attempt."""
    return secrets.token_urlsafe(24)
