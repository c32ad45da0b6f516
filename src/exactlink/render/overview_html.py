"""The overview page: one self-contained HTML file (inline style and script, no request to anywhere).

The page is built from the template, style and script that ship as resource files next to this module. Every
value from the CRM or Exact Online goes through :func:`html.escape`; the Content-Security-Policy allows only this
page's own style and script (by hash), so nothing else can load or run even when the file is opened from a share.
Without script the page is complete: the table is in due-date order and nothing is hidden; the script adds
sorting by any column and the filters (relation, kind, Exact status, "to do within N days").

The table's markup is kept lean (implied end tags, short row classes) so 20,000 returns stay well under 3 MB.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from html import escape
from importlib.resources import files

from exactlink.domain.overview import DueState, Overview, RelationBlock, ReturnLine

ATTENTION_LIMIT = 25
"""How many entries each list of the header shows before "and N more (see the table)"."""

_ROW_CLASS = {
    DueState.OVERDUE: "o",
    DueState.SOON: "s",
    DueState.OPEN: "p",
    DueState.NO_DATE: "n",
    DueState.DONE: "d",
}

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Aangiftes en vraagposten",
        "office": "Kantoor",
        "generated": "Gemaakt op {moment}",
        "from_run": "na ophaalronde {run} van {moment} ({outcome})",
        "no_run": "er is nog geen ophaalronde geweest (exactlink fetch-returns)",
        "attention": "Aandacht nodig",
        "due_soon": "Binnen 7 dagen te doen",
        "overdue": "Te laat",
        "waiting": "Gerealiseerd, wacht op terugkoppeling",
        "failed": "Ophalen mislukt",
        "unlinked": "Relaties niet gekoppeld aan Exact Online",
        "no_admin": "Gekoppeld, maar zonder klantadministratie",
        "nothing": "niets",
        "more": "en nog {n} (zie de tabel hieronder)",
        "more_plain": "en nog {n}",
        "returns": "Aangiftes",
        "caption": "Alle opgehaalde aangiftes, op vervaldatum; rood: te laat, geel: binnen 7 dagen",
        "relation": "Relatie",
        "administration": "Administratie",
        "kind": "Soort",
        "period": "Periode",
        "amount": "Bedrag (€)",
        "due": "Vervaldatum",
        "days": "Dagen",
        "exact_status": "Status in Exact",
        "local": "Eigen status",
        "filter_relation": "Relatie (nummer of naam)",
        "filter_kind": "Soort",
        "filter_status": "Status in Exact",
        "filter_within": "Te doen binnen … dagen",
        "all": "alle",
        "reset": "Alles tonen",
        "shown": "{n} van {m} aangiftes passen",
        "paged": " (de eerste {k} staan in de tabel)",
        "more_rows": "Toon {k} meer",
        "sort_hint": "Sorteren",
        "late": "te laat",
        "today": "vandaag",
        "late_by": "{n} dagen te laat",
        "late_by_one": "1 dag te laat",
        "in_days": "over {n} dagen",
        "in_days_one": "morgen",
        "computed": "*",
        "legend": "* vervaldatum berekend uit de periode (Exact Online gaf er geen). "
        "Dagen: tot de vervaldatum, negatief is te laat. Status in Exact zoals Exact Online hem noemt.",
        "per_relation": "Per relatie",
        "show_in_table": "toon in de tabel",
        "returns_line": "Aangiftes: {n}; te doen {open}, te laat {late}",
        "next_due": "eerstvolgende: {what} op {due}",
        "no_returns": "Aangiftes: geen opgehaald",
        "vraagposten": "Open vraagposten: {n}, samen {total}, oudste van {oldest}",
        "no_vraagposten": "Open vraagposten: geen",
        "link_ok": "Koppeling: Exact-relatie {code}, administratie {division}",
        "link_none": "Niet gekoppeld aan een relatie in Exact Online (exactlink match)",
        "admin_none": "Geen klantadministratie gekoppeld (exactlink link-admin {rel} DIVISIE)",
        "fetched": "laatst opgehaald {moment}",
        "never_fetched": "nog nooit opgehaald",
        "fetch_failed": "Laatste ophaalronde mislukt: {reason}",
        "ok": "gelukt",
        "partial": "deels gelukt",
        "failed_run": "mislukt",
        "interrupted": "onderbroken",
        "footer": "Gemaakt door exactlink uit de lokale kopie; vernieuwd na elke ophaalronde met --report.",
        "new": "nieuw",
        "processed": "verwerkt",
        "rejected": "afgewezen",
        "fb_pending": "nog te melden",
        "fb_reported": "gemeld",
        "fb_failed": "melden mislukt",
        "fb_refused": "geweigerd door Exact",
        "at": "om",
    },
    "en": {
        "title": "Tax returns and vraagposten",
        "office": "Office",
        "generated": "Generated {moment}",
        "from_run": "after fetch run {run} of {moment} ({outcome})",
        "no_run": "no fetch run yet (exactlink fetch-returns)",
        "attention": "Needs attention",
        "due_soon": "Due within 7 days",
        "overdue": "Overdue",
        "waiting": "Realised, waiting for feedback",
        "failed": "Fetch failed",
        "unlinked": "Relations not linked to Exact Online",
        "no_admin": "Linked, but no client administration",
        "nothing": "none",
        "more": "and {n} more (see the table below)",
        "more_plain": "and {n} more",
        "returns": "Returns",
        "caption": "Every fetched return, by due date; red: overdue, yellow: due within 7 days",
        "relation": "Relation",
        "administration": "Administration",
        "kind": "Kind",
        "period": "Period",
        "amount": "Amount (€)",
        "due": "Due date",
        "days": "Days",
        "exact_status": "Exact status",
        "local": "Office status",
        "filter_relation": "Relation (number or name)",
        "filter_kind": "Kind",
        "filter_status": "Exact status",
        "filter_within": "To do within … days",
        "all": "all",
        "reset": "Show all",
        "shown": "{n} of {m} returns match",
        "paged": " (the first {k} are in the table)",
        "more_rows": "Show {k} more",
        "sort_hint": "Sort",
        "late": "overdue",
        "today": "today",
        "late_by": "{n} days overdue",
        "late_by_one": "1 day overdue",
        "in_days": "in {n} days",
        "in_days_one": "tomorrow",
        "computed": "*",
        "legend": "* due date computed from the period (Exact Online gave none). "
        "Days: until the due date, negative is overdue. Exact status as Exact Online names it.",
        "per_relation": "Per relation",
        "show_in_table": "show in the table",
        "returns_line": "Returns: {n}; to do {open}, overdue {late}",
        "next_due": "next: {what} on {due}",
        "no_returns": "Returns: none fetched",
        "vraagposten": "Open vraagposten: {n}, together {total}, oldest of {oldest}",
        "no_vraagposten": "Open vraagposten: none",
        "link_ok": "Link: Exact relation {code}, administration {division}",
        "link_none": "Not linked to a relation in Exact Online (exactlink match)",
        "admin_none": "No client administration linked (exactlink link-admin {rel} DIVISION)",
        "fetched": "last fetched {moment}",
        "never_fetched": "never fetched",
        "fetch_failed": "Last fetch failed: {reason}",
        "ok": "ok",
        "partial": "partly ok",
        "failed_run": "failed",
        "interrupted": "interrupted",
        "footer": "Made by exactlink from the local mirror; refreshed after each fetch run with --report.",
        "new": "new",
        "processed": "processed",
        "rejected": "rejected",
        "fb_pending": "to report",
        "fb_reported": "reported",
        "fb_failed": "report failed",
        "fb_refused": "refused by Exact",
        "at": "at",
    },
}

KIND_WORDS = {
    "nl": {"btw": "BTW", "btw_suppletie": "BTW suppletie", "icp": "ICP", "loonheffing": "loonheffingen"},
    "en": {"btw": "VAT", "btw_suppletie": "VAT suppletie", "icp": "ICP", "loonheffing": "payroll tax"},
}
MONTHS = {
    "nl": [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
WEEKDAYS = {
    "nl": ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


@cache
def _resource(name: str) -> str:
    return files("exactlink.render").joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@cache
def _status_word(lang: str, status: int | None, dutch: str) -> str:
    from exactlink.domain.returns import status_name

    return status_name(status) if lang == "en" else dutch.split(" (", 1)[0]


class _Words:
    """The page's words and number/date formats in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.text = TEXTS[lang]

    def __getitem__(self, key: str) -> str:
        return self.text[key]

    def amount(self, value: float | None, currency: str = "EUR", *, sign: bool = True) -> str:
        """``€ 1.234,50`` (nl) or ``€ 1,234.50`` (en); without ``sign`` a euro amount is the number alone."""
        if value is None:
            return ""
        text = f"{value:,.2f}"
        if self.lang == "nl":
            text = text.replace(",", "_").replace(".", ",").replace("_", ".")
        if currency == "EUR":
            return f"€ {text}" if sign else text
        return f"{currency} {text}"

    def day(self, value: date) -> str:
        return f"{value.day} {MONTHS[self.lang][value.month - 1]} {value.year}"

    def moment(self, value: datetime, *, weekday: bool = False) -> str:
        prefix = f"{WEEKDAYS[self.lang][value.weekday()]} " if weekday else ""
        return f"{prefix}{self.day(value.date())} {self['at']} {value:%H:%M}"

    def kind(self, line: ReturnLine) -> str:
        return KIND_WORDS[self.lang].get(line.kind, line.kind_label)

    def status(self, line: ReturnLine) -> str:
        """Exact's status word: the Dutch word Exact shows (without the explanation), or Exact's English name."""
        return _status_word(self.lang, line.exact_status, line.exact_status_text)

    def local(self, line: ReturnLine) -> str:
        word = self.text.get(line.local_status, line.local_status)
        if line.feedback_state in ("none", ""):
            return word
        return f"{word}, {self.text.get('fb_' + line.feedback_state, line.feedback_state)}"

    def outcome(self, outcome: str) -> str:
        return self.text.get({"failed": "failed_run"}.get(outcome, outcome), outcome)


