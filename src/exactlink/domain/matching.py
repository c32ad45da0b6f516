"""Record linkage: CRM relations ↔ accounts of the office administration in Exact Online.

Pure and fast: raw field values go in, one :class:`MatchResult` per relation comes out.

1. Decisions come first: an accepted pair (accepted by a person, or a link that already exists) is linked, a
   rejected pair is never proposed again.
2. Identifier cascade, stopping at the first identifier that finds an account: fiscal number (RSIN/BSN,
   or the 9 digits inside an OB number or loonheffingennummer) → KvK number → btw-id → relation number
   equal to the account code (only when numbers must match). For any pair, the first of these
   identifiers that both sides have decides: different is a conflict, a non-match even when the names
   are equal. A pair is linked automatically only when one relation and one account are involved.
3. The rest is scored on normalised name, postcode, house number and shared IBAN (rapidfuzz), blocked on
   postcode, IBAN and the relation's rarest name words. This step only ever *suggests*.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import fuzz, process

from exactlink.domain.identifiers import (
    IdKind,
    check_bsn,
    check_kvk,
    check_payroll_number,
    check_rsin,
    check_vat_number,
    compact_iban,
)
from exactlink.domain.names import (
    CompanyName,
    extract_house_number,
    has_initials,
    name_similarity,
    parse_company_name,
    postcode_key,
)

MatchStatus = Literal["linked", "suggested", "conflict", "unmatched"]
Confidence = Literal["high", "review"]

METHOD_RSIN = "rsin"
METHOD_BSN = "bsn"
METHOD_RSIN_BSN = "rsin/bsn"
METHOD_OB_NUMBER = "fiscal number in OB number"
METHOD_PAYROLL_NUMBER = "fiscal number in loonheffingennummer"
METHOD_KVK = "kvk"
METHOD_BTW_ID = "btw-id"
METHOD_RELATION_NUMBER = "relation number"
METHOD_NAME_POSTCODE = "name+postcode"
METHOD_NAME = "name"
METHOD_MANUAL = "manual"

# Fuzzy bands on the name score (0-100, after the role penalty).
HIGH_CONFIDENCE_NAME = 95  # with the same postcode and house number: a one-click suggestion
NAME_ONLY_MIN = 85  # suggest on name alone (another postcode or none) from this score
SAME_POSTCODE_MIN = 75  # … with the same postcode
SAME_ADDRESS_MIN = 65  # … with the same postcode and house number, or a shared IBAN
SAME_ADDRESS_AND_IBAN_MIN = 50  # … with the same postcode, house number and IBAN
NAME_CONFLICT_MIN = 90  # a name this close to an account with a conflicting identifier is reported
CLOSE_RUNNER_UP = 5  # a second candidate within this many points sends the suggestion to review
ROLE_MISMATCH_PENALTY = 25  # holding/beheer/pensioen on one side only: a different legal entity
NUMBER_TIER_MIN_NAME = 50  # equal relation number and account code, but names this far apart: suggest only
_CANDIDATE_MIN = 50
_BLOCK_LIMIT = 8  # candidates kept per searched block
_RARE_TOKENS_PER_RELATION = 2


@dataclass(frozen=True, slots=True)
class RelationKeys:
    """The matching fields of a CRM relation, as raw text (normalised inside the engine).

    ``house_number`` may be a bare number or a whole address line. The VAT fields may hold an
    OB number or a btw-id in either field: each value is classified.
    """

    relation_number: str
    name: str | None = None
    rsin: str | None = None
    bsn: str | None = None
    ob_number: str | None = None
    btw_id: str | None = None
    payroll_number: str | None = None
    kvk: str | None = None
    postcode: str | None = None
    house_number: str | None = None
    ibans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The matching fields of an Exact Online account (``crm/Accounts`` and its addresses and bank accounts).

    ``code`` may be Exact's right-aligned 18-character code; ``vat_number`` is ``VATNumber`` (OB number
    or btw-id); ``house_number`` may be ``AddressLine1`` as a whole.
    """

    account_id: str
    code: str | None = None
    name: str | None = None
    rsin: str | None = None
    bsn: str | None = None
    vat_number: str | None = None
    kvk: str | None = None
    postcode: str | None = None
    house_number: str | None = None
    ibans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """A pair decided earlier: accepted (link it) or rejected (never propose it again).

    An accepted pair is one a person accepted or linked by hand, or a link that already exists (the service
    passes every stored link, however it was made, as an accepted decision, so that it is never overturned).
    Later decisions override earlier ones, so pass them oldest first.
    """

    relation_number: str
    account_id: str
    accepted: bool


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The outcome for one relation.

    ``method`` names the identifier (or ``name+postcode``/``name``, ``manual``) that found the account;
    ``reason`` says why in plain words (for ``unmatched`` and ``conflict``: what to fix); ``why`` and
    ``score`` explain a suggestion; ``alternatives`` lists other candidate account codes; for a conflict,
    ``differs`` names the identifier that differs (``RSIN/BSN``, ``KvK number``, ``btw-id``).
    """

    relation_number: str
    status: MatchStatus
    account_id: str | None = None
    account_code: str | None = None
    method: str | None = None
    score: int | None = None
    reason: str = ""
    why: str | None = None
    confidence: Confidence | None = None
    alternatives: tuple[str, ...] = ()
    differs: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``match --json`` object for this relation)."""
        return {
            "relation": self.relation_number,
            "account_id": self.account_id,
            "account_code": self.account_code,
            "status": self.status,
            "method": self.method,
            "score": self.score,
            "reason": self.reason,
            "why": self.why,
            "confidence": self.confidence,
            "alternatives": list(self.alternatives),
            "differs": self.differs,
        }


