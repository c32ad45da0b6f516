"""Models: Exact field names, /Date()/ to datetime and code trimming in one place, $select lists."""

from __future__ import annotations

from datetime import UTC, datetime

from exactlink.api.models import Account, Division, Me, Return, TransactionLine


def test_account_trims_code_and_parses_dates() -> None:
    account = Account.parse(
        {
            "__metadata": {"uri": "https://x", "type": "Exact.Web.Api.Models.Account"},
            "ID": "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
            "Code": "25".rjust(18),
            "Name": "Bakkerij Jansen",
            "Modified": "/Date(1535718344017)/",
            "SomethingNew": 1,
        }
    )
    assert account.Code == "25"
    assert account.ID == "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert account.Modified == datetime(2018, 8, 31, 10, 25, 44, 17000, tzinfo=UTC)  # 12:25 CEST


def test_select_lists_exclude_timestamp_unless_sync() -> None:
    assert "Timestamp" not in Account.select().split(",")
    assert "Timestamp" in Account.select(sync=True).split(",")
    assert Me.select().startswith("UserID,")
    assert "IsPracticeDivision" in Division.fields()


def test_division_return_and_transaction_line() -> None:
    division = Division.parse({"Code": 123, "Description": "Kantoor", "CustomerCode": "  9", "Status": 1})
    assert division.CustomerCode == "9"
    ret = Return.parse({"DocumentID": "A" * 8 + "-0000-0000-0000-" + "0" * 12, "Type": 31, "DueDate": "/Date(0)/"})
    assert ret.DueDate == datetime(1969, 12, 31, 23, tzinfo=UTC)  # midnight in Amsterdam
    line = TransactionLine.parse({"GLAccountCode": "  1800", "AmountDC": 12.5, "Date": None})
    assert line.GLAccountCode == "1800" and line.Date is None