def _administration(line: ReturnLine) -> str:
    """The division, and its name when that says more than the relation's name next to it."""
    name = " ".join((line.administration or "").split())
    if not name or name.casefold() == " ".join(line.relation_name.split()).casefold():
        return str(line.division)
    return f"{line.division} {name}"


def _days(line: ReturnLine, words: _Words) -> str:
    if line.days_left is None:
        return ""
    if line.state is DueState.OVERDUE:
        return f"{line.days_left} ({words['late']})"
    return str(line.days_left)


def _row(line: ReturnLine, words: _Words) -> str:
    due = line.due_date.isoformat() + (words["computed"] if line.due_computed else "") if line.due_date else "—"
    cells = (
        line.relation_number,  # the name is in the relation's block (the script adds it to the column)
        _administration(line),
        words.kind(line),
        line.period,
        words.amount(line.amount, line.currency, sign=False),
        due,
        _days(line, words),
        words.status(line),
        words.local(line),
    )
    return f"<tr class={_ROW_CLASS[line.state]}><td>" + "<td>".join(escape(cell, quote=False) for cell in cells)


def _what(line: ReturnLine, words: _Words) -> str:
    return f"{words.kind(line)} {line.period}"


def _when(days_left: int, words: _Words) -> str:
    """``3 dagen te laat``, ``vandaag``, ``over 2 dagen`` (and the English)."""
    if days_left == 0:
        return words["today"]
    key = "late_by" if days_left < 0 else "in_days"
    return words[key + ("_one" if abs(days_left) == 1 else "")].format(n=abs(days_left))


