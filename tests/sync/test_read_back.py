"""Outbound writes are only trusted when a read shows them: after a PUT of an address or a contact person, one
read of that record; a property Exact skipped silently is reported and the mirror keeps what Exact holds.

Both worlds run against the sandbox: the default one takes every writable property, the other skips a
writable one (``Evidence.skipped_writes``), as Exact was seen to do with ``crm/Accounts.Code``."""

from __future__ import annotations

import csv
import io

import pytest

from exactlink.sandbox import Evidence
from tests.sync.conftest import SyncOffice, query
from tests.sync.test_sync_cli import edit_crm_file, import_crm

SKIPPED = frozenset({("crm/Addresses", "City"), ("crm/Contacts", "Email")})


def _cell(office: SyncOffice, relation: str, column: str) -> str:
    text = office.office.crm_file.read_text(encoding="utf-8-sig")
    row = next(row for row in csv.DictReader(io.StringIO(text), delimiter=";") if row["relatienummer"] == relation)
    return str(row[column] or "")


def _relation_with_postal_address_and_linked_contact(office: SyncOffice) -> tuple[str, str, str]:
    """A relation, the full name and e-mail of its contact person linked to an Exact contact."""
    for relation in office.linked:
        if not any(row["Type"] == 2 for row in office.children("crm/Addresses", relation)):
            continue
        rows = query(
            "SELECT full_name, email FROM contacts WHERE relation_number = ? AND exact_contact_id IS NOT NULL "
            "AND email IS NOT NULL ORDER BY full_name",
            (relation,),
        )
        if rows and rows[0][1] in _cell(office, relation, "contactpersonen"):
            return relation, rows[0][0], rows[0][1]
    raise AssertionError("no linked relation with a postal address and a linked contact person")


@pytest.mark.parametrize("world", ["takes everything", "skips City and Email"])
def test_address_and_contact_puts_are_proven_by_one_read_each(outbound: SyncOffice, world: str) -> None:
    outbound.sync()
    relation, person, old_email = _relation_with_postal_address_and_linked_contact(outbound)
    (postal,) = [row for row in outbound.children("crm/Addresses", relation) if row["Type"] == 2][:1]
    contact_id = next(
        row["ID"] for row in outbound.children("crm/Contacts", relation) if row["Email"].lower() == old_email.lower()
    )
    old_city, new_email = postal["City"], "nieuw.adres@voorbeeld.example"
    edit_crm_file(
        outbound.office.crm_file,
        relation,
        postadres="Postbus 77",
        postadres_postcode=str(postal["Postcode"] or ""),
        postadres_plaats="Zwolle",
        contactpersonen=_cell(outbound, relation, "contactpersonen").replace(old_email, new_email),
    )
    import_crm(outbound.office.crm_file)
    skipping = world != "takes everything"
    if skipping:
        outbound.sandbox.evidence = Evidence().changed(skipped_writes=SKIPPED)
    outbound.sandbox.reset_counters()

    report = outbound.sync("--relation", relation, expect=3 if skipping else 0)

    (result,) = report["relations"]
    changes = {change["field"]: change for change in result["changes"]}
    assert [w.endpoint for w in outbound.writes("PUT")][-2:] == ["crm/Addresses", "crm/Contacts"]
    assert outbound.sandbox.calls("crm/Addresses", method="GET") == 1, "one read after the address PUT"
    assert outbound.sandbox.calls("crm/Contacts", method="GET") == 1, "one read after the contact PUT"
    address = outbound.sandbox.records(outbound.division, "crm/Addresses")[postal["ID"]]
    mirrored_city = query("SELECT city FROM account_addresses WHERE id = ?", (postal["ID"].lower(),))
    mirrored_email = query("SELECT email FROM account_contacts WHERE id = ?", (contact_id.lower(),))
    email_change = changes[f"contact {person}: e-mail"]
    if not skipping:
        assert result["status"] == "changed" and result["error"] is None
        assert changes["postal_address"]["applied"] and email_change["applied"]
        assert address["City"] == "Zwolle" and mirrored_city == [("Zwolle",)]
        assert mirrored_email == [(new_email,)]
        return
    assert result["status"] == "failed"
    assert "City of the postal address" in result["error"] and f"Email of contact {person}" in result["error"]
    assert changes["postal_address"]["applied"] is False
    assert "Exact ignored the change to City of the postal address" in changes["postal_address"]["note"]
    assert email_change["applied"] is False and "a read after the write shows the old value" in email_change["note"]
    assert address["City"] == old_city and address["AddressLine1"] == "Postbus 77", "Exact took the rest"
    assert mirrored_city == [(old_city,)], "the mirror holds what Exact holds, not what was written"
    assert mirrored_email[0][0].lower() == old_email.lower()
