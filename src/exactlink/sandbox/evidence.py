"""Where the sandbox follows the public evidence about Exact Online, and the knobs for what is uncertain.

``RULES`` is the one table of the evidence the sandbox enforces (from the project's exact-evidence.md, each
with its verdict and source). :class:`Evidence` holds the switches. The default ``Evidence()`` answers as the
evidence says Exact does, every settled rule on (``Evidence.strict()`` is the same, with a way to set the
uncertain knobs); the *uncertain* forms (``allow_http_loopback``, ``refuse_*`` and ``too_early_refresh``) are
off, and a test turns each on to run the client against the other possible world. So by default the App
Center registers only https redirect URIs, as the real one does since July 2021; ``allow_http_loopback`` is
an App Center that still accepts ``http://127.0.0.1:PORT/…`` (the tests of exactlink's loopback login, and
``sandbox serve --allow-http-loopback``). ``Evidence.lenient()`` is the sandbox as it answered before it
followed the evidence, for tests that show both worlds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

# The message Exact gives for an unsupported filter (picqer/exact-php-client #532).
UNSUPPORTED_FILTER = "This $filter parameter is not supported for this resource."
# The refusal of a return that was sent another way; Exact's wording is unknown, so the sandbox names the rule.
NOT_MANUAL_APPROVAL = (
    "Only realized VAT or EC Sales List declarations with sent method 'Manual (with approval)' can be processed."
)
HTTPS_ONLY = "The redirect URI must use https (Exact Online App Center, since July 2021)."
PKCE_REFUSED = "The request contains parameters that are not supported: code_challenge, code_challenge_method."
# How long sync/Deleted keeps an entry ("Data older than 2 months is automatically deleted").
DELETED_LOG_DAYS = 61


@dataclass(frozen=True)
class Rule:
    """One piece of evidence: the knob that enforces it, the verdict, what Exact does, and the source."""

    knob: str
    verdict: str  # contradicts, at risk, unknown, consistent
    what: str
    source: str


RULES: tuple[Rule, ...] = (
    Rule(
        "https_redirect_only",
        "contradicts",
        "The App Center accepts only https redirect URIs, matched exactly.",
        "websmurf/laravel-exact-online #8; Exact API changes of July 2021",
    ),
    Rule(
        "allow_http_loopback",
        "unknown",
        "Whether an App Center still accepts an http loopback redirect URI (http://127.0.0.1:PORT/…) at all; "
        "the evidence says https only, so the knob is off unless a test of the loopback login turns it on.",
        "websmurf/laravel-exact-online #8 (refused); no public evidence of one accepted since July 2021",
    ),
    Rule(
        "read_only_ignored",
        "contradicts",
        "Read-only properties are skipped silently on POST and PUT (SolutionLinks.Status is GET-only).",
        "exactonline-api-dotnet-client #56 (Exact staff); REST reference accountancy/SolutionLinks",
    ),
    Rule(
        "skipped_writes",
        "at risk",
        "A documented-writable property may be skipped too (crm/Accounts.Code was; PUTs answer 204 all the same).",
        "picqer #416, #432; exactonline-api-dotnet-client #56",
    ),
    Rule(
        "mandatory_filter_with_sync_api",
        "at risk",
        "financial/GLAccounts and bulk/Financial/TransactionLines need a $filter (a sync API exists for both).",
        "Exact announcement 'mandatory filtering where sync APIs are available'; picqer #591",
    ),
    Rule(
        "manual_approval_only",
        "contradicts",
        "ProcessReturn processes only returns sent 'Manual (with approval)'; others are refused.",
        "REST reference financial/ProcessReturn",
    ),
    Rule(
        "deleted_log",
        "consistent",
        "sync/Deleted keeps entries for two months only (always on).",
        "REST reference sync/Deleted",
    ),
    Rule(
        "deleted_entity_types",
        "consistent",
        "A deleted record appears in sync/Deleted with its EntityType: 1 transaction lines, 2 accounts, 3 addresses, "
        "5 contacts, 7 G/L accounts, 48 (payroll) bank accounts (always on).",
        "picqer/exact-php-client SyncDeleted.php (exact-api.md §4.8)",
    ),
    Rule(
        "division_move",
        "consistent",
        "A division moved to another database gets new Timestamps and a DivisionMoveDate (Sandbox.move_division).",
        "REST reference sync/Deleted",
    ),
    Rule(
        "solution_link_delete",
        "consistent",
        "accountancy/SolutionLinks supports DELETE (always on).",
        "REST reference accountancy/SolutionLinks",
    ),
    Rule(
        "amsterdam_time",
        "at risk",
        "/Date(ms)/ is Amsterdam wall-clock time (CET/CEST); datetime'…' literals are read as it (always on).",
        "airbytehq/airbyte PR #23831 (source-exact, citing Exact's REST FAQ); exactonline-api-dotnet-client PR #24",
    ),
    Rule(
        "unauthorized_reason",
        "consistent",
        "A 401 names its reason, URL-encoded, in WWW-Authenticate ('access token expired', 'message expired').",
        "airbytehq/airbyte source-exact (run against the real service)",
    ),
    Rule(
        "readable_skiptoken",
        "contradicts",
        "$skiptoken is readable and clients build it: guid'<last ID>' on ordinary endpoints, <Timestamp>L on sync "
        "endpoints; it does not depend on the query or the order of its parameters (always on).",
        "Exact's REST docs (the guid'…' example); tap-exactonline's incremental cursor",
    ),
    Rule(
        "atom_without_accept",
        "contradicts",
        "A GET without Accept: application/json (or $format=json) is answered 200 in Atom XML, not 406 (always on).",
        "airbytehq/airbyte source-exact streams.py ('default for Exact is XML'); exact-evidence.md §8",
    ),
    Rule(
        "full_property_lists",
        "contradicts",
        "Every public property of crm/Accounts, crm/Addresses and crm/Contacts can be selected (null where the "
        "sandbox does not model it); only a name that is no property at all is a 400 (always on).",
        "picqer/exact-php-client Account.php, Address.php; leapforce-libraries/go_exactonline contact.go",
    ),
    Rule(
        "expand",
        "consistent",
        "crm/Accounts supports $expand=BankAccounts ($select may name BankAccounts/<property>) (always on).",
        "picqer/exact-php-client Account.php (BankAccounts: collection of bank accounts); exact-evidence.md §8",
    ),
    Rule(
        "hrm_divisions_and_count",
        "consistent",
        "hrm/Divisions lists the divisions; <collection>/$count answers the number of matching rows (always on).",
        "ossobv/exactonline get_divisions(); Exact's .NET SDK Count()",
    ),
    Rule(
        "refuse_returns_created_filter",
        "unknown",
        "read/financial/Returns may refuse '$filter=Created ge datetime'…''.",
        "picqer #532 (other endpoints)",
    ),
    Rule(
        "refuse_transaction_lines_code_filter",
        "unknown",
        "bulk/Financial/TransactionLines may refuse a filter on GLAccountCode.",
        "picqer #500 (other endpoints)",
    ),
    Rule(
        "refuse_pkce",
        "unknown",
        "No public client sends PKCE to Exact; the authorization page may refuse code_challenge.",
        "no public evidence",
    ),
    Rule(
        "too_early_refresh",
        "unknown",
        "A refresh before the access token's last 30 s is refused; the exact status and wording are unknown.",
        "ossobv/exactonline api/autorefresh.py (the text), picqer #644",
    ),
)
SETTLED = ("https_redirect_only", "read_only_ignored", "mandatory_filter_with_sync_api", "manual_approval_only")


@dataclass(frozen=True)
class TooEarly:
    """Another answer to a too-early refresh: its status, OAuth ``error`` and ``error_description``."""

    status: int
    error: str
    description: str


@dataclass(frozen=True)
class Evidence:
    """The sandbox's switches for the evidence in ``RULES`` (see the module docstring)."""

    https_redirect_only: bool = True
    allow_http_loopback: bool = False
    read_only_ignored: bool = True
    mandatory_filter_with_sync_api: bool = True
    manual_approval_only: bool = True
    refuse_returns_created_filter: bool = False
    refuse_transaction_lines_code_filter: bool = False
    refuse_pkce: bool = False
    too_early_refresh: TooEarly | None = None
    skipped_writes: frozenset[tuple[str, str]] = frozenset()
    """``(endpoint, property)`` pairs skipped silently on POST and PUT although writable."""

    @classmethod
    def strict(cls, **uncertain: object) -> Evidence:
        """Every rule the evidence settles as Exact applies it (as ``Evidence()``); ``uncertain`` sets the uncertain
        knobs (``allow_http_loopback``, ``refuse_*``, ``too_early_refresh``)."""
        settled = {name: True for name in SETTLED}
        return replace(cls(**settled), **uncertain)  # type: ignore[arg-type]

    @classmethod
    def lenient(cls, **knobs: object) -> Evidence:
        """The sandbox before it followed the evidence: every settled rule off (to show both worlds in tests)."""
        return replace(cls(**{name: False for name in SETTLED}), **knobs)  # type: ignore[arg-type]

    def refused_redirect_uri(self, redirect_uri: str) -> str | None:
        """Why the App Center refuses this redirect URI (``HTTPS_ONLY``), or None when it accepts it."""
        if not self.https_redirect_only or redirect_uri.startswith("https://"):
            return None
        if self.allow_http_loopback and _http_loopback(redirect_uri):
            return None
        return HTTPS_ONLY

    def changed(self, **knobs: object) -> Evidence:
        """A copy with some knobs set (unknown names are a TypeError, as with the constructor)."""
        known = {field.name for field in fields(self)}
        unknown = sorted(set(knobs) - known)
        if unknown:
            raise TypeError(f"unknown evidence knob(s): {', '.join(unknown)}")
        return replace(self, **knobs)  # type: ignore[arg-type]


def _http_loopback(redirect_uri: str) -> bool:
    """An ``http://`` URI on a loopback IP literal (127.0.0.0/8 or ::1; a name such as localhost is not one)."""
    parts = urlsplit(redirect_uri)
    try:
        return parts.scheme == "http" and ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False