def _return_item(line: ReturnLine, words: _Words) -> str:
    due = line.due_date.isoformat() if line.due_date else "—"
    days = f" ({_when(line.days_left, words)})" if line.days_left is not None else ""
    who = f"{line.relation_number} {line.relation_name}".strip()
    return escape(f"{who}: {_what(line, words)}, {due}{days}")


def _attention_list(heading: str, items: list[str], words: _Words, tone: str, *, more_in_table: bool = True) -> str:
    tone_class = f' class="{tone}"' if tone and items else ""
    parts = [f"<section{tone_class}><h3>{escape(heading)} ({len(items)})</h3>"]
    if not items:
        parts.append(f'<p class="none">{escape(words["nothing"])}</p></section>')
        return "".join(parts)
    parts.append("<ul>")
    parts.extend(f"<li>{item}</li>" for item in items[:ATTENTION_LIMIT])
    if len(items) > ATTENTION_LIMIT:
        more = words["more" if more_in_table else "more_plain"].format(n=len(items) - ATTENTION_LIMIT)
        parts.append(f"<li>{escape(more)}</li>")
    parts.append("</ul></section>")
    return "".join(parts)


def _relation_name(block: RelationBlock) -> str:
    return escape(f"{block.relation_number} {block.name}".strip())


def _attention(overview: Overview, words: _Words) -> str:
    failed = [
        f"{_relation_name(block)} ({escape(str(block.division))}): {escape(block.last_fetch_error or '')}"
        for block in overview.failed_fetches
    ]
    sections = [
        _attention_list(words["overdue"], [_return_item(x, words) for x in overview.overdue], words, "bad"),
        _attention_list(words["due_soon"], [_return_item(x, words) for x in overview.due_soon], words, "warn"),
        _attention_list(words["waiting"], [_return_item(x, words) for x in overview.waiting_for_feedback], words, ""),
        _attention_list(words["failed"], failed, words, "bad", more_in_table=False),
        _attention_list(
            words["unlinked"], [_relation_name(b) for b in overview.unlinked], words, "", more_in_table=False
        ),
        _attention_list(
            words["no_admin"],
            [_relation_name(b) for b in overview.without_administration],
            words,
            "",
            more_in_table=False,
        ),
    ]
    return (
        f'<section aria-labelledby="attention"><h2 id="attention">{escape(words["attention"])}</h2>'
        f'<div class="attention">{"".join(sections)}</div></section>'
    )


