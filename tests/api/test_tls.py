"""The TLS context exactlink's clients share: built once, the same trust httpx would use, the environment's CA
bundle honoured."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from exactlink.api.client import ExactClient
from exactlink.api.tls import verified_context
from exactlink.auth.oauth import OAuthApp, OAuthClient


def test_every_client_shares_one_verifying_context() -> None:
    context = verified_context()

    assert context is verified_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded


def test_the_context_follows_ssl_cert_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = verified_context()
    bundle = tmp_path / "one-root.pem"
    first_root = Path(certifi.where()).read_text(encoding="ascii").split("-----END CERTIFICATE-----")[0]
    bundle.write_text(first_root + "-----END CERTIFICATE-----\n", encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    own = verified_context()

    assert own is not default
    assert own.cert_store_stats()["x509_ca"] == 1
    monkeypatch.undo()  # the environment as it was
    assert verified_context() is default


class FixedToken:
    def access_token(self) -> str:
        return "token"


def test_new_clients_load_no_ca_bundle_again(monkeypatch: pytest.MonkeyPatch) -> None:
    verified_context()
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    app = OAuthApp("https://start.exactonline.nl", "client", "secret", "http://127.0.0.1:8765/callback")
    for _ in range(3):
        api = ExactClient("https://start.exactonline.nl", FixedToken())
        oauth = OAuthClient(app)
        oauth._http  # the token endpoint's client, made on first use  # noqa: B018
        api.close()
        oauth.close()

    assert loads == []
