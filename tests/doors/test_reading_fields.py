"""A reading's fields are defined once (domain.readings.MEASUREMENTS): every door offers
exactly those fields, so adding one there adds it everywhere."""

from __future__ import annotations

import csv

from django.core.management import call_command

from streams_app.domain.readings import MEASUREMENTS, READING_FIELDS
from streams_app.web.forms import ReadingForm


def test_the_reading_form_asks_for_the_city_each_measurement_and_the_id():
    assert list(ReadingForm.base_fields) == ["city", *READING_FIELDS, "id"]
    for measurement in MEASUREMENTS:
        field = ReadingForm().fields[measurement.name]
        assert field.label == measurement.label_with_unit
        assert field.widget.attrs["placeholder"] == measurement.example


def test_the_add_reading_page_and_admin_show_every_measurement(web, staff_user, client, redis_client):
    page = web.get("/readings/add/").content.decode()
    client.force_login(staff_user)
    admin = client.get("/admin/streams_app/reading/add/").content.decode()
    for measurement in MEASUREMENTS:
        assert f'name="{measurement.name}"' in page
        assert f'name="{measurement.name}"' in admin
    xadd = "XADD city * " + " ".join(f"{m.name} {m.example}" for m in MEASUREMENTS)
    assert xadd in page and xadd in admin


def test_produce_offers_a_fixed_value_option_per_measurement(redis_client, db):
    from streams_app.management.commands.produce import Command

    usage = Command().create_parser("manage.py", "produce").format_help()
    for measurement in MEASUREMENTS:
        assert f"--{measurement.name}" in usage
    call_command("produce", "chennai", "--count", "2", "--quiet", *[f"--{m.name}={m.example}" for m in MEASUREMENTS])
    for _, fields in redis_client.xrange("chennai"):
        assert {k.decode(): v.decode() for k, v in fields.items()} == {m.name: m.example for m in MEASUREMENTS}


def test_what_the_api_stores_is_every_measurement_in_order(api, redis_client):
    body = {m.name: m.example for m in MEASUREMENTS}
    response = api.post("/api/streams/chennai/readings", body, content_type="application/json")
    assert response.status_code == 201
    [(_, fields)] = redis_client.xrange("chennai")
    assert [name.decode() for name in fields] == list(READING_FIELDS)


def test_csv_exports_have_a_column_per_measurement(redis_client, tmp_path):
    from django.utils import timezone

    from streams_app.domain.exports import export_plan, export_write
    from streams_app.gateway.stores import stream_store

    redis_client.xadd("chennai", {m.name: m.example for m in MEASUREMENTS} | {"note": "x"}, id="1-0")
    store = stream_store()
    plan = export_plan(store=store, stream="chennai", start="-", end="+", fmt="csv", tz=timezone.get_current_timezone())
    result = export_write(store=store, plan=plan, path=tmp_path / "out.csv")
    rows = list(csv.reader(result.path.open()))
    assert rows[0] == ["id", "time_utc", *READING_FIELDS, "other_fields"]
    assert rows[1][2 : 2 + len(MEASUREMENTS)] == [m.example for m in MEASUREMENTS]
