"""Realistic, deterministic demo data: property-management companies with valid 统一社会信用代码,
real GB/T 2260 region codes, mainland mobiles and landlines.

``build_plan(today)`` describes the customers and contracts that ``manage.py seed_demo`` creates
through the services; the small generators (``company_name``, ``uscc``, ``mobile`` …) are shared
with the list benchmark (``benchmarks/customer_list.py``). Everything is driven by a
``random.Random`` with a fixed seed, so two runs on the same day plan exactly the same data.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stdnum.cn import uscc as stdnum_uscc

SEED = 20260101
# Written into the 备注 of the first demo customer; seed_demo looks for it to stay idempotent.
DEMO_MARKER = "【演示数据】"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class City:
    province: str  # GB/T 2260 province code
    code: str  # GB/T 2260 prefecture-level city code
    name: str  # 深圳
    area_code: str  # landline area code
    districts: tuple[tuple[str, str, tuple[str, ...]], ...]  # (GB/T 2260 code, name, roads)


CITIES: tuple[City, ...] = (
    City(
        "440000",
        "440300",
        "深圳",
        "0755",
        (
            ("440305", "南山区", ("科苑路", "深南大道", "后海大道", "科技南十二路")),
            ("440304", "福田区", ("深南大道", "福华三路", "益田路", "侨香路")),
            ("440307", "龙岗区", ("龙岗大道", "龙翔大道", "坂雪岗大道")),
            ("440306", "宝安区", ("宝安大道", "新湖路", "创业一路")),
        ),
    ),
    City(
        "440000",
        "440100",
        "广州",
        "020",
        (
            ("440106", "天河区", ("天河路", "花城大道", "黄埔大道西", "天河北路")),
            ("440105", "海珠区", ("新港东路", "江南大道中", "工业大道北")),
            ("440111", "白云区", ("白云大道北", "机场路", "广州大道北")),
        ),
    ),
    City(
        "110000",
        "110100",
        "北京",
        "010",
        (
            ("110105", "朝阳区", ("建国路", "望京街", "东三环中路", "朝阳北路")),
            ("110108", "海淀区", ("中关村大街", "西三环北路", "学院路", "上地十街")),
            ("110106", "丰台区", ("丰台北路", "南四环西路", "丽泽路")),
        ),
    ),
    City(
        "310000",
        "310100",
        "上海",
        "021",
        (
            ("310115", "浦东新区", ("世纪大道", "张杨路", "张江路", "浦东南路")),
            ("310112", "闵行区", ("虹梅路", "七莘路", "莘庄工业区春东路")),
            ("310104", "徐汇区", ("漕溪北路", "肇嘉浜路", "虹桥路")),
        ),
    ),
    City(
        "330000",
        "330100",
        "杭州",
        "0571",
        (
            ("330106", "西湖区", ("文三路", "天目山路", "文一西路", "古墩路")),
            ("330108", "滨江区", ("江南大道", "滨盛路", "网商路")),
            ("330110", "余杭区", ("文一西路", "良睦路", "五常大道")),
        ),
    ),
    City(
        "510000",
        "510100",
        "成都",
        "028",
        (
            ("510104", "锦江区", ("红星路", "东大街", "静安路")),
            ("510107", "武侯区", ("人民南路", "科华北路", "武侯祠大街")),
            ("510108", "成华区", ("建设路", "二环路东二段", "府青路")),
        ),
    ),
    City(
        "420000",
        "420100",
        "武汉",
        "027",
        (
            ("420103", "江汉区", ("建设大道", "解放大道", "新华路")),
            ("420111", "洪山区", ("珞喻路", "光谷大道", "雄楚大道")),
            ("420106", "武昌区", ("中北路", "中南路", "武珞路")),
        ),
    ),
)

# Provinces with their capital (and for 广东 also 深圳), real GB/T 2260 codes; the benchmark
# spreads its 100 000 customers over these, weighted roughly by where property companies are.
PROVINCE_CAPITALS: tuple[tuple[str, str, str, int], ...] = (  # (province, city, name, weight)
    ("110000", "110100", "北京", 8),
    ("120000", "120100", "天津", 3),
    ("130000", "130100", "石家庄", 3),
    ("140000", "140100", "太原", 2),
    ("150000", "150100", "呼和浩特", 1),
    ("210000", "210100", "沈阳", 3),
    ("220000", "220100", "长春", 2),
    ("230000", "230100", "哈尔滨", 2),
    ("310000", "310100", "上海", 8),
    ("320000", "320100", "南京", 7),
    ("330000", "330100", "杭州", 7),
    ("340000", "340100", "合肥", 3),
    ("350000", "350100", "福州", 4),
    ("360000", "360100", "南昌", 2),
    ("370000", "370100", "济南", 5),
    ("410000", "410100", "郑州", 4),
    ("420000", "420100", "武汉", 4),
    ("430000", "430100", "长沙", 3),
    ("440000", "440300", "深圳", 7),
    ("440000", "440100", "广州", 6),
    ("450000", "450100", "南宁", 2),
    ("460000", "460100", "海口", 1),
    ("500000", "500100", "重庆", 3),
    ("510000", "510100", "成都", 5),
    ("520000", "520100", "贵阳", 1),
    ("530000", "530100", "昆明", 2),
    ("540000", "540100", "拉萨", 1),
    ("610000", "610100", "西安", 3),
    ("620000", "620100", "兰州", 1),
    ("630000", "630100", "西宁", 1),
    ("640000", "640100", "银川", 1),
    ("650000", "650100", "乌鲁木齐", 1),
)

BRANDS: tuple[tuple[str, str], ...] = (
    ("万家", "wanjia"),
    ("安居", "anju"),
    ("悦邻", "yuelin"),
    ("鸿泰", "hongtai"),
    ("康宁", "kangning"),
    ("嘉禾", "jiahe"),
    ("瑞祥", "ruixiang"),
    ("恒信", "hengxin"),
    ("和美", "hemei"),
    ("宜居", "yiju"),
    ("锦程", "jincheng"),
    ("泰和", "taihe"),
    ("祥和", "xianghe"),
    ("明珠", "mingzhu"),
    ("金桥", "jinqiao"),
    ("华庭", "huating"),
    ("雅苑", "yayuan"),
    ("佳园", "jiayuan"),
    ("馨园", "xinyuan"),
    ("福安", "fuan"),
    ("同心", "tongxin"),
    ("盛邦", "shengbang"),
    ("海悦", "haiyue"),
    ("君安", "junan"),
    ("润泽", "runze"),
    ("长青", "changqing"),
    ("鼎盛", "dingsheng"),
    ("天瑞", "tianrui"),
    ("绿洲", "lvzhou"),
    ("方圆", "fangyuan"),
    ("致远", "zhiyuan"),
    ("兴邦", "xingbang"),
    ("东升", "dongsheng"),
    ("银河", "yinhe"),
    ("新桥", "xinqiao"),
    ("德润", "derun"),
    ("宏达", "hongda"),
    ("星辰", "xingchen"),
    ("融和", "ronghe"),
    ("永安", "yongan"),
    ("中联", "zhonglian"),
    ("居然", "juran"),
)

COMPANY_SUFFIXES = (
    "物业服务有限公司",
    "物业管理有限公司",
    "物业服务有限公司",
    "物业服务集团有限公司",
    "城市服务有限公司",
    "物业发展有限公司",
)
ESTATES = ("锦绣花园", "阳光家园", "翠湖苑", "碧水湾", "金色港湾", "枫林雅居", "书香名邸", "学府里")
VILLAGES = ("永乐", "石桥", "东湖", "龙坞", "新塘", "白沙")

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧"
    "田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
)
GIVEN_NAMES = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "秀英", "霞", "平", "刚", "桂英", "建华", "志强", "晓东", "海燕", "文静",
    "俊杰", "子涵", "雨婷", "国庆", "丽华", "建国", "晓燕", "宏伟", "佳怡", "浩然", "思远",
)  # fmt: skip
MOBILE_PREFIXES = (
    "138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "182", "183", "187",
    "188", "130", "131", "132", "155", "156", "186", "133", "153", "177", "180", "181", "189",
    "199", "166", "173", "191",
)  # fmt: skip
BANKS: tuple[tuple[str, int], ...] = (  # (bank, typical corporate account length)
    ("中国工商银行", 19),
    ("中国建设银行", 20),
    ("中国农业银行", 17),
    ("中国银行", 12),
    ("交通银行", 21),
    ("招商银行", 15),
    ("浦发银行", 16),
    ("兴业银行", 18),
)

# What the demo company (乙方, 绘管家) signs with: the staff member and their work mobile.
PARTY_B = {
    "ops": ("王磊", "13510246688"),
    "ops2": ("李娜", "13925187766"),
    None: ("张敏", "13802556699"),
}


# --- Generators ----------------------------------------------------------------------------


def org_code(rng: random.Random, lead: str = "") -> str:
    """A 9-character organisation code (GB 11714): 8 characters and their check character."""
    body = lead + "".join(rng.choice(USCC_ALPHABET) for _ in range(8 - len(lead)))
    return body + org_code_check(body)


def org_code_check(body: str) -> str:
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body]
    check = 11 - sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc(authority: str, region: str, org: str) -> str:
    """A 统一社会信用代码: registration authority + entity type (2 chars), region (6), organisation
    code (9) and the GB 32100-2015 check character."""
    body = f"{authority}{region}{org}"
    assert len(body) == 17, body
    return body + stdnum_uscc.calc_check_digit(body)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def landline(rng: random.Random, city: City, *, extension: bool = False) -> str:
    """An office line such as ``0755-26781234`` (every demo city has 8-digit local numbers)."""
    number = f"{city.area_code}-{rng.randint(2, 8)}{rng.randrange(10**7):07d}"
    if extension:
        number += f"-{rng.randint(800, 8999)}"
    return number


def service_line(rng: random.Random) -> str:
    return f"400-{rng.randint(600, 999)}-{rng.randrange(10**4):04d}"


def company_name(rng: random.Random, city_name: str, brand: str) -> str:
    suffix = rng.choice(COMPANY_SUFFIXES)
    sep = "市" if rng.random() < 0.8 else ""
    return f"{city_name}{sep}{brand}{suffix}"


BUILDINGS = ("国际大厦", "商务中心", "科技大厦", "金融中心", "创业大厦", "财富广场", "时代广场")


def street_address(rng: random.Random, district: str, roads: tuple[str, ...]) -> str:
    """``南山区科苑路1088号科技大厦12楼1203室``"""
    floor = rng.randint(2, 28)
    room = f"{floor}{rng.randint(1, 12):02d}"
    road = rng.choice(roads)
    return f"{district}{road}{rng.randint(1, 3999)}号{rng.choice(BUILDINGS)}{floor}楼{room}室"


def account_no(rng: random.Random, length: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randrange(10)) for _ in range(length - 1))


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- The seed_demo plan --------------------------------------------------------------------


@dataclass
class ContractPlan:
    data: dict[str, Any]
    # contract_update applied right after creation (renewal closed, termination, supplement).
    update: dict[str, Any] | None = None


@dataclass
class CustomerPlan:
    state: str  # lead | partial | complete | open | closed
    owner: str | None  # "ops", "ops2" or None (the pool)
    # self: the owner creates it · pool: the manager creates it unassigned · direct: the
    # manager creates it for the owner · assigned: created in the pool, then assigned ·
    # handover: created by ops, later reassigned by the manager to the owner.
    via: str
    created: dict[str, Any]  # the fields given to customer_create
    later: dict[str, Any] = field(default_factory=dict)  # then given to customer_update
    modules: list[str] = field(default_factory=list)
    close_reason: str = ""
    contracts: list[ContractPlan] = field(default_factory=list)
    amend: dict[str, Any] = field(default_factory=dict)  # customer_update after activation

    @property
    def profile(self) -> dict[str, Any]:
        return {**self.created, **self.later, **self.amend}


# (state, owner, via, contract pattern) in creation order: the oldest customers (opened, some
# closed since) first, the newest leads last, so the list's newest-first page shows leads.
LAYOUT: tuple[tuple[str, str | None, str, str], ...] = (
    ("closed", "ops", "self", "terminated"),
    ("open", "ops", "self", "renewed"),
    ("open", "ops2", "self", "renewed"),
    ("closed", "ops2", "self", "expired_closed"),
    ("open", "ops", "direct", "expired"),
    ("open", "ops2", "assigned", "renewed_expiring"),
    ("closed", None, "pool", "expired_closed"),
    ("open", "ops", "self", "current"),
    ("open", "ops2", "handover", "amended"),
    ("open", None, "pool", "renewed"),
    ("closed", "ops", "self", "terminated"),
    ("open", "ops2", "self", "expiring"),
    ("open", "ops", "self", "expiring"),
    ("closed", "ops2", "assigned", "none"),
    ("open", "ops", "assigned", "current"),
    ("open", "ops2", "self", "expired"),
    ("open", None, "pool", "current"),
    ("closed", None, "pool", "terminated"),
    ("open", "ops", "self", "expiring"),
    ("open", "ops2", "direct", "current"),
    ("complete", "ops", "self", "pending"),
    ("complete", "ops2", "self", "none"),
    ("complete", None, "pool", "none"),
    ("complete", "ops", "assigned", "none"),
    ("complete", "ops2", "self", "pending"),
    ("complete", "ops", "self", "none"),
    ("complete", None, "pool", "none"),
    ("complete", "ops2", "direct", "none"),
    ("partial", "ops", "self", "none"),
    ("partial", "ops2", "self", "none"),
    ("partial", None, "pool", "none"),
    ("partial", "ops", "assigned", "none"),
    ("lead", "ops", "self", "none"),
    ("lead", None, "pool", "none"),
    ("lead", "ops2", "self", "none"),
    ("lead", None, "pool", "none"),
    ("lead", "ops", "self", "none"),
    ("lead", "ops2", "assigned", "none"),
    ("lead", None, "pool", "none"),
    ("lead", "ops", "self", "none"),
)

CLOSE_REASONS = {
    "terminated": ("客户经营调整，终止合作", "客户被集团收购，系统统一迁移至集团平台"),
    "expired_closed": ("合同到期未续约", "合同到期，客户改用自建系统"),
    "none": ("试用结束未签约",),
}

MODULE_SETS = (
    ["property", "repair", "community"],
    ["property", "repair", "community", "owner_app"],
    ["property", "repair", "community", "owner_app", "parking"],
    ["property", "community", "patrol"],
    ["property", "repair", "community", "owner_app", "patrol", "parking", "report"],
    ["property", "report"],
)


def _intro(rng: random.Random, name: str) -> str:
    year = rng.randint(1998, 2019)
    projects = rng.randint(3, 80)
    area = rng.randint(20, 900)
    kind = rng.choice(("住宅小区", "住宅小区与商业综合体", "写字楼与产业园", "保障性住房与公寓"))
    return (
        f"{name}成立于 {year} 年，在管项目 {projects} 个，服务面积约 {area} 万平方米，"
        f"业态以{kind}为主。"
    )


def _contract_data(
    rng: random.Random,
    plan: CustomerPlan,
    city: City,
    start: dt.date,
    end: dt.date,
    communities: int,
) -> dict[str, Any]:
    profile = plan.profile
    bank, length = rng.choice(BANKS)
    district = rng.choice(city.districts)[1].removesuffix("区").removesuffix("新")
    price = Decimal(rng.choice((4800, 6000, 7200, 9600, 12000)))
    years = max(1, round((end - start).days / 365))
    party_b, party_b_phone = PARTY_B[plan.owner]
    return {
        "bank_name": f"{bank}{city.name}{district}支行",
        "legal_representative": person_name(rng),
        "account_no": account_no(rng, length),
        "start_date": start,
        "end_date": end,
        "communities": communities,
        "amount": (price * communities * years).quantize(Decimal("0.01")),
        "party_a_contact": profile["contact_name"],
        "party_a_phone": profile["contact_phone"],
        "party_b_contact": party_b,
        "party_b_phone": party_b_phone,
        "intro": "",
        "remarks": "",
    }


def _contracts(
    rng: random.Random, plan: CustomerPlan, city: City, pattern: str, today: dt.date
) -> list[ContractPlan]:
    def one(start: dt.date, end: dt.date, communities: int | None = None) -> dict[str, Any]:
        return _contract_data(rng, plan, city, start, end, communities or rng.randint(2, 40))

    def year_from(start: dt.date, years: int = 1) -> dt.date:
        return add_years(start, years) - dt.timedelta(days=1)

    if pattern == "none":
        return []
    if pattern == "current":
        start = today - dt.timedelta(days=rng.randint(60, 300))
        return [ContractPlan(one(start, year_from(start, rng.choice((1, 2, 3)))))]
    if pattern == "pending":  # signed, service starts after the data source is ready
        start = today + dt.timedelta(days=rng.randint(7, 20))
        return [ContractPlan(one(start, year_from(start)))]
    if pattern in {"expiring", "expired"}:
        end = today + (
            dt.timedelta(days=rng.randint(3, 28))
            if pattern == "expiring"
            else -dt.timedelta(days=rng.randint(5, 60))
        )
        start = add_years(end + dt.timedelta(days=1), -1)
        return [ContractPlan(one(start, end))]
    if pattern in {"renewed", "renewed_expiring"}:
        if pattern == "renewed":
            new_start = today - dt.timedelta(days=rng.randint(30, 200))
        else:
            new_start = add_years(today + dt.timedelta(days=rng.randint(5, 25)), -1)
        old_start = add_years(new_start, -1)
        old_end = new_start - dt.timedelta(days=1)
        communities = rng.randint(2, 30)
        old = one(old_start, old_end, communities)
        new = one(new_start, year_from(new_start), communities + rng.randint(0, 6))
        new["remarks"] = f"续签合同，上期合同 {old_start:%Y-%m-%d} 至 {old_end:%Y-%m-%d}"
        close = {"status": "closed", "remarks": f"已续签，续签合同自 {new_start:%Y-%m-%d} 起生效"}
        return [ContractPlan(old, close), ContractPlan(new)]
    if pattern == "amended":
        start = today - dt.timedelta(days=rng.randint(90, 250))
        data = one(start, year_from(start, 2))
        more = data["communities"] + rng.randint(2, 8)
        per = data["amount"] / data["communities"]
        supplement = {
            "communities": more,
            "amount": (per * more).quantize(Decimal("0.01")),
            "remarks": "签订补充协议，增加授权小区",
        }
        return [ContractPlan(data, supplement)]
    if pattern == "terminated":
        start = today - dt.timedelta(days=rng.randint(200, 500))
        stop = today - dt.timedelta(days=rng.randint(10, 60))
        remarks = f"客户终止合作，合同于 {stop:%Y-%m-%d} 提前终止"
        return [
            ContractPlan(one(start, year_from(start, 2)), {"status": "closed", "remarks": remarks})
        ]
    if pattern == "expired_closed":
        end = today - dt.timedelta(days=rng.randint(20, 120))
        start = add_years(end + dt.timedelta(days=1), -1)
        return [
            ContractPlan(one(start, end), {"status": "closed", "remarks": "合同到期未续约，已归档"})
        ]
    raise ValueError(pattern)


def build_plan(today: dt.date) -> list[CustomerPlan]:
    """The demo customers in creation order. Same ``today`` → same plan."""
    rng = random.Random(SEED)
    brands = list(BRANDS)
    rng.shuffle(brands)
    plans: list[CustomerPlan] = []
    for index, (state, owner, via, pattern) in enumerate(LAYOUT):
        city = CITIES[index % len(CITIES)]
        district_code, district, roads = rng.choice(city.districts)
        brand, pinyin = brands[index % len(brands)]
        kind = "company"
        if index in (6, 23):
            kind = "village"  # 村级集体经济组织, authority N
        elif index == 17:
            kind = "owners"  # 业主大会 of a self-managed estate, authority Y
        if kind == "village":
            name = f"{city.name}市{district}{rng.choice(VILLAGES)}村股份经济合作社"
            license_no = uscc("N2", district_code, org_code(rng, "N"))
        elif kind == "owners":
            name = f"{city.name}市{district}{rng.choice(ESTATES)}业主大会"
            license_no = uscc("Y1", district_code, org_code(rng))
        else:
            name = company_name(rng, city.name, brand)
            region = city.code if rng.random() < 0.5 else district_code
            license_no = uscc("91", region, org_code(rng, "MA" + rng.choice("5CD")))
        contact_name = person_name(rng)
        contact = rng.choice((contact_name, contact_name[0] + "经理", contact_name[0] + "总"))
        full = {
            "license_no": license_no,
            "name": name,
            "province": city.province,
            "city": city.code,
            "address": street_address(rng, district, roads),
            "office_phone": (
                service_line(rng)
                if rng.random() < 0.15
                else landline(rng, city, extension=rng.random() < 0.3)
            ),
            "email": f"{rng.choice(('service', 'kefu', 'admin', 'office'))}@{pinyin}wy.com",
            "intro": _intro(rng, name),
            "contact_name": contact,
            "contact_phone": mobile(rng) if rng.random() < 0.85 else landline(rng, city),
        }
        lead = {"name": name, "contact_name": contact, "contact_phone": full["contact_phone"]}
        plan = CustomerPlan(state=state, owner=owner, via=via, created=lead)
        if state == "partial":
            plan.later = {k: full[k] for k in ("province", "city", "office_phone")}
        elif state in {"complete", "open", "closed"}:
            if rng.random() < 0.5:
                plan.later = {k: v for k, v in full.items() if k not in lead}
            else:
                plan.created = full
        if state in {"open", "closed"}:
            plan.modules = list(rng.choice(MODULE_SETS))
        if state == "closed":
            plan.close_reason = rng.choice(CLOSE_REASONS[pattern])
        if state == "open" and rng.random() < 0.2:
            plan.amend = {"office_phone": landline(rng, city), "email": f"contact@{pinyin}.cn"}
        plan.contracts = _contracts(rng, plan, city, pattern, today)
        plans.append(plan)
    plans[0].created["remarks"] = f"{DEMO_MARKER}由 manage.py seed_demo 生成，可随意修改。"
    return plans


def plan_license_numbers(plans: list[CustomerPlan]) -> list[str]:
    return [p.profile["license_no"] for p in plans if p.profile.get("license_no")]


DEMO_DATASOURCE_NOTE = "演示数据源：记录用于演示，未连接真实数据库"


def demo_datasource(customer, *, actor, index: int):
    """A data-source record for a demo customer, written directly: there is no tenant
    database server in a development checkout, so the provisioning pipeline (which must
    prove a real connection) is not run. Marked as demo in its 备注."""
    from apps.audit import services as audit
    from apps.datasources.models import DataSource
    from apps.datasources.services import allocate_names

    name, database = allocate_names(customer)
    datasource = DataSource(
        customer=customer,
        name=name,
        database=database,
        db_type=DataSource.DbType.MYSQL if index % 4 else DataSource.DbType.POSTGRESQL,
        host=f"10.0.3.{11 + index % 4}",
        port=3306 if index % 4 else 5432,
        username=f"t{customer.enterprise_no.lower()}",
        max_connections=10,
        min_connections=2,
        remarks=DEMO_DATASOURCE_NOTE,
        impl_status=index % 3,
        configured_by=actor,
    )
    datasource.set_password(f"Demo#{customer.enterprise_no}x")
    datasource.save()
    audit.record(actor=actor, action="create", obj=datasource, after=audit.snapshot(datasource))
    return datasource


# --- Leads (客户申请) and QR channels ---------------------------------------------------

DEMO_QR_CHANNELS = [
    ("2026 物业管理博览会（深圳）展台海报", "物博会2026", "ops"),
    ("杭州物业协会年会易拉宝", "协会年会", "ops2"),
]
DEMO_LEAD_COMPANIES = [
    "深圳市德馨物业服务有限公司",
    "广州市恒安物业管理有限公司",
    "杭州市绿城悦居物业有限公司",
    "成都市天府嘉苑物业服务有限公司",
    "北京市京华时代物业管理有限公司",
    "上海市浦江之星物业有限公司",
    "武汉市楚天安居物业服务有限公司",
    "深圳市蛇口海湾物业管理有限公司",
    "杭州市西溪湿地物业有限公司",
    "成都市锦江华庭物业服务有限公司",
    "",
    "广州市天河瑞景物业有限公司",
    "上海市静安晶座物业有限公司",
    "北京市朝阳金悦物业服务有限公司",
    "",
    "武汉市汉阳江城物业管理有限公司",
]


def create_demo_leads(staff: dict, *, seed: int = 2026) -> dict[str, int]:
    """QR channels and about thirty leads in every state, through the services (public
    registration, offline entry, claims, call-backs, closing, conversion). Registration times
    are then spread over the past three weeks so the 待回访 and overdue views have content."""
    from django.utils import timezone

    from apps.leads.models import FollowUp, Lead
    from apps.leads.services import (
        lead_assign,
        lead_claim,
        lead_close,
        lead_convert,
        lead_create_offline,
        lead_follow_up,
        lead_register,
        qr_channel_create,
    )

    rng = random.Random(seed)
    manager, ops, ops2 = staff["opsmgr"], staff["ops"], staff["ops2"]
    channels = [
        qr_channel_create(actor=manager, name=name, campaign=campaign, owner=staff[owner])
        for name, campaign, owner in DEMO_QR_CHANNELS
    ]
    counts = {"leads": 0, "follow_ups": 0, "converted": 0}
    now = timezone.now()
    for i, company in enumerate(DEMO_LEAD_COMPANIES * 2):
        if i >= 30:
            break
        name = person_name(rng)
        phone = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        kind = i % 6
        if kind == 5:
            lead = lead_create_offline(
                actor=ops if i % 2 else ops2, name=name, phone=phone, company=company,
                notes="展会现场交换名片",
            )  # fmt: skip
        else:
            channel = ("web", "wechat", "qr", "web", "wechat")[kind]
            ref = channels[i % 2].code if channel == "qr" else ("baidu-sem" if i % 3 else "")
            lead = lead_register(
                name=name, phone=phone, company=company, channel=channel, channel_ref=ref
            ).lead
        counts["leads"] += 1
        worker = lead.owner or (ops if i % 2 else ops2)
        stage = i % 5
        if stage >= 1 and lead.owner_id is None:
            if i % 4 == 0:
                lead_assign(actor=manager, leads=[lead], owner=worker)
            else:
                lead_claim(actor=worker, lead=lead)
        if stage >= 2:
            lead_follow_up(
                actor=worker, lead=lead, method="phone", result="no_answer", notes="无人接听"
            )
            counts["follow_ups"] += 1
        if stage >= 3:
            result = "interested" if i % 2 else "considering"
            lead_follow_up(
                actor=worker, lead=lead, method=rng.choice(["phone", "wechat", "visit"]),
                result=result, notes="介绍了收费和报修模块，对方希望看演示",
                next_follow_up_at=now + dt.timedelta(days=rng.randint(1, 7)),
            )  # fmt: skip
            counts["follow_ups"] += 1
        if stage == 4 and i % 3 == 0:
            lead_close(actor=worker, lead=lead, reason="has_system", note="已在用其他物业系统")
        elif stage == 4 and company:
            lead_convert(actor=worker, lead=lead)
            counts["converted"] += 1
    # Spread registration times over the past three weeks (demo realism only).
    for lead in Lead.objects.all():
        back = dt.timedelta(hours=rng.randint(2, 21 * 24))
        Lead.objects.filter(pk=lead.pk).update(
            registered_at=lead.registered_at - back, last_applied_at=lead.registered_at - back
        )
        FollowUp.objects.filter(lead=lead).update(at=lead.registered_at - back / 2)
    return counts