def summarise(results: Iterable[MatchResult]) -> dict[str, int]:
    """Count results per status (every status present, zero when absent)."""
    counts = {"linked": 0, "suggested": 0, "conflict": 0, "unmatched": 0}
    for result in results:
        counts[result.status] += 1
    return counts


# --------------------------------------------------------------------------------------------------
# Preparation: normalise both sides once.


_FISCAL = "fiscal"
_KVK = "kvk"
_VAT = "vat"
_NUMBER = "number"
_TIER_LABEL = {_FISCAL: "RSIN/BSN", _KVK: "KvK number", _VAT: "btw-id", _NUMBER: "account code"}
_TIER_METHOD = {_KVK: METHOD_KVK, _VAT: METHOD_BTW_ID, _NUMBER: METHOD_RELATION_NUMBER}


_NO_NAME = CompanyName("")


@dataclass(slots=True)
class _Side:
    """One relation or account, normalised.

    The identifiers are normalised up front; the name and address fields only when a step needs them
    (:meth:`_Preparer.describe`), because most pairs are settled by an identifier.
    """

    ident: str
    code: str  # account code as shown (trimmed); the relation number for a relation
    number_key: str
    fiscal: dict[str, str]  # fiscal number -> field it came from (rsin, bsn, ob, payroll)
    kvk: str | None
    vat: frozenset[str]  # btw-ids (mod 97) and foreign VAT numbers, compared as whole strings
    keys: RelationKeys | AccountKeys
    problems: dict[str, list[str]] = field(default_factory=dict)  # tier -> why its value is unusable
    described: bool = False
    name: CompanyName = _NO_NAME
    sorted_name: str = ""
    postcode: str = ""
    house: str | None = None
    ibans: frozenset[str] = frozenset()


def _number_key(value: str | None) -> str:
    text = (value or "").strip()
    return (text.lstrip("0") or text) if text.isdigit() else text.upper()