def _options(values: Iterable[str], words: _Words) -> str:
    options = [f'<option value="">{escape(words["all"])}</option>']
    options.extend(f"<option>{escape(value)}</option>" for value in values)
    return "".join(options)


def _returns_table(overview: Overview, words: _Words) -> str:
    kinds = sorted({words.kind(line) for line in overview.returns})
    statuses = sorted({words.status(line) for line in overview.returns})
    headers = (
        ("relation", "text"),
        ("administration", "text"),
        ("kind", "text"),
        ("period", "text"),
        ("amount", "num"),
        ("due", "text"),
        ("days", "num"),
        ("exact_status", "text"),
        ("local", "text"),
    )
    head = "".join(f'<th scope="col" data-type="{kind}">{escape(words[name])}</th>' for name, kind in headers)
    script_texts = {  # the words the script puts on the page
        "decimal": "," if words.lang == "nl" else ".",
        "shown": words["shown"],
        "paged": words["paged"],
        "more": words["more_rows"],
        "relation-link": words["show_in_table"],
        "sort-hint": words["sort_hint"],
    }
    data = " ".join(f'data-{name}="{escape(value)}"' for name, value in script_texts.items())
    form = (
        f'<form id="filters" hidden {data}>'
        f'<label>{escape(words["filter_relation"])}<input name="relation" type="search" autocomplete="off"></label>'
        f'<label>{escape(words["filter_kind"])}<select name="kind">{_options(kinds, words)}</select></label>'
        f'<label>{escape(words["filter_status"])}<select name="status">{_options(statuses, words)}</select></label>'
        f'<label>{escape(words["filter_within"])}<input name="within" type="number" min="0" step="1" '
        f'inputmode="numeric"></label>'
        f'<button type="reset">{escape(words["reset"])}</button>'
        f'<output id="shown" aria-live="polite"></output></form>'
    )
    rows = "\n".join(_row(line, words) for line in overview.returns)
    # Without script the browser shows the table inside <noscript> as it is. With script that markup stays
    # text (never 20,000 rows of DOM to lay out): the script reads the rows from it and shows a page at a time.
    return (
        f'<section aria-labelledby="returns"><h2 id="returns">{escape(words["returns"])}</h2>{form}'
        f'<noscript id="returns-source"><div class="scroll" tabindex="0" role="region" '
        f'aria-labelledby="returns-caption"><table id="returns-table">'
        f'<caption id="returns-caption">{escape(words["caption"])}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table></div></noscript>"
        f'<div id="returns-live" hidden></div>'
        f'<p class="legend">{escape(words["legend"])}</p></section>'
    )


