"""Collection GETs: query options, the endpoint's query rules, paging with ``$skiptoken`` and the JSON shape.

Pages are cut in the endpoint's natural order: by key for normal and bulk endpoints, by ``Timestamp``
for sync endpoints, by ``Code`` for division lists (or by ``$orderby`` when given). ``__next`` is a full
URL: the request's own query options plus ``$skiptoken``. In natural order the token is readable, as
Exact's is, and clients build it themselves (exact-evidence.md §8): ``guid'<last ID>'`` on ordinary
endpoints, ``<Timestamp>L`` on sync endpoints, ``<Code>`` on division lists; it means "the rows after this
key" for whatever query it comes with, and ``$top`` in the link is what is left of the original ``$top``.
Only under ``$orderby`` is the token opaque (a position, the rows served and a fingerprint of the query,
independent of the order of the parameters), so it is refused on another query. A page is only followed by
``__next`` when another row exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from exactlink.sandbox import odata
from exactlink.sandbox.endpoints import Endpoint, key_literal
from exactlink.sandbox.evidence import UNSUPPORTED_FILTER, Evidence

Record = Mapping[str, Any]
Ordered = Callable[[Any], Iterator[tuple[Any, Record]]]

SELECT_MESSAGE = "Please add a $select or a $top=1 statement to the query string."
_KNOWN_OPTIONS = frozenset(
    {"$filter", "$select", "$top", "$skip", "$skiptoken", "$orderby", "$inlinecount", "$format", "$expand"}
)
_INDEXABLE = frozenset({odata.GUID, odata.STRING, odata.INT16, odata.INT32, odata.INT64, odata.BYTE, odata.BOOLEAN})


@dataclass
class QueryOptions:
    """The validated ``$`` options of one request."""

    raw: list[tuple[str, str]]
    filter: odata.FilterExpression | None
    select: list[str] | None
    orderby: list[tuple[str, bool]] | None
    top: int | None
    skip: int
    inlinecount: bool
    skiptoken: str | None
    expand: dict[str, list[str] | None] = field(default_factory=dict)
    """Per expanded navigation property, the properties ``$select`` names of it (``None``: all)."""


def parse_options(
    params: list[tuple[str, str]],
    properties: dict[str, str],
    entity_type: str,
    navigation: Collection[str] = (),
) -> QueryOptions:
    """Check and parse the query options; raises ``ODataError`` for anything Exact would refuse.

    ``navigation`` names the endpoint's navigation properties, the ones ``$expand`` may name; ``$select`` may
    then name them too, whole (``BankAccounts``) or by property (``BankAccounts/BankAccount``).
    """
    seen: dict[str, str] = {}
    for name, value in params:
        if name.startswith("$"):
            if name not in _KNOWN_OPTIONS:
                raise odata.ODataError(
                    f"The query parameter '{name}' begins with a system-reserved '$' character but is not recognized."
                )
            if name in seen:
                raise odata.ODataError(
                    f"Query option '{name}' was specified more than once, but it must be specified at most once."
                )
            seen[name] = value
    if seen.get("$format", "json").lower() != "json":
        raise odata.ODataError("Only $format=json is supported.")
    names = list(properties)
    filter_text = seen.get("$filter")
    if filter_text is not None and not filter_text.strip():
        raise odata.ODataError("This $filter parameter is not supported for this resource.")
    inlinecount = seen.get("$inlinecount", "none")
    if inlinecount not in ("allpages", "none"):
        raise odata.ODataError("Invalid value for $inlinecount: use 'allpages' or 'none'.")
    expand = _parse_expand(seen.get("$expand"), navigation, entity_type)
    select_text = seen.get("$select")
    if select_text is not None and expand:
        select_text = _take_navigation_select(select_text, expand)
    return QueryOptions(
        raw=params,
        filter=odata.FilterExpression(filter_text, properties, entity_type) if filter_text is not None else None,
        select=odata.parse_select(select_text, names, entity_type) if select_text else None,
        orderby=odata.parse_orderby(seen["$orderby"], names, entity_type) if "$orderby" in seen else None,
        top=_count_option(seen, "$top"),
        skip=_count_option(seen, "$skip") or 0,
        inlinecount=inlinecount == "allpages",
        skiptoken=seen.get("$skiptoken"),
        expand=expand,
    )


def _parse_expand(text: str | None, navigation: Collection[str], entity_type: str) -> dict[str, list[str] | None]:
    if text is None:
        return {}
    expand: dict[str, list[str] | None] = {}
    for raw in text.split(","):
        name = raw.strip()
        if name not in navigation:
            raise odata.ODataError(f"No navigation property '{name}' exists in type '{entity_type}'.")
        expand[name] = None
    return expand


def _take_navigation_select(text: str, expand: dict[str, list[str] | None]) -> str:
    """``$select`` without its navigation items, which go into ``expand`` (``Nav/Prop`` narrows ``Nav``)."""
    own: list[str] = []
    for raw in text.split(","):
        head, _, tail = raw.strip().partition("/")
        if head in expand:
            if tail:
                expand[head] = [*(expand[head] or []), tail]
            continue
        own.append(raw)
    return ",".join(own)


def _count_option(seen: dict[str, str], name: str) -> int | None:
    if name not in seen:
        return None
    text = seen[name].strip()
    if not text.isdigit():
        raise odata.ODataError(f"Incorrect format for {name} argument '{seen[name]}'.")
    return int(text)


def enforce_rules(
    endpoint: Endpoint, options: QueryOptions, rules: Evidence | None = None, *, counting: bool = False
) -> None:
    """The endpoint's own rules: $select/$top=1, mandatory filter, sync filter and order restrictions.

    ``rules`` adds what the evidence knobs switch on: the mandatory filter where a sync API exists, and the
    refusal of the uncertain filter forms. ``counting`` (``/$count``) returns no properties, so it needs no
    ``$select``.
    """
    rules = rules or Evidence()
    if endpoint.select_rule == "select" and not options.select and not counting:
        raise odata.ODataError(SELECT_MESSAGE)
    if endpoint.select_rule == "select_or_top1" and not options.select and options.top != 1 and not counting:
        raise odata.ODataError(SELECT_MESSAGE)
    mandatory = endpoint.mandatory_filter
    if mandatory is None and rules.mandatory_filter_with_sync_api:
        mandatory = endpoint.filter_with_sync_api
    if mandatory is not None and (options.filter is None or not options.filter.properties() & mandatory):
        fields = ",".join(sorted(mandatory, key=str.lower))
        raise odata.ODataError(
            "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter "
            f"parameter with one of the following fields in the url:{fields}."
        )
    filtered = options.filter.properties() if options.filter is not None else set()
    if rules.refuse_returns_created_filter and endpoint.name == "read/financial/Returns" and "Created" in filtered:
        raise odata.ODataError(UNSUPPORTED_FILTER)
    if (
        rules.refuse_transaction_lines_code_filter
        and endpoint.name == "bulk/Financial/TransactionLines"
        and "GLAccountCode" in filtered
    ):
        raise odata.ODataError(UNSUPPORTED_FILTER)
    if endpoint.kind in ("sync", "deleted"):
        if options.filter is not None and options.filter.timestamp_cursor() is None:
            others = sorted(options.filter.properties() - {"Timestamp"})
            if others:
                raise odata.ODataError(f"Filtering on these fields is not supported: {', '.join(others)}.")
            raise odata.ODataError("Only a 'Timestamp gt <value>' filter is supported on this endpoint.")
        if options.orderby is not None or options.skip:
            raise odata.ODataError("$orderby and $skip are not supported on sync endpoints: page on Timestamp.")


def index_terms(options: QueryOptions, properties: dict[str, str]) -> list[tuple[str, Any]]:
    """The ``property eq literal`` terms an equality index can answer."""
    if options.filter is None:
        return []
    return [(name, value) for name, value in options.filter.equality_terms() if properties.get(name) in _INDEXABLE]


# ---------------------------------------------------------------------------------------------------
# Paging


def _fingerprint(endpoint: Endpoint, division: int | None, options: QueryOptions) -> str:
    parts = [endpoint.name, str(division)]
    parts += sorted(f"{name}={value}" for name, value in options.raw if name not in ("$skiptoken", "$top"))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


_GUID_TOKEN = re.compile(r"^guid'([^']*)'$", re.IGNORECASE)
_INT_TOKEN = re.compile(r"^(-?\d+)L?$", re.IGNORECASE)
_BAD_TOKEN = "The $skiptoken is not valid for this query: follow the __next link exactly as given."


def readable_token(position: Any, key_type: str) -> str:
    """Exact's form of a ``$skiptoken`` for a key: ``guid'…'``, ``123L`` (Int64 Timestamp) or ``123``."""
    return key_literal(position, key_type)


