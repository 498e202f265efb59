"""Dashboard filter values from the query string: exact matches only, absurd dates refused with a reason."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.errors import ConfigError
from clickstream.dashboard.spec import load, parse_params

TODAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def spec():
    return load()


@pytest.mark.parametrize("app_id", ["demo\n", "demo\r\n", "demo\nx", " demo", "DEMO", "de mo"])
def test_app_id_must_match_entirely(spec, app_id: str) -> None:
    with pytest.raises(ConfigError, match="app id"):
        parse_params(spec, {"app_id": app_id}, TODAY)


@pytest.mark.parametrize(
    "name, value",
    [("date_to", "9999-12-31"), ("date_from", "0001-01-01"), ("date_to", "2101-01-01"), ("date_from", "1969-12-31")],
)
def test_absurd_dates_are_refused_with_the_range_that_is_accepted(spec, name: str, value: str) -> None:
    query = {"app_id": "demo", name: value}
    if name == "date_from":
        query["date_to"] = "2026-12-01"
    with pytest.raises(ConfigError) as err:
        parse_params(spec, query, TODAY)
    assert value in str(err.value) and "1970-01-01" in str(err.value) and "2100-12-31" in str(err.value)


def test_far_but_sensible_dates_pass(spec) -> None:
    params = parse_params(spec, {"app_id": "demo", "date_from": "2020-01-01", "date_to": "2099-12-31"}, TODAY)
    assert params["date_to"] == date(2099, 12, 31) and params["app_id"] == "demo"


def test_the_dashboard_api_answers_400_that_says_why(spec) -> None:
    from clickstream.dashboard.pages import handlers

    dashboard = handlers(spec, run=lambda d, p: None, apps=list, today=lambda: TODAY)["/dashboard"]
    status, _, body = dashboard("GET", "/dashboard/api/panels", "app_id=demo&date_to=9999-12-31")
    assert status == 400 and b"9999-12-31" in body
    status, _, body = dashboard("GET", "/dashboard/api/panels", "app_id=demo%0A")
    assert status == 400 and b"app id" in body
