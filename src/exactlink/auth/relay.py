"""The relay page: a one-click login with the https redirect URI Exact's App Center insists on.

Since July 2021 the App Center registers only https redirect URIs, and a command-line tool cannot serve https
on the office's own address. So exactlink listens on ``http://127.0.0.1:<free port>/callback`` as usual and
puts that port at the end of the OAuth ``state`` (``<random>.<port>``); the office hosts a small static page
at its registered https address, and that page sends the browser on to the loopback listener with Exact's
``code`` and ``state`` unchanged. exactlink still checks ``state`` (and PKCE) exactly as before, so the page
adds no trust: it only forwards. Without the page, the browser stops at the https address and the user pastes
that address into the terminal (the paste flow).

The page has no external resources and one inline script, allowed by its own hash in the page's
Content-Security-Policy; it forwards only to 127.0.0.1 and only a port between 1024 and 65535.
"""

from __future__ import annotations

import base64
import hashlib
import html

CALLBACK_PATH = "/callback"
LOOPBACK_HOST = "127.0.0.1"

_SCRIPT = """(function () {
  var query = window.location.search.replace(/^\\?/, "");
  var params = new URLSearchParams(query);
  var match = /\\.(\\d{4,5})$/.exec(params.get("state") || "");
  var port = match ? Number(match[1]) : 0;
  var status = document.getElementById("status");
  if (port >= 1024 && port <= 65535 && (params.has("code") || params.has("error"))) {
    status.textContent = "Back to exactlink\\u2026";
    window.location.replace("http://127.0.0.1:" + port + "/callback?" + query);
  } else {
    status.textContent = "This page did not come from an exactlink login. If exactlink asks for it, copy this "
      + "page's full address from the address bar into the terminal.";
  }
})();"""

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src '{script_hash}'; style-src 'unsafe-inline'">
<title>{title}</title>
</head>
<body style="font-family: sans-serif; margin: 2em; max-width: 40em; line-height: 1.4">
<h1>{title}</h1>
<p id="status">{waiting}</p>
<p>{explanation}</p>
<script>{script}</script>
</body>
</html>
"""


def relay_state(state: str, port: int) -> str:
    """The ``state`` to send with a relayed login: the unguessable part, then the loopback port."""
    if not 1024 <= port <= 65535:
        raise ValueError(f"the loopback port must be 1024 … 65535, not {port}")
    return f"{state}.{port}"


def relay_page() -> str:
    """The static page to host at the registered https redirect URI (see the module docstring)."""
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return _PAGE.format(
        lang="en",
        script_hash=f"sha256-{digest}",
        title=html.escape("exactlink login"),
        waiting=html.escape("Forwarding the Exact Online login to exactlink on this computer…"),
        explanation=html.escape(
            "This page belongs to the office's exactlink set-up. It passes the login answer of Exact Online on to "
            "exactlink, which waits on this computer; nothing is stored or sent anywhere else."
        ),
        script=_SCRIPT,
    )