class _Preparer:
    """Normalises relations and accounts; names are parsed once per distinct spelling in a run."""

    def __init__(self) -> None:
        self._names: dict[str, tuple[CompanyName, str]] = {}

    def relation(self, relation: RelationKeys) -> _Side:
        fiscal: dict[str, str] = {}
        vat: set[str] = set()
        problems: dict[str, list[str]] = {}
        for source, raw, check in (("rsin", relation.rsin, check_rsin), ("bsn", relation.bsn, check_bsn)):
            if raw:
                checked = check(raw)
                if checked.value:
                    fiscal.setdefault(checked.value, source)
                elif checked.error:
                    problems.setdefault(_FISCAL, []).append(checked.error)
        for raw in (relation.ob_number, relation.btw_id):
            if raw:
                checked = check_vat_number(raw)
                if checked.value:
                    _add_vat(checked.kind, checked.value, fiscal, vat)
                elif checked.error:
                    tier = _FISCAL if checked.kind is IdKind.OB_NUMBER else _VAT
                    problems.setdefault(tier, []).append(checked.error)
        if relation.payroll_number:
            payroll = check_payroll_number(relation.payroll_number)
            if payroll.value:
                fiscal.setdefault(payroll.value[:9], "payroll")
            elif payroll.error:
                problems.setdefault(_FISCAL, []).append(payroll.error)
        kvk = check_kvk(relation.kvk) if relation.kvk else None
        if kvk is not None and kvk.error:
            problems.setdefault(_KVK, []).append(kvk.error)
        number = relation.relation_number.strip()
        return self._side(relation.relation_number, number, fiscal, kvk.value if kvk else None, vat, relation, problems)

    def account(self, account: AccountKeys) -> _Side:
        fiscal: dict[str, str] = {}
        vat: set[str] = set()
        for source, raw, check in (("rsin", account.rsin, check_rsin), ("bsn", account.bsn, check_bsn)):
            if raw:
                checked = check(raw)
                if checked.value:
                    fiscal.setdefault(checked.value, source)
        if account.vat_number:
            checked = check_vat_number(account.vat_number)
            if checked.value:
                _add_vat(checked.kind, checked.value, fiscal, vat)
        kvk = check_kvk(account.kvk).value if account.kvk else None
        return self._side(account.account_id, (account.code or "").strip(), fiscal, kvk, vat, account, {})

    def _side(
        self,
        ident: str,
        code: str,
        fiscal: dict[str, str],
        kvk: str | None,
        vat: set[str],
        keys: RelationKeys | AccountKeys,
        problems: dict[str, list[str]],
    ) -> _Side:
        return _Side(
            ident=ident,
            code=code,
            number_key=_number_key(code),
            fiscal=fiscal,
            kvk=kvk,
            vat=frozenset(vat),
            keys=keys,
            problems=problems,
        )

    def describe(self, side: _Side) -> _Side:
        """Fill in the normalised name, postcode, house number and IBANs (once)."""
        if side.described:
            return side
        keys = side.keys
        raw_name = keys.name or ""
        parsed = self._names.get(raw_name)
        if parsed is None:
            name = parse_company_name(raw_name)
            parsed = self._names[raw_name] = (name, name.sorted_key)
        side.name, side.sorted_name = parsed
        side.postcode = postcode_key(keys.postcode) if keys.postcode else ""
        side.house = extract_house_number(keys.house_number) if keys.house_number else None
        side.ibans = frozenset(filter(None, map(compact_iban, keys.ibans))) if keys.ibans else frozenset()
        side.described = True
        return side


def _add_vat(checked_kind: IdKind, value: str, fiscal: dict[str, str], vat: set[str]) -> None:
    """An OB number contributes its RSIN/BSN; a btw-id (or a foreign VAT number) is compared whole."""
    if checked_kind is IdKind.OB_NUMBER:
        fiscal.setdefault(value[2:11], "ob")
    else:
        vat.add(value)


def _tier_keys(side: _Side, tier: str) -> Iterable[str]:
    if tier == _FISCAL:
        return side.fiscal.keys()
    if tier == _KVK:
        return (side.kvk,) if side.kvk else ()
    if tier == _VAT:
        return side.vat
    return (side.number_key,) if side.number_key else ()


def _conflict(relation: _Side, account: _Side) -> str | None:
    """Which identifier differs, or ``None``.

    The first identifier (fiscal number, KvK number, btw-id) that both sides have decides: equal means
    compatible whatever comes after it (a mistyped KvK number does not undo an equal RSIN), different
    means a non-match — another legal entity, e.g. the holding of a werkmaatschappij.
    """
    if relation.fiscal and account.fiscal:
        return "RSIN/BSN" if relation.fiscal.keys().isdisjoint(account.fiscal) else None
    if relation.kvk and account.kvk:
        return "KvK number" if relation.kvk != account.kvk else None
    if relation.vat and account.vat:
        return "btw-id" if relation.vat.isdisjoint(account.vat) else None
    return None


def _fiscal_method(relation: _Side, account: _Side) -> str:
    shared = next(number for number in relation.fiscal if number in account.fiscal)
    sources = {relation.fiscal[shared], account.fiscal[shared]}
    if "ob" in sources:
        return METHOD_OB_NUMBER
    if "payroll" in sources:
        return METHOD_PAYROLL_NUMBER
    return sources.pop() if len(sources) == 1 else METHOD_RSIN_BSN


def _codes(accounts: Sequence[_Side], indexes: Iterable[int], limit: int = 5) -> str:
    codes = sorted(accounts[index].code or accounts[index].ident for index in indexes)
    shown = ", ".join(codes[:limit])
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


