"""Bulk import from CSV: 1,000 officials, idempotent, with a per-row report."""

from __future__ import annotations

import time

from tests.gov.helpers import Gov


def test_bulk_import_of_1000_officials_then_rerun_changes_nothing(gov: Gov) -> None:
    ministry = gov.unit("MOE")
    codes = ["MOE"] + [f"MOE-D{i}" for i in range(4)]
    for code in codes[1:]:
        gov.unit(code, parent=ministry)
    rows = ["unit_code,username,display_name,designation"] + [
        f'{codes[i % 5]},officer{i:04d},"Officer {i}, Esq.",Section Officer' for i in range(1000)]
    csv_text = "\n".join(rows) + "\n"
    started = time.monotonic()
    report = gov.ok("POST", "/officials/import", {"csv": csv_text})
    assert time.monotonic() - started < 60
    assert (len(report["created"]), len(report["skipped"]), len(report["refused"])) == (1000, 0, 0)
    def snapshot() -> list[tuple[object, ...]]:
        return gov.server.query("SELECT o.user_id, o.unit_id, o.designation, u.displayname FROM officials o"
                                " JOIN users u USING (user_id) ORDER BY o.user_id")

    first = snapshot()
    assert len(first) == 1000 and first[0][3] == "Officer 0, Esq."
    again = gov.ok("POST", "/officials/import", {"csv": csv_text})
    assert (len(again["created"]), len(again["skipped"]), len(again["refused"])) == (0, 1000, 0)
    assert snapshot() == first
    official = gov.ok("GET", "/officials/@officer0007:qasid.test")
    assert official["designation"] == "Section Officer" and official["has_password"] is False
    # An imported official is given a password later, and can then log in.
    gov.ok("PUT", "/officials/@officer0007:qasid.test/password", {"password": "Imported-pass-7"})
    assert gov.login("officer0007", "Imported-pass-7").user_id == "@officer0007:qasid.test"


def test_import_reports_refused_rows_and_creates_only_whole_ones(gov: Gov) -> None:
    unit = gov.unit("MOH")
    gov.official("taken", unit)
    other = gov.unit("MOT")
    gov.ok("POST", "/officials", {"username": "elsewhere", "unit_id": other})
    rows = [
        "MOH,good1,Good One,Nurse",
        "NOPE,ghost,Ghost,Nobody",            # unknown unit
        "MOH,too,few",                         # malformed row
        "MOH,bad name!,Bad,Clerk",             # invalid username
        "MOH,good1,Again,Nurse",               # duplicate in the file
        "MOH,elsewhere,Moved,Clerk",           # taken by an account of another unit
        "MOH,taken,Taken,Clerk",               # already an official of this unit
        "MOH,good2,Good Two,Doctor",
    ]
    csv_text = "\n".join(rows)
    report = gov.ok("POST", "/officials/import", {"csv": csv_text})
    assert [c["user_id"] for c in report["created"]] == ["@good1:qasid.test", "@good2:qasid.test"]
    assert [s["user_id"] for s in report["skipped"]] == ["@taken:qasid.test"]
    reasons = {r["line"]: r["reason"] for r in report["refused"]}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "Unknown unit" in reasons[2] and "4 columns" in reasons[3] and "twice" in reasons[5]
    assert "outside this unit" in reasons[6]
    assert gov.call("GET", "/officials/@ghost:qasid.test").status_code == 404


def test_import_accepts_a_header_row_and_all_or_nothing_over_the_api(gov: Gov) -> None:
    gov.unit("MOK")
    header = "unit,username,display name,designation\n"
    report = gov.ok("POST", "/officials/import", {"csv": header + "MOK,kim,Kim,Clerk\n"})
    assert ([c["user_id"] for c in report["created"]], report["refused"]) == (["@kim:qasid.test"], [])
    body = {"csv": header + "MOK,lee,Lee,Clerk\nMOK,bad name,X,Y\n", "all_or_nothing": True}
    report = gov.ok("POST", "/officials/import", body)
    assert report["created"] == [] and [r["line"] for r in report["refused"]] == [3]
    assert [w["user_id"] for w in report["withheld"]] == ["@lee:qasid.test"]
    assert gov.call("GET", "/officials/@lee:qasid.test").status_code == 404
    bad = gov.call("POST", "/officials/import", {"csv": "", "all_or_nothing": "yes"})
    assert (bad.status_code, bad.json()["errcode"]) == (400, "M_INVALID_PARAM")
