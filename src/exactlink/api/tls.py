"""One TLS context per process for every connection exactlink makes.

httpx builds a fresh SSL context for every client and transport it creates, and loading the CA bundle into
it costs tens of milliseconds of CPU each time; one command creates several clients (token endpoint, API,
doctor) and a long-running ``sync --watch`` or the test suite many more. :func:`verified_context` is the
context httpx would build itself (certifi's bundle, or the ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` of the
environment, which httpx honours), built once per value of those variables.
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx


def verified_context() -> ssl.SSLContext:
    """The certificate-verifying TLS context for connections to Exact Online (shared; never modify it)."""
    return _context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # The arguments are the cache key: httpx reads the same two variables from the environment.
    return httpx.create_ssl_context()