def _read_token(token: str, key_type: str) -> Any:
    """The key a readable ``$skiptoken`` names (it must be of the endpoint's key type)."""
    text = token.strip()
    guid = _GUID_TOKEN.match(text)
    if key_type == odata.GUID and guid and odata.is_guid(guid.group(1)):
        return guid.group(1).lower()
    number = _INT_TOKEN.match(text)
    if key_type != odata.GUID and number:
        return int(number.group(1))
    raise odata.ODataError(_BAD_TOKEN)


def _encode_token(position: Any, served: int, fingerprint: str) -> str:
    raw = json.dumps([position, served, fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> tuple[Any, int]:
    invalid = odata.ODataError(_BAD_TOKEN)
    try:
        padded = token + "=" * (-len(token) % 4)
        position, served, expected = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise invalid from None
    if expected != fingerprint or not isinstance(served, int):
        raise invalid
    return position, served


@dataclass
class Page:
    """One page of rows plus the position to continue from (None when this is the last page)."""

    rows: list[Record]
    next_position: Any
    served_after: int
    count: int | None


def fetch_page(
    endpoint: Endpoint,
    division: int | None,
    options: QueryOptions,
    ordered: Ordered,
    start: Any = None,
) -> tuple[Page, str]:
    """Cut one page from ``ordered(after)`` (records in natural order after a position).

    Returns the page and the query fingerprint that goes into the next ``$skiptoken``.
    """
    fingerprint = _fingerprint(endpoint, division, options)
    if options.skiptoken is None:
        position, served = start, 0
    elif options.orderby is not None:
        position, served = _decode_token(options.skiptoken, fingerprint)
    else:
        # A readable token: the rows after that key; what is left of $top came in the link's own $top.
        position, served = _read_token(options.skiptoken, endpoint.key_type), 0
        if start is not None and position < start:
            position = start  # a sync cursor in $filter still bounds the rows
    matches = options.filter.matches if options.filter is not None else None
    limit = endpoint.page_size if options.top is None else min(endpoint.page_size, max(options.top - served, 0))
    count = _count(ordered(start), matches) if options.inlinecount else None
    if options.orderby is not None:
        return _ordered_page(options, ordered(start), matches, position, served, limit, count), fingerprint
    rows: list[Record] = []
    last = None
    more = False
    to_skip = options.skip if options.skiptoken is None else 0
    for row_position, record in ordered(position):
        if matches is not None and not matches(record):
            continue
        if to_skip:
            to_skip -= 1
            continue
        if len(rows) >= limit:
            more = True
            break
        rows.append(record)
        last = row_position
    served_after = served + len(rows)
    if options.top is not None and served_after >= options.top:
        more = False
    return Page(rows, last if more else None, served_after, count), fingerprint


def count_matches(options: QueryOptions, ordered: Ordered, start: Any = None) -> int:
    """How many records the query's ``$filter`` selects (``/$count``; paging and ``$top`` do not apply)."""
    return _count(ordered(start), options.filter.matches if options.filter is not None else None)


def _count(iterator: Iterator[tuple[Any, Record]], matches: Callable[[Record], bool] | None) -> int:
    return sum(1 for _, record in iterator if matches is None or matches(record))


def _ordered_page(
    options: QueryOptions,
    iterator: Iterator[tuple[Any, Record]],
    matches: Callable[[Record], bool] | None,
    offset: Any,
    served: int,
    limit: int,
    count: int | None,
) -> Page:
    records = [record for _, record in iterator if matches is None or matches(record)][options.skip :]
    for name, descending in reversed(options.orderby or []):
        records.sort(key=_sorter(name), reverse=descending)
    begin = int(offset or 0)
    rows = records[begin : begin + limit]
    end = begin + len(rows)
    more = end < len(records) and (options.top is None or served + len(rows) < options.top)
    return Page(rows, end if more else None, served + len(rows), count)


def _sorter(name: str) -> Callable[[Record], tuple[int, Any]]:
    return lambda record: _sort_key(record.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (2, value)
    return (1, odata.as_utc(value).timestamp() if hasattr(value, "year") else value)


def next_link(
    base: str, path: str, endpoint: Endpoint, options: QueryOptions, position: Any, served: int, fingerprint: str
) -> str:
    """The full ``__next`` URL: the same query options plus a new ``$skiptoken`` (and the rest of ``$top``)."""
    if options.orderby is not None:
        token = _encode_token(position, served, fingerprint)
        dropped: tuple[str, ...] = ("$skiptoken",)
        params = [(name, value) for name, value in options.raw if name not in dropped]
    else:
        token = readable_token(position, endpoint.key_type)
        params = [(name, value) for name, value in options.raw if name not in ("$skiptoken", "$skip", "$top")]
        if options.top is not None:
            params.append(("$top", str(options.top - served)))
    params.append(("$skiptoken", token))
    query = "&".join(f"{quote(name, safe='$')}={quote(value, safe=chr(39) + '(),:')}" for name, value in params)
    return f"{base}{path}?{query}"


# ---------------------------------------------------------------------------------------------------
# JSON shape


def converters(properties: dict[str, str], names: list[str]) -> list[tuple[str, Callable[[Any], Any]]]:
    """Per selected property, the function that turns a record value into its JSON value."""
    result: list[tuple[str, Callable[[Any], Any]]] = []
    for name in names:
        edm_type = properties.get(name, odata.STRING)
        if edm_type == odata.INT64:
            # WCF Data Services (Exact's OData stack) writes Int64 values as JSON strings.
            result.append((name, _int64_text))
        else:
            result.append((name, odata.to_json_value))
    return result


def _int64_text(value: Any) -> Any:
    return None if value is None else str(value)


def shape(
    record: Record,
    fields: list[tuple[str, Callable[[Any], Any]]],
    entity_type: str,
    uri_prefix: str,
    key_field: str,
    key_type: str,
) -> dict[str, Any]:
    """One entity in OData v2 verbose JSON: ``__metadata`` first, then the properties."""
    result: dict[str, Any] = {
        "__metadata": {"uri": f"{uri_prefix}({key_literal(record.get(key_field), key_type)})", "type": entity_type}
    }
    for name, convert in fields:
        result[name] = convert(record.get(name))
    return result
