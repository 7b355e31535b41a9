"""CSV exports neutralise cells a spreadsheet would run as a formula (OWASP, "CSV Injection"):
a value that starts with = + - @, a tab or a carriage return gets a leading single quote;
plain numbers (negative temperatures) stay numbers. JSON lines are left as they are."""

from __future__ import annotations

import csv
import json
from datetime import UTC

import pytest

from streams_app.domain.exports import csv_cell, export_plan, export_write

HOSTILE = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", '=HYPERLINK("http://x")']


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_leading_cell_gets_a_single_quote(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["26", "-4.5", "+5", "0", "chennai", "", "a=b", " =1", "'=1", "1e5"])
def test_plain_numbers_and_text_stay_as_they_are(value):
    assert csv_cell(value) == value


def test_an_export_neutralises_measurements_and_other_fields_but_not_ids(store, redis_client, tmp_path):
    redis_client.xadd("chennai", {"temperature": "=1+1", "humidity": "-4.5"}, id="1-0")
    redis_client.xadd("chennai", {"temperature": "@x", "humidity": "10", "=note": "+cmd"}, id="2-0")
    plan = export_plan(store=store, stream="chennai", start="-", end="+", fmt="csv", tz=UTC)

    result = export_write(store=store, plan=plan, path=tmp_path / "out.csv")

    with result.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == "1-0" and rows[1][2:4] == ["'=1+1", "-4.5"]
    assert rows[2][2:4] == ["'@x", "10"]
    assert json.loads(rows[2][4]) == {"=note": "+cmd"}  # a JSON object starts with "{": nothing to do


def test_json_lines_keep_the_values_exactly(store, redis_client, tmp_path):
    redis_client.xadd("chennai", {"temperature": "=1+1", "humidity": "10"}, id="1-0")
    plan = export_plan(store=store, stream="chennai", start="-", end="+", fmt="jsonl", tz=UTC)

    result = export_write(store=store, plan=plan, path=tmp_path / "out.jsonl")

    assert json.loads(result.path.read_text(encoding="utf-8"))["fields"]["temperature"] == "=1+1"