# --------------------------------------------------------------------------------------------------
# The engine.


# A fuzzy candidate: (combined score or -1 when below its band, name score after the role penalty,
# raw name score, account index). Tuples, because a run scores hundreds of thousands of them.
_Candidate = tuple[int, int, int, int]


class _Matcher:
    """One matching run; holds the indexes. Use :func:`match_relations`."""

    def __init__(
        self,
        relations: Sequence[RelationKeys],
        accounts: Sequence[AccountKeys],
        numbers_must_match: bool,
        decisions: Iterable[Decision],
    ) -> None:
        self.preparer = preparer = _Preparer()
        self.relations = [preparer.relation(relation) for relation in relations]
        self.accounts = [preparer.account(account) for account in accounts]
        self.tiers = (_FISCAL, _KVK, _VAT, _NUMBER) if numbers_must_match else (_FISCAL, _KVK, _VAT)
        self.results: dict[int, MatchResult] = {}
        self.notes: dict[int, list[str]] = defaultdict(list)
        self.account_index = {side.ident: index for index, side in enumerate(self.accounts)}
        self.relation_index = {side.ident: index for index, side in enumerate(self.relations)}
        self.rejected: set[tuple[int, int]] = set()
        self.manual_account_owner: dict[int, int] = {}  # account -> relation it is linked to by a decision
        self.claimed_accounts: set[int] = set()  # accounts an identifier gave to a relation (linked or contested)
        self._apply_decisions(decisions)
        self.indexes: dict[str, dict[str, list[int]]] = {tier: defaultdict(list) for tier in self.tiers}
        for index, account in enumerate(self.accounts):
            for tier in self.tiers:
                for key in _tier_keys(account, tier):
                    self.indexes[tier][key].append(index)

    # -- decisions ---------------------------------------------------------------------------------

    def _apply_decisions(self, decisions: Iterable[Decision]) -> None:
        verdicts: dict[tuple[int, int], bool] = {}  # the last verdict per pair, in the order given
        for decision in decisions:
            relation = self.relation_index.get(decision.relation_number)
            account = self.account_index.get(decision.account_id)
            if relation is None:
                continue
            if account is None:
                if decision.accepted:
                    self.notes[relation].append("the account it was linked to earlier is no longer in Exact Online")
                continue
            verdicts.pop((relation, account), None)
            verdicts[(relation, account)] = decision.accepted
        relation_link: dict[int, int] = {}
        account_link: dict[int, int] = {}
        displaced: set[int] = set()
        for (relation, account), accepted in verdicts.items():
            if not accepted:
                self.rejected.add((relation, account))
                continue
            # A later link replaces the relation's earlier link and the account's earlier owner.
            old_account = relation_link.pop(relation, None)
            if old_account is not None:
                account_link.pop(old_account, None)
            old_owner = account_link.pop(account, None)
            if old_owner is not None:
                relation_link.pop(old_owner, None)
                displaced.add(old_owner)
            relation_link[relation] = account
            account_link[account] = relation
        self.manual_account_owner = account_link
        for relation, account in relation_link.items():
            side = self.accounts[account]
            self.results[relation] = MatchResult(
                self.relations[relation].ident, "linked", side.ident, side.code, METHOD_MANUAL, reason="linked by hand"
            )
        for relation in displaced - relation_link.keys():
            self.notes[relation].append("its account was later linked to another relation")

    # -- identifiers ---------------------------------------------------------------------------------

    def identifier_pass(self) -> None:
        """Run the identifier cascade for every relation not linked by a decision; link uncontested pairs."""
        provisional: dict[int, tuple[int, str, str]] = {}  # relation -> (account, method, tier)
        for index, relation in enumerate(self.relations):
            if index in self.results:
                continue
            found = self._cascade(index, relation)
            if found is not None:
                provisional[index] = found
        claims: dict[int, list[int]] = defaultdict(list)
        for relation_index, (account_index, _, _) in provisional.items():
            claims[account_index].append(relation_index)
        self.claimed_accounts = set(claims)
        for account_index, claimants in claims.items():
            account = self.accounts[account_index]
            if len(claimants) == 1:
                relation_index = claimants[0]
                _, method, _ = provisional[relation_index]
                self.results[relation_index] = self._linked(self.relations[relation_index], account, method)
                continue
            numbers = ", ".join(sorted(self.relations[index].ident for index in claimants)[:5])
            for relation_index in claimants:
                _, _, tier = provisional[relation_index]
                relation = self.relations[relation_index]
                self.results[relation_index] = MatchResult(
                    relation.ident,
                    "suggested",
                    account.ident,
                    account.code,
                    self._tier_method(tier, relation, account),
                    score=self._name_score(relation, account),
                    reason=f"{len(claimants)} relations ({numbers}) have the {_TIER_LABEL[tier]} of account "
                    f"{account.code}: link the right one by hand",
                    why=f"same {_TIER_LABEL[tier]}, shared with other relations",
                    confidence="review",
                )

    def _linked(self, relation: _Side, account: _Side, method: str) -> MatchResult:
        label = {
            METHOD_KVK: "same KvK number",
            METHOD_BTW_ID: "same btw-id",
            METHOD_RELATION_NUMBER: "relation number equals the account code",
            METHOD_OB_NUMBER: "the RSIN/BSN inside the OB number matches",
            METHOD_PAYROLL_NUMBER: "the RSIN/BSN inside the loonheffingennummer matches",
        }.get(method, "same RSIN/BSN")
        # A later identifier that differs does not undo the one that decided (see _conflict), but say so:
        # one side holds a mistyped number, and a sync in the leading system's direction will overwrite it.
        if method != METHOD_KVK and relation.kvk and account.kvk and relation.kvk != account.kvk:
            label += "; the KvK number differs, check it"
        if _NUMBER in self.tiers and method != METHOD_RELATION_NUMBER and relation.number_key != account.number_key:
            label += f"; relation number differs from account code {account.code}"
        return MatchResult(relation.ident, "linked", account.ident, account.code, method, reason=label)

    def _cascade(self, relation_index: int, relation: _Side) -> tuple[int, str, str] | None:
        notes = self.notes[relation_index]
        for tier in self.tiers:
            keys = list(_tier_keys(relation, tier))
            label = _TIER_LABEL[tier]
            if not keys:
                problems = relation.problems.get(tier, [])
                if problems:
                    notes.extend(problems)
                elif tier == _FISCAL:
                    notes.append("no RSIN/BSN in the CRM")
                continue
            candidates = {account for key in keys for account in self.indexes[tier].get(key, ())}
            if tier == _NUMBER and not candidates:
                notes.append(f"no account with code {relation.ident.strip()}")
                continue
            if not candidates:
                notes.append(f"no account with this {label}")
                continue
            candidates = {account for account in candidates if (relation_index, account) not in self.rejected}
            if not candidates:
                notes.append(f"the account with this {label} was rejected earlier")
                continue
            free = {account for account in candidates if account not in self.manual_account_owner}
            if not free:
                account = min(candidates)
                owner = self.relations[self.manual_account_owner[account]].ident
                self._conflict_result(
                    relation_index,
                    account,
                    self._tier_method(tier, relation, self.accounts[account]),
                    f"the account with this {label} ({self.accounts[account].code}) is already linked "
                    f"to relation {owner}",
                    None,
                )
                return None
            clean = [account for account in sorted(free) if _conflict(relation, self.accounts[account]) is None]
            if not clean:
                account = min(free)
                differs = _conflict(relation, self.accounts[account])
                self._conflict_result(
                    relation_index,
                    account,
                    self._tier_method(tier, relation, self.accounts[account]),
                    f"{label} matches account {self.accounts[account].code}, but the {differs} differs",
                    differs,
                )
                return None
            if len(clean) > 1:
                self._ambiguous(relation_index, clean, tier)
                return None
            account_index = clean[0]
            target = self.accounts[account_index]
            if tier == _FISCAL:
                return account_index, _fiscal_method(relation, target), tier
            if tier == _NUMBER:
                self.preparer.describe(relation)
                self.preparer.describe(target)
                similarity = round(fuzz.token_set_ratio(relation.name.key, target.name.key))
                if similarity < NUMBER_TIER_MIN_NAME:
                    self.results[relation_index] = MatchResult(
                        relation.ident,
                        "suggested",
                        target.ident,
                        target.code,
                        METHOD_RELATION_NUMBER,
                        score=similarity,
                        reason="relation number equals the account code, but the names differ: check by hand",
                        why=f"same number, name {similarity}",
                        confidence="review",
                    )
                    return None
            return account_index, _TIER_METHOD[tier], tier
        return None

    @staticmethod
    def _tier_method(tier: str, relation: _Side, account: _Side) -> str:
        return _fiscal_method(relation, account) if tier == _FISCAL else _TIER_METHOD[tier]

    def _name_score(self, relation: _Side, account: _Side) -> int:
        """Name similarity 0-100 (token order ignored)."""
        self.preparer.describe(relation)
        self.preparer.describe(account)
        return round(name_similarity(relation.sorted_name, account.sorted_name))

    def _conflict_result(
        self, relation_index: int, account_index: int, method: str, reason: str, differs: str | None
    ) -> None:
        account = self.accounts[account_index]
        self.results[relation_index] = MatchResult(
            self.relations[relation_index].ident,
            "conflict",
            account.ident,
            account.code,
            method,
            reason=reason,
            differs=differs,
        )

    def _ambiguous(self, relation_index: int, accounts: list[int], tier: str) -> None:
        relation = self.relations[relation_index]
        ranked = sorted(accounts, key=lambda index: -self._name_score(relation, self.accounts[index]))
        best = self.accounts[ranked[0]]
        self.results[relation_index] = MatchResult(
            relation.ident,
            "suggested",
            best.ident,
            best.code,
            self._tier_method(tier, relation, best),
            score=self._name_score(relation, best),
            reason=f"{len(accounts)} accounts ({_codes(self.accounts, accounts)}) have this "
            f"{_TIER_LABEL[tier]}: pick the right one",
            why=f"same {_TIER_LABEL[tier]}, best name of {len(accounts)}",
            confidence="review",
            alternatives=tuple(self.accounts[index].code for index in ranked[1:]),
        )

    # -- names ---------------------------------------------------------------------------------------

    def fuzzy_pass(self) -> None:
        """Suggest accounts for the relations still open, on name + postcode + house number + IBAN."""
        pending = [index for index in range(len(self.relations)) if index not in self.results]
        if not pending:
            return
        taken = {
            self.account_index[result.account_id]
            for result in self.results.values()
            if result.status == "linked" and result.account_id is not None
        }
        taken |= self.claimed_accounts
        pool = [index for index in range(len(self.accounts)) if index not in taken]
        for index in pending:
            self.preparer.describe(self.relations[index])
        for index in pool:
            self.preparer.describe(self.accounts[index])
        by_postcode: dict[str, list[int]] = defaultdict(list)
        by_iban: dict[str, list[int]] = defaultdict(list)
        by_token: dict[str, list[int]] = defaultdict(list)
        for index in pool:
            account = self.accounts[index]
            if account.postcode:
                by_postcode[account.postcode].append(index)
            for iban in account.ibans:
                by_iban[iban].append(index)
            for token in set(account.name.key.split()):
                if len(token) > 2:
                    by_token[token].append(index)
        choices_cache: dict[tuple[str, str], list[str]] = {}

        def search(kind: str, key: str, block: list[int], sorted_name: str, initials: bool, cutoff: int) -> None:
            """Score the relation against one block, in C: process.extract keeps the best few above ``cutoff``."""
            choices = choices_cache.get((kind, key))
            if choices is None:
                choices = choices_cache[(kind, key)] = [accounts[index].sorted_name for index in block]
            # With initials the plain ratio understates the name: cast a wider net and score again.
            for choice, score, position in process.extract(
                sorted_name,
                choices,
                scorer=fuzz.ratio,
                processor=None,
                score_cutoff=_CANDIDATE_MIN if initials else cutoff,
                limit=_BLOCK_LIMIT,
            ):
                scores.setdefault(block[position], name_similarity(sorted_name, choice) if initials else score)

        eligible: list[tuple[int, int, int, int]] = []  # (combined, name, relation, account)
        per_relation: dict[int, list[_Candidate]] = {}
        conflicts: dict[int, tuple[int, int, str]] = {}
        accounts = self.accounts
        for relation_index in pending:
            relation = self.relations[relation_index]
            sorted_name = relation.sorted_name
            initials = has_initials(sorted_name)
            scores: dict[int, float] = {}
            # Same postcode or a shared IBAN: every account there counts, the address may carry a weak name.
            # (A crowded postcode, such as a business centre, is searched like a name block.)
            for iban in relation.ibans:
                for account_index in by_iban.get(iban, ()):
                    scores[account_index] = name_similarity(sorted_name, accounts[account_index].sorted_name)
            block = by_postcode.get(relation.postcode, []) if relation.postcode else []
            if len(block) > _BLOCK_LIMIT:
                search("postcode", relation.postcode, block, sorted_name, initials, _CANDIDATE_MIN)
            else:
                for account_index in block:
                    scores[account_index] = name_similarity(sorted_name, accounts[account_index].sorted_name)
            # Elsewhere only a strong name can suggest: search the blocks of the relation's rarest words,
            # unless the address already holds an account with (nearly) the same name.
            if scores and max(scores.values()) >= HIGH_CONFIDENCE_NAME:
                rare_tokens = []
            else:
                rare_tokens = sorted(
                    (len(by_token[token]), token) for token in set(relation.name.key.split()) if token in by_token
                )[:_RARE_TOKENS_PER_RELATION]
            for _, token in rare_tokens:
                search("token", token, by_token[token], sorted_name, initials, NAME_ONLY_MIN)
            found: list[_Candidate] = []
            for account_index, score in scores.items():
                if (relation_index, account_index) in self.rejected:
                    continue
                account = accounts[account_index]
                raw = round(score)
                differs = _conflict(relation, account)
                if differs is not None:
                    if raw >= NAME_CONFLICT_MIN and raw > conflicts.get(relation_index, (0, -1, ""))[1]:
                        conflicts[relation_index] = (account_index, raw, differs)
                    continue
                combined, name = _combined_score(relation, account, raw)
                found.append((combined, name, raw, account_index))
                if combined >= 0:
                    eligible.append((combined, name, relation_index, account_index))
            per_relation[relation_index] = found
        self._assign(pending, eligible, per_relation, conflicts)

    def _assign(
        self,
        pending: list[int],
        eligible: list[tuple[int, int, int, int]],
        per_relation: dict[int, list[_Candidate]],
        conflicts: dict[int, tuple[int, int, str]],
    ) -> None:
        """One relation ↔ one account: hand out the best-scoring pairs first."""
        eligible.sort(key=lambda item: (-item[0], -item[1], item[2], item[3]))
        used_accounts: dict[int, int] = {}
        chosen: dict[int, int] = {}
        for _, _, relation_index, account_index in eligible:
            if relation_index in chosen or account_index in used_accounts:
                continue
            chosen[relation_index] = account_index
            used_accounts[account_index] = relation_index
        for relation_index in pending:
            candidates = per_relation.get(relation_index, [])
            pick = chosen.get(relation_index)
            if pick is not None:
                self.results[relation_index] = self._suggestion(relation_index, pick, candidates)
                continue
            conflict = conflicts.get(relation_index)
            if conflict is not None:
                account_index, raw, differs = conflict
                relation, account = self.relations[relation_index], self.accounts[account_index]
                same_postcode = bool(relation.postcode) and relation.postcode == account.postcode
                self._conflict_result(
                    relation_index,
                    account_index,
                    METHOD_NAME_POSTCODE if same_postcode else METHOD_NAME,
                    f"name matches account {account.code} (name {raw}), but the {differs} differs",
                    differs,
                )
                continue
            self.results[relation_index] = self._unmatched(relation_index, candidates, used_accounts)

    def _suggestion(self, relation_index: int, account_index: int, candidates: list[_Candidate]) -> MatchResult:
        relation = self.relations[relation_index]
        account = self.accounts[account_index]
        pick = next(candidate for candidate in candidates if candidate[3] == account_index)
        combined, _, raw, _ = pick
        runners_up = sorted(
            (candidate for candidate in candidates if candidate[3] != account_index and candidate[0] >= 0),
            key=lambda candidate: -candidate[0],
        )
        close = [candidate for candidate in runners_up if combined - candidate[0] < CLOSE_RUNNER_UP]
        evidence = _Evidence.of(relation, account)
        high = raw >= HIGH_CONFIDENCE_NAME and evidence.same_house and not evidence.role_mismatch and not close
        if close:
            reason = f"similar name; {len(close) + 1} candidates score close together, please pick"
        else:
            reason = "similar name and address; nothing is linked on name alone, please confirm"
        return MatchResult(
            relation.ident,
            "suggested",
            account.ident,
            account.code,
            METHOD_NAME_POSTCODE if evidence.same_postcode else METHOD_NAME,
            score=combined,
            reason=reason,
            why=evidence.describe(raw),
            confidence="high" if high else "review",
            alternatives=tuple(self.accounts[candidate[3]].code for candidate in runners_up[:3]),
        )

    def _unmatched(self, relation_index: int, candidates: list[_Candidate], used: dict[int, int]) -> MatchResult:
        relation = self.relations[relation_index]
        notes = list(self.notes.get(relation_index, []))
        eligible = [candidate for candidate in candidates if candidate[0] >= 0]
        if eligible:
            best = max(eligible)
            owner = self.relations[used[best[3]]].ident
            notes.append(f"the similar account {self.accounts[best[3]].code} fits relation {owner} better")
        elif candidates:
            best = max(candidates, key=lambda candidate: (candidate[1], -candidate[3]))
            account = self.accounts[best[3]]
            evidence = _Evidence.of(relation, account)
            notes.append(f"closest name: account {account.code} ({evidence.describe(best[2])}), too far apart")
        else:
            notes.append("no account with a similar name")
        return MatchResult(relation.ident, "unmatched", reason="; ".join(notes))


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What, besides the name, a relation and an account have in common."""

    same_postcode: bool
    same_house: bool
    same_iban: bool
    other_postcode: bool
    role_mismatch: bool

    @classmethod
    def of(cls, relation: _Side, account: _Side) -> _Evidence:
        same_postcode = bool(relation.postcode) and relation.postcode == account.postcode
        return cls(
            same_postcode=same_postcode,
            same_house=same_postcode and relation.house is not None and relation.house == account.house,
            same_iban=not relation.ibans.isdisjoint(account.ibans),
            other_postcode=bool(relation.postcode and account.postcode) and not same_postcode,
            role_mismatch=relation.name.roles != account.name.roles,
        )

    def describe(self, raw_name_score: int) -> str:
        """``name 96, same postcode and house number, same IBAN``."""
        parts = [f"name {raw_name_score}"]
        if self.same_house:
            parts.append("same postcode and house number")
        elif self.same_postcode:
            parts.append("same postcode")
        elif self.other_postcode:
            parts.append("other postcode")
        if self.same_iban:
            parts.append("same IBAN")
        if self.role_mismatch:
            parts.append("holding/beheer on one side only: probably another entity of the group")
        return ", ".join(parts)


def _combined_score(relation: _Side, account: _Side, raw: int) -> tuple[int, int]:
    """(combined score, or -1 when below the band its evidence allows; name score after the role penalty)."""
    name = raw - ROLE_MISMATCH_PENALTY if relation.name.roles != account.name.roles else raw
    same_postcode = bool(relation.postcode) and relation.postcode == account.postcode
    same_house = same_postcode and relation.house is not None and relation.house == account.house
    same_iban = bool(relation.ibans) and not relation.ibans.isdisjoint(account.ibans)
    if same_house and same_iban:
        minimum = SAME_ADDRESS_AND_IBAN_MIN
    elif same_house or same_iban:
        minimum = SAME_ADDRESS_MIN
    elif same_postcode:
        minimum = SAME_POSTCODE_MIN
    else:
        minimum = NAME_ONLY_MIN
    if name < minimum:
        return -1, name
    # The name weighs 90 %, so the address still separates two accounts with the same name.
    return round(0.9 * name + 4 * same_postcode + 3 * same_house + 3 * same_iban), name


def match_relations(
    relations: Sequence[RelationKeys],
    accounts: Sequence[AccountKeys],
    *,
    numbers_must_match: bool = False,
    decisions: Iterable[Decision] = (),
) -> list[MatchResult]:
    """Match CRM relations to office-administration accounts; one result per relation, in input order.

    Statuses: ``linked`` (by an identifier without conflicts, or by hand), ``suggested`` (name/address
    similarity, or an identifier shared by several relations or accounts: needs a human), ``conflict``
    (an identifier differs on both sides, or the account is already linked to another relation), ``unmatched``
    (with the reason, e.g. "no RSIN/BSN in the CRM"). Relation numbers are assumed unique.
    """
    # A run allocates ~10 objects per record and creates no reference cycles, so the cyclic garbage
    # collector's repeated full passes over everything the process holds are pure overhead: pause it.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        matcher = _Matcher(relations, accounts, numbers_must_match, decisions)
        matcher.identifier_pass()
        matcher.fuzzy_pass()
        return [matcher.results[index] for index in range(len(matcher.relations))]
    finally:
        if collector_was_enabled:
            gc.enable()
