"""GB/T 2260 region data, its look-ups and the city cascade endpoint."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from apps.core import regions

CHINESE = re.compile(r"^[\u4e00-\u9fff·]+$")


def data() -> list[dict]:
    return json.loads(regions.DATA_FILE.read_text(encoding="utf-8"))


# --- The data file -------------------------------------------------------------------------


def test_every_mainland_province_is_there():
    codes = [code for code, _name in regions.provinces()]
    assert len(codes) == 31
    assert len(set(codes)) == 31
    assert codes == sorted(codes)
    names = dict(regions.provinces())
    assert names["110000"] == "北京市"
    assert names["440000"] == "广东省"
    assert names["650000"] == "新疆维吾尔自治区"
    assert names["540000"] == "西藏自治区"


def test_codes_are_six_digits_and_cities_sit_in_their_province():
    total = 0
    seen: set[str] = set()
    for province in data():
        assert re.fullmatch(r"\d{2}0000", province["code"])
        assert CHINESE.match(province["name"])
        assert province["cities"], province["name"]
        for city in province["cities"]:
            assert re.fullmatch(r"\d{6}", city["code"])
            assert city["code"][:2] == province["code"][:2]
            assert city["code"].endswith("00") and not city["code"].endswith("0000")
            assert CHINESE.match(city["name"]), city
            assert city["code"] not in seen
            seen.add(city["code"])
            total += 1
    assert 330 <= total <= 345


@pytest.mark.parametrize(
    ("province", "city", "name"),
    [
        ("110000", "110100", "北京市"),
        ("120000", "120100", "天津市"),
        ("310000", "310100", "上海市"),
        ("500000", "500100", "重庆市"),
    ],
)
def test_municipalities_have_themselves_as_single_city(province, city, name):
    assert regions.cities(province) == [(city, name)]
    assert regions.name(province) == name


@pytest.mark.parametrize(
    ("province", "city", "name"),
    [
        ("410000", "419000", "省直辖县级行政区划"),  # 济源市
        ("420000", "429000", "省直辖县级行政区划"),  # 仙桃、潜江、天门、神农架
        ("460000", "469000", "省直辖县级行政区划"),  # 琼海、文昌 …
        ("650000", "659000", "自治区直辖县级行政区划"),  # 石河子 …
    ],
)
def test_county_level_places_under_the_province_have_a_city_entry(province, city, name):
    assert (city, name) in regions.cities(province)
    assert regions.city_in_province(city, province)


def test_prefecture_level_cities_and_prefectures():
    guangdong = dict(regions.cities("440000"))
    assert guangdong["440300"] == "深圳市"
    assert guangdong["441900"] == "东莞市"  # no county level below it
    assert len(guangdong) == 21
    assert dict(regions.cities("420000"))["422800"] == "恩施土家族苗族自治州"
    assert dict(regions.cities("150000"))["152900"] == "阿拉善盟"
    assert dict(regions.cities("540000"))["540600"] == "那曲市"  # 2017: 那曲地区 → 那曲市


# --- Look-ups -------------------------------------------------------------------------------


def test_name():
    assert regions.name("330000") == "浙江省"
    assert regions.name("330100") == "杭州市"
    assert regions.name("999999") == ""
    assert regions.name("") == ""
    assert regions.name(None) == ""


def test_is_province():
    assert regions.is_province("330000")
    assert not regions.is_province("330100")  # a city
    assert not regions.is_province("999999")
    assert not regions.is_province("")


def test_cities_of_unknown_province_is_empty():
    assert regions.cities("990000") == []
    assert regions.cities("330100") == []
    assert regions.cities("") == []


def test_city_in_province():
    assert regions.city_in_province("330100", "330000")
    assert not regions.city_in_province("330100", "320000")
    assert not regions.city_in_province("330000", "330000")  # a province is not a city
    assert not regions.city_in_province("999900", "990000")


# --- The cascade endpoint -----------------------------------------------------------------


def test_url():
    assert reverse("core:cities") == "/regions/cities/"


@pytest.mark.django_db
def test_cities_requires_login(client):
    response = client.get("/regions/cities/", {"province": "440000"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_cities_requires_a_role(client_for, nobody):
    response = client_for(nobody).get("/regions/cities/", {"province": "440000"})
    assert response.status_code == 403
    assert "深圳市" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["ops", "manager", "devops", "admin_user"])
def test_cities_answers_every_role(client_for, request, user):
    response = client_for(request.getfixturevalue(user)).get(
        "/regions/cities/", {"province": "440000"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert body.startswith('<option value="">请选择城市</option>')
    assert '<option value="440300">深圳市</option>' in body
    assert body.count("<option") == 22  # placeholder + 21 cities of 广东


@pytest.mark.django_db
def test_cities_of_a_municipality(client_for, ops):
    body = client_for(ops).get("/regions/cities/", {"province": "110000"}).content.decode()
    assert body == '<option value="">请选择城市</option><option value="110100">北京市</option>'


@pytest.mark.django_db
def test_cities_keeps_the_selected_city(client_for, ops):
    body = (
        client_for(ops)
        .get("/regions/cities/", {"province": "420000", "city": "429000"})
        .content.decode()
    )
    assert '<option value="429000" selected>省直辖县级行政区划</option>' in body
    assert body.count("selected") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", [{}, {"province": ""}, {"province": "990000"}, {"province": "<x>"}]
)
def test_cities_of_unknown_province_is_the_placeholder_only(client_for, ops, query):
    response = client_for(ops).get("/regions/cities/", query)
    assert response.status_code == 200
    assert response.content.decode() == '<option value="">请选择城市</option>'


@pytest.mark.django_db
def test_cities_escapes_the_selected_value(client_for, ops):
    body = (
        client_for(ops)
        .get("/regions/cities/", {"province": "110000", "city": '"><script>'})
        .content.decode()
    )
    assert "<script>" not in body
    assert "selected" not in body


@pytest.mark.django_db
def test_cities_is_get_only(client_for, ops):
    assert client_for(ops).post("/regions/cities/", {"province": "110000"}).status_code == 405
