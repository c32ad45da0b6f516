"""The Exact Online REST client: paging, pacing, the error budget, retries and token refresh.

``ExactClient`` knows nothing of SQLite or of where tokens are stored: it gets a :class:`TokenSource`
(``exactlink.auth.session.TokenProvider`` in production) and returns plain dicts or models.
It is safe to share between threads; each division is paced on its own.

Usage::

    with ExactClient(base_url, tokens) as client:
        me = client.me()
        for row in client.get_collection(me.CurrentDivision, "system/Divisions", select=Division.select()):
            ...
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import httpx

from exactlink import __version__
from exactlink.api.bounded import DEFAULT_MAX_ANSWER_BYTES, AnswerTooLarge, DeadlineExceeded, send_bounded
from exactlink.api.budget import Backoff, ErrorBudget, endpoint_name, is_retryable
from exactlink.api.errors import (
    ApiError,
    DivisionError,
    ForbiddenError,
    TransientApiError,
    UnauthorizedKind,
    UnauthorizedReason,
    administration,
    division_label,
    exact_error_message,
    forbidden_message,
    unauthorized_reason,
)
from exactlink.api.models import Me
from exactlink.api.odata import unwrap_collection, unwrap_entity
from exactlink.api.ratelimit import RateLimiter, RateLimitLog
from exactlink.errors import ExactlinkError, LoginRequired

log = logging.getLogger(__name__)

# Characters left readable in query strings: OData operators and literals (spaces become %20).
_QUERY_SAFE = "$,'()/:*"
LOGIN_AGAIN_HINT = "run `exactlink login` again"
MAX_RATE_LIMITED_RETRIES = 10
DEFAULT_MAX_PAGES = 10_000
"""The most pages one collection read follows (10,000 pages of up to 1,000 rows); more is a runaway ``__next``."""


class TokenSource(Protocol):
    """Where the client gets its bearer token (``exactlink.auth.session.TokenProvider``)."""

    def access_token(self) -> str:
        """A valid access token (refreshed first when it is about to expire)."""
        ...

    def refresh_after_unauthorized(self, rejected: str) -> str:
        """Exact refused ``rejected`` with 401: return a fresh token (refreshing at most once)."""
        ...

    def newer_token_than(self, rejected: str) -> str | None:
        """A stored access token other than ``rejected`` (another process refreshed), without refreshing."""
        ...


def build_query(params: Mapping[str, str | int]) -> str:
    """``$select=A,B&$filter=Code%20eq%20'…'``: OData options with their operators kept readable."""
    return "&".join(
        f"{urllib.parse.quote(str(key), safe='$')}={urllib.parse.quote(str(value), safe=_QUERY_SAFE)}"
        for key, value in params.items()
    )


def _describe_transport_error(exc: BaseException) -> str:
    if isinstance(exc, DeadlineExceeded):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped"
    return type(exc).__name__


class ExactClient:
    """An authenticated client for one Exact Online site (base URL).

    Args:
        base_url: e.g. ``https://start.exactonline.nl`` (no trailing ``/api``).
        tokens: supplies and refreshes the bearer token.
        transport: an httpx transport (tests pass the sandbox's or a ``MockTransport``).
        timeout: seconds per HTTP call, in total (connect, send and the whole answer; not per read).
        max_answer_bytes: the largest answer read; a larger one is refused while it streams in.
        max_pages: the most pages one collection read follows.
        limiter: per-division pacing; a fresh one by default.
        budget: the error budget; in memory by default (``open_client`` passes the shared file).
        rate_log: where the last rate-limit headers are recorded on :meth:`close`.
        sleep: how to wait between retries (injectable for tests).
        max_attempts: attempts per call for 5xx answers, time-outs and dropped connections.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        budget: ErrorBudget | None = None,
        rate_log: RateLimitLog | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff | None = None,
        max_attempts: int = 4,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        from exactlink.errors import ConfigError
        from exactlink.urls import insecure_url_problem

        self.base_url = base_url.rstrip("/")
        problem = insecure_url_problem(self.base_url)
        if problem:
            raise ConfigError(f"refusing to send the access token to {self.base_url}: it {problem}")
        self.tokens = tokens
        self.limiter = limiter or RateLimiter(sleep=sleep)
        self.budget = budget or ErrorBudget()
        self.rate_log = rate_log
        self.backoff = backoff or Backoff(sleep=sleep)
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self.max_pages = max_pages
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": f"exactlink/{__version__}"},
        )
        base = httpx.URL(self.base_url)
        self._origin = (base.scheme, base.host, base.port)
        self._me: Me | None = None

    # -- public calls -------------------------------------------------------------------------

    def me(self, *, refresh: bool = False) -> Me:
        """``current/Me``: who is logged in and their current division (cached per client)."""
        if self._me is None or refresh:
            rows = list(self.get_collection(None, "current/Me", select=Me.select()))
            if not rows:
                raise ApiError("Exact Online did not say who is logged in (current/Me was empty)")
            self._me = Me.parse(rows[0])
        return self._me

    def get_collection(
        self,
        division: int | None,
        path: str,
        *,
        select: str | Sequence[str],
        filter: str | None = None,
        top: int | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a collection, page by page, following ``d.__next`` verbatim.

        Args:
            division: the administration (``None`` only for ``current/Me``-style paths).
            path: e.g. ``crm/Accounts`` or ``sync/CRM/Accounts``.
            select: the ``$select`` fields (always required by this client).
            filter: the ``$filter`` expression (build literals with ``exactlink.api.odata``).
            top: ``$top``.
            params: further query options (e.g. ``{"$orderby": "Code"}``).
        """
        for page in self.get_pages(division, path, select=select, filter=filter, top=top, params=params):
            yield from page

    def get_pages(
        self,
        division: int | None,
        path: str,
        *,
        select: str | Sequence[str],
        filter: str | None = None,
        top: int | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of a collection as Exact sent them: one list of rows per successful GET (an empty
        collection is one empty page). Same arguments as :meth:`get_collection`, which yields their rows.

        For callers that commit per page or count the pages a read cost. The next page is requested only
        when the caller asks for it.
        """
        url: str | None = self._url(division, path, self._options(select, filter, top, params))
        endpoint = endpoint_name(path)
        page = 0
        followed: set[str] = set()
        while url:
            response = self._send("GET", url, division=division, endpoint=endpoint)
            rows, next_link = self._collection(response, division, endpoint)
            page += 1
            log.debug("%s division %s: page %d, %d rows", endpoint, division_label(division), page, len(rows))
            yield rows
            followed.add(url)
            url = self._next_url(next_link, division, endpoint) if next_link else None
            if url is not None:
                self._check_paging(url, followed, page, division, endpoint)

    def get_first(
        self,
        division: int | None,
        path: str,
        *,
        select: str | Sequence[str],
        filter: str | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any] | None:
        """The first row (``$top=1``) or ``None``."""
        url = self._url(division, path, self._options(select, filter, 1, params))
        endpoint = endpoint_name(path)
        response = self._send("GET", url, division=division, endpoint=endpoint)
        rows, _ = self._collection(response, division, endpoint)
        return rows[0] if rows else None

    def post(self, division: int, path: str, json: Mapping[str, Any]) -> dict[str, Any]:
        """Create an entity; returns it as Exact stored it. Not retried after 5xx/time-outs (see budget.py)."""
        endpoint = endpoint_name(path)
        response = self._send("POST", self._url(division, path), division=division, endpoint=endpoint, body=json)
        try:
            return unwrap_entity(self._json(response, division, endpoint))
        except ValueError as exc:
            raise ApiError(
                f"Exact Online's answer to creating {endpoint} was not understood: {exc}",
                division=division,
                endpoint=endpoint,
            ) from None

    def put(self, division: int, path: str, json: Mapping[str, Any]) -> None:
        """Update an entity addressed by key (``odata.key_path``); Exact answers 204 No Content."""
        endpoint = endpoint_name(path)
        self._send("PUT", self._url(division, path), division=division, endpoint=endpoint, body=json)

    def delete(self, division: int, path: str) -> None:
        """Delete an entity addressed by key; Exact answers 204 No Content."""
        endpoint = endpoint_name(path)
        self._send("DELETE", self._url(division, path), division=division, endpoint=endpoint)

    def download(self, division: int, url: str) -> bytes:
        """The raw bytes behind an Exact URL on this site (e.g. an attachment's ``Url`` + ``&Download=1``)."""
        endpoint = endpoint_name(httpx.URL(url).path)
        checked = self._next_url(url, division, endpoint)
        return self._send("GET", checked, division=division, endpoint=endpoint, accept="*/*").content

    def record_rate_limits(self) -> None:
        """Write the last rate-limit headers seen per division to the shared log (for ``status``)."""
        if self.rate_log is not None:
            try:
                self.rate_log.record(self.limiter.states())
            except (OSError, TimeoutError) as exc:
                log.warning("could not record the rate-limit state: %s", exc)

    def close(self) -> None:
        """Record the rate-limit state and close the connections (the token source's too, if it has any)."""
        self.record_rate_limits()
        self._http.close()
        close_tokens = getattr(self.tokens, "close", None)
        if callable(close_tokens):
            close_tokens()

    def __enter__(self) -> ExactClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _options(
        select: str | Sequence[str],
        filter: str | None,
        top: int | None,
        params: Mapping[str, str | int] | None,
    ) -> dict[str, str | int]:
        fields = select if isinstance(select, str) else ",".join(select)
        if not fields.strip():
            raise ValueError("$select must name at least one field")
        options: dict[str, str | int] = {"$select": fields}
        if filter:
            options["$filter"] = filter
        if top is not None:
            options["$top"] = top
        options.update(params or {})
        return options

    def _url(self, division: int | None, path: str, options: Mapping[str, str | int] | None = None) -> str:
        path = path.strip("/")
        url = f"{self.base_url}/api/v1/{path}" if division is None else f"{self.base_url}/api/v1/{division}/{path}"
        return f"{url}?{build_query(options)}" if options else url

    def _check_paging(self, url: str, followed: set[str], pages: int, division: int | None, endpoint: str) -> None:
        """Stop a ``__next`` chain that repeats itself or runs past ``max_pages``."""
        problem = None
        if url in followed:
            problem = "sent a next-page link it had already sent (the pages go round in a circle)"
        elif pages >= self.max_pages:
            problem = f"kept sending next-page links past {self.max_pages} pages"
        if problem:
            raise DivisionError(
                f"Exact Online {problem} for {endpoint} in {administration(division)}; stopped reading it",
                division=division,
                endpoint=endpoint,
            )

    def _next_url(self, link: str, division: int | None, endpoint: str) -> str:
        """A ``__next`` link, used verbatim; refused when it points away from this site (the token would go along)."""
        absolute = urllib.parse.urljoin(self.base_url + "/", link)
        target = httpx.URL(absolute)
        if (target.scheme, target.host, target.port) != self._origin:
            raise ApiError(
                f"Exact Online sent a next-page link to another host ({target.host}); refusing to follow it",
                division=division,
                endpoint=endpoint,
            )
        return absolute

    def _json(self, response: httpx.Response, division: int | None, endpoint: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"Exact Online sent an answer to {endpoint} that is not JSON (HTTP {response.status_code})",
                status=response.status_code,
                division=division,
                endpoint=endpoint,
            ) from None

    def _collection(
        self, response: httpx.Response, division: int | None, endpoint: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        try:
            return unwrap_collection(self._json(response, division, endpoint))
        except ValueError as exc:
            raise ApiError(
                f"Exact Online's answer to {endpoint} was not understood: {exc}", division=division, endpoint=endpoint
            ) from None

    def _send(
        self,
        method: str,
        url: str,
        *,
        division: int | None,
        endpoint: str,
        body: Mapping[str, Any] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        """One logical call: pacing, error budget, one refresh on 401, retries within the budget."""
        failures = 0
        rate_limited = 0
        refreshed = False
        token = self.tokens.access_token()
        while True:
            self.budget.begin(division, endpoint)
            try:
                self.limiter.acquire(division, endpoint)
            except BaseException:  # e.g. the daily limit is used up: the call was never made
                self.budget.end(division, endpoint, failed=False)
                raise
            headers = {"Authorization": f"Bearer {token}", "Accept": accept}
            if method in ("POST", "PUT"):
                headers["Content-Type"] = "application/json"
                headers["Prefer"] = "return=representation"
            try:
                request = self._http.build_request(method, url, headers=headers, json=body)
                response = send_bounded(self._http, request, deadline=self.timeout, max_bytes=self.max_answer_bytes)
            except AnswerTooLarge as exc:
                # Not retried: a server this talkative will be so again.
                self.limiter.release(division)
                self.budget.end(division, endpoint, failed=True)
                raise TransientApiError(
                    f"{method} {endpoint} for {administration(division)} failed: Exact Online's {exc}",
                    division=division,
                    endpoint=endpoint,
                    hint="if Exact Online really sends this much, raise exact.max_answer_megabytes",
                ) from None
            except httpx.TransportError as exc:
                self.limiter.release(division)
                self.budget.end(division, endpoint, failed=True)
                failures += 1
                what = _describe_transport_error(exc)
                if is_retryable(method, exc) and failures < self.max_attempts:
                    log.info("%s %s (division %s): %s; retrying", method, endpoint, division_label(division), what)
                    self.backoff.wait(failures)
                    continue
                raise TransientApiError(
                    f"{method} {endpoint} for {administration(division)} failed: {what}"
                    + (f" ({failures} attempts)" if failures > 1 else ""),
                    division=division,
                    endpoint=endpoint,
                ) from None

            status = response.status_code
            if status == 429:
                self.budget.end(division, endpoint, failed=False)
                rate_limited += 1
                if rate_limited > MAX_RATE_LIMITED_RETRIES:
                    raise DivisionError(
                        f"Exact Online kept refusing calls to {endpoint} for {administration(division)} "
                        "with 429 (too many requests)",
                        status=429,
                        division=division,
                        endpoint=endpoint,
                    )
                self.limiter.after_429(division, response.headers, endpoint)
                continue
            self.limiter.release(division, response.headers)
            if status == 401:
                self.budget.end(division, endpoint, failed=True)
                reason = unauthorized_reason(response.headers.get("WWW-Authenticate"))
                retry_with = None if refreshed else self._token_after_401(token, reason)
                if retry_with is None:
                    raise self._unauthorized(reason, division, endpoint)
                refreshed = True
                token = retry_with
                continue
            if status >= 500:
                self.budget.end(division, endpoint, failed=True)
                failures += 1
                if is_retryable(method, status) and failures < self.max_attempts:
                    label = division_label(division)
                    log.info("%s %s (division %s): HTTP %d; retrying", method, endpoint, label, status)
                    self.backoff.wait(failures)
                    continue
                text = exact_error_message(response.content)
                raise TransientApiError(
                    f"{method} {endpoint} for {administration(division)} failed: "
                    f"Exact Online answered HTTP {status}" + (f": {text}" if text else ""),
                    status=status,
                    division=division,
                    endpoint=endpoint,
                )
            if status >= 400:
                self.budget.end(division, endpoint, failed=True)
                raise self._error_for(response, division, endpoint)
            self.budget.end(division, endpoint, failed=False)
            return response

    def _token_after_401(self, rejected: str, reason: UnauthorizedReason) -> str | None:
        """The token to try once more after a 401, or ``None``: only an expired (or unexplained) refusal is a
        reason to refresh; an invalid token is retried only when another process has stored a newer one."""
        if reason.kind in (UnauthorizedKind.EXPIRED, UnauthorizedKind.UNSTATED):
            return self.tokens.refresh_after_unauthorized(rejected)
        if reason.kind is UnauthorizedKind.INVALID:
            return self.tokens.newer_token_than(rejected)
        return None

    @staticmethod
    def _unauthorized(reason: UnauthorizedReason, division: int | None, endpoint: str) -> ExactlinkError:
        """The error for a 401 that is not retried (again): Exact's reason named, "log in again" only when the
        reason is about the token."""
        because = f" ({reason.text})" if reason.text else ""
        if reason.kind is UnauthorizedKind.OTHER:
            # Not a login problem: no "log in again" while the stored login may well be fine.
            where = f"{endpoint} in {administration(division)}"
            return ApiError(
                f"Exact Online refused the call to {where} (HTTP 401): {reason.text}",
                status=401,
                division=division,
                endpoint=endpoint,
            )
        if reason.kind is UnauthorizedKind.INVALID:
            return LoginRequired(f"Exact Online says the access token is not valid{because}", hint=LOGIN_AGAIN_HINT)
        return LoginRequired(
            f"Exact Online refused the access token even after a refresh{because}", hint=LOGIN_AGAIN_HINT
        )

    @staticmethod
    def _error_for(response: httpx.Response, division: int | None, endpoint: str) -> Exception:
        status = response.status_code
        text = exact_error_message(response.content)
        if status == 403:
            reason = response.headers.get("Reason")
            return ForbiddenError(
                forbidden_message(reason, division, text), reason=reason, division=division, endpoint=endpoint
            )
        where = f"{endpoint} in {administration(division)}"
        if status == 404:
            message = f"not found: {where}" + (f" ({text})" if text else "")
        else:
            message = f"Exact Online rejected the call to {where} (HTTP {status})" + (f": {text}" if text else "")
        return ApiError(message, status=status, division=division, endpoint=endpoint)