def _relation_block(block: RelationBlock, words: _Words) -> str:
    lines: list[str] = []
    if block.returns:
        to_do = [line for line in block.returns if line.state in (DueState.OVERDUE, DueState.SOON, DueState.OPEN)]
        late = sum(1 for line in to_do if line.state is DueState.OVERDUE)
        text = words["returns_line"].format(n=len(block.returns), open=len(to_do), late=late)
        upcoming = [line for line in to_do if line.due_date is not None]
        if upcoming:
            first = min(upcoming, key=lambda line: line.due_date or date.max)
            text += "; " + words["next_due"].format(what=_what(first, words), due=first.due_date)
        lines.append(f"<p{' class=bad' if late else ''}>{escape(text)}</p>")
    else:
        lines.append(f"<p>{escape(words['no_returns'])}</p>")
    if block.vraagposten is not None and block.vraagposten.count:
        summary = block.vraagposten
        oldest = summary.oldest.isoformat() if summary.oldest else "?"
        lines.append(
            "<p>"
            + escape(words["vraagposten"].format(n=summary.count, total=words.amount(summary.total), oldest=oldest))
            + "</p>"
        )
    else:
        lines.append(f"<p>{escape(words['no_vraagposten'])}</p>")
    lines.append(_link_health(block, words))
    return (
        f'<section class=rel id="r{escape(block.relation_number)}" data-n="{len(block.returns)}">'
        f"<h3>{_relation_name(block)}</h3>{''.join(lines)}</section>"
    )


def _link_health(block: RelationBlock, words: _Words) -> str:
    if not block.account_linked:
        return f"<p class=bad>{escape(words['link_none'])}</p>"
    if block.division is None:
        return f"<p class=bad>{escape(words['admin_none'].format(rel=block.relation_number))}</p>"
    division = str(block.division)
    if (
        block.administration
        and " ".join(block.administration.split()).casefold() != " ".join(block.name.split()).casefold()
    ):
        division += f" {block.administration}"
    text = words["link_ok"].format(code=block.account_code or "?", division=division)
    fetched = (
        words["fetched"].format(moment=f"{block.last_fetch_at:%Y-%m-%d %H:%M}")
        if block.last_fetch_at
        else words["never_fetched"]
    )
    health = f"<p>{escape(f'{text}; {fetched}')}</p>"
    if block.last_fetch_error:
        health += f"<p class=bad>{escape(words['fetch_failed'].format(reason=block.last_fetch_error))}</p>"
    return health


def _header(overview: Overview, words: _Words) -> str:
    generated = words["generated"].format(moment=f"{words.moment(overview.generated_at, weekday=True)}")
    generated += f" ({overview.timezone})"
    if overview.run is not None:
        started, outcome = words.moment(overview.run.started_at), words.outcome(overview.run.outcome)
        run = words["from_run"].format(run=f"#{overview.run.id}", moment=started, outcome=outcome)
    else:
        run = words["no_run"]
    office = f'<p class="meta">{escape(words["office"])}: {escape(overview.office)}</p>' if overview.office else ""
    return (
        f"<header><h1>{escape(words['title'])}</h1>{office}"
        f'<p class="meta" id="generated">{escape(generated)}, {escape(run)}</p></header>'
    )


def render_overview(overview: Overview, *, lang: str = "nl") -> str:
    """The whole page as one HTML document in ``lang`` (``nl`` or ``en``)."""
    words = _Words(lang)
    blocks = "\n".join(_relation_block(block, words) for block in overview.relations)
    body = (
        f"{_header(overview, words)}<main>{_attention(overview, words)}{_returns_table(overview, words)}"
        f'<section aria-labelledby="per-relation"><h2 id="per-relation">{escape(words["per_relation"])}</h2>'
        f'<div class="relations">\n{blocks}\n</div></section></main>'
        f"<footer><p>{escape(words['footer'])}</p></footer>"
    )
    style, script = _resource("overview.css"), _resource("overview.js")
    page = _resource("overview.html")
    for name, value in (
        ("lang", lang),
        ("title", escape(f"{words['title']} — {overview.today.isoformat()}")),
        ("style_hash", _csp_hash(style)),
        ("script_hash", _csp_hash(script)),
        ("style", style),
        ("script", script),
        ("body", body),
    ):
        page = page.replace("{{" + name + "}}", value, 1)
    return page
