"""GB/T 2260 provinces and prefecture-level cities, from ``data/regions.json`` in the repo.

The file lists provinces (code, name) each with its cities (code, name). Municipalities
(北京、上海、天津、重庆) have themselves as their single city; 省直辖县级行政单位 are kept
as the province's 省直辖 entry so that every county-level place has a city to choose.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "regions.json"


@cache
def _load() -> tuple[list[dict], dict[str, str], dict[str, str]]:
    provinces = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    parent: dict[str, str] = {}
    for province in provinces:
        names[province["code"]] = province["name"]
        for city in province["cities"]:
            names[city["code"]] = city["name"]
            parent[city["code"]] = province["code"]
    return provinces, names, parent


def provinces() -> list[tuple[str, str]]:
    return [(p["code"], p["name"]) for p in _load()[0]]


def cities(province_code: str) -> list[tuple[str, str]]:
    for p in _load()[0]:
        if p["code"] == province_code:
            return [(c["code"], c["name"]) for c in p["cities"]]
    return []


def name(code: str | None) -> str:
    return _load()[1].get(code or "", "")


def is_province(code: str) -> bool:
    return code in _load()[1] and code not in _load()[2]


def city_in_province(city_code: str, province_code: str) -> bool:
    return _load()[2].get(city_code) == province_code


_SUFFIXES = ("省", "市", "壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区")


def province_code(text: str) -> str | None:
    """A province typed as its code or its name, full (广东省) or short (广东): its code;
    "" for nothing typed; None for something that is not a province."""
    text = (text or "").strip()
    if not text:
        return ""
    if is_province(text):
        return text
    for code, full in provinces():
        short = full
        for suffix in _SUFFIXES:
            if short.endswith(suffix):
                short = short[: -len(suffix)]
                break
        if text in (full, short):
            return code
    return None


def city_code(text: str, province: str) -> str | None:
    """A city of ``province`` typed as its code or its name, full (深圳市) or without 市:
    its code; "" for nothing typed; None for something that is not a city there."""
    text = (text or "").strip()
    if not text:
        return ""
    for code, full in cities(province):
        if text in (code, full, full.removesuffix("市")):
            return code
    return None


def city_names() -> list[str]:
    """Every city's name once (the import template's dropdown)."""
    return sorted({city["name"] for p in _load()[0] for city in p["cities"]})
