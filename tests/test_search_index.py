"""Substring search through each database's index returns exactly the rows of a plain
substring match (``icontains``) — Chinese shorter than the index's grams, mixed case,
quotes and LIKE wildcards included — and the index follows inserts (bulk ones too),
updates and deletes."""

from __future__ import annotations

import pytest
from django.db.models import Q

from apps.core import search
from apps.customers.models import Customer
from apps.customers.selectors import SEARCH_COLUMNS, SEARCH_INDEX, search_condition
from apps.leads.models import Lead
from apps.leads.selectors import SEARCH_COLUMNS as LEAD_COLUMNS
from apps.leads.selectors import SEARCH_INDEX as LEAD_INDEX

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = [
    ("阳光物业服务有限公司", "李经理"),
    ("阳光城物业", "王总"),
    ("月光物业管理", ""),
    ("Sunshine Property 阳光", "Mr. LEE"),
    ('引号"物业"公司', "张三"),
    ("百分比100%物业", "赵_六"),
    ("物", "单字"),
    ("", "无名"),
    ("深圳市南山区科技园物业", "钱七"),
    ("Ünïcödé Propertý", "Zoë"),
]
QUERIES = [
    "阳",  # one character: shorter than any gram
    "阳光",  # two: a gram, shorter than a trigram
    "阳光物业",
    "光物",
    "物业",
    "sunshine",
    "SUNSHINE prop",
    "lee",
    '"物业"',
    "100%",
    "%",
    "_",
    "赵_",
    "科技园物业",
    "不存在的名字",
    "经理",
    "propertý",
    "zoë",
    "ｓｕｎ",  # full-width letters
]


def plain_ids(model, columns, text) -> set[int]:
    condition = Q()
    for column in columns:
        condition |= Q(**{f"{column}__icontains": text})
    return set(model.objects.filter(condition).values_list("pk", flat=True))


def make_customers() -> None:
    Customer.objects.bulk_create(
        [
            Customer(enterprise_no=f"HGJ8{i:05d}", name=name, contact_name=contact)
            for i, (name, contact) in enumerate(NAMES)
        ]
    )


@pytest.mark.parametrize("text", QUERIES)
def test_customer_search_is_the_plain_substring_match(text):
    make_customers()
    found = set(
        Customer.objects.filter(
            search.contains(Customer, SEARCH_COLUMNS, text, index=SEARCH_INDEX)
        ).values_list("pk", flat=True)
    )
    assert found == plain_ids(Customer, SEARCH_COLUMNS, text)


def test_the_list_search_uses_it():
    make_customers()
    assert set(
        Customer.objects.filter(search_condition("阳光物业")).values_list("name", flat=True)
    ) == {"阳光物业服务有限公司"}


def test_the_index_follows_updates_deletes_and_saves():
    make_customers()
    columns, index = SEARCH_COLUMNS, SEARCH_INDEX

    def found(text: str) -> set[str]:
        condition = search.contains(Customer, columns, text, index=index)
        return set(Customer.objects.filter(condition).values_list("name", flat=True))

    Customer.objects.filter(name="月光物业管理").update(name="星光科技公司")  # a bulk UPDATE
    assert found("月光物业") == set() and found("星光科技") == {"星光科技公司"}
    one = Customer.objects.get(name="阳光城物业")
    one.contact_name = "孙悟空"
    one.save()
    assert found("孙悟空") == {"阳光城物业"}
    one.delete()
    assert found("孙悟空") == set() and found("阳光城") == set()
    Customer.objects.create(enterprise_no="HGJ899999", name="新来的物业公司")
    assert found("新来的物业") == {"新来的物业公司"}
    # Two characters: the grams too.
    assert found("星光") == {"星光科技公司"} and found("月光") == set()
    assert found("悟空") == set() and found("新来") == {"新来的物业公司"}


@pytest.mark.parametrize("text", ["阳光", "阳光物业", "科技", "x"])
def test_lead_search_is_the_plain_substring_match(text):
    Lead.objects.bulk_create(
        [
            Lead(name=contact or "无名", company=name, phone=f"+861390000{i:04d}", channel="web")
            for i, (name, contact) in enumerate(NAMES)
        ]
    )
    found = set(
        Lead.objects.filter(
            search.contains(Lead, LEAD_COLUMNS, text, index=LEAD_INDEX)
        ).values_list("pk", flat=True)
    )
    assert found == plain_ids(Lead, LEAD_COLUMNS, text)


def _plan(text: str) -> tuple[str, str]:
    from django.db import connection

    qs = Customer.objects.filter(
        search.contains(Customer, SEARCH_COLUMNS, text, index=SEARCH_INDEX)
    ).order_by()
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET enable_seqscan = off")  # a few rows: force the choice
            try:
                cursor.execute("EXPLAIN " + sql, params)
                return connection.vendor, " ".join(row[0] for row in cursor.fetchall())
            finally:
                cursor.execute("RESET enable_seqscan")
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return connection.vendor, " ".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        rows = cursor.fetchall()
        return connection.vendor, " ".join(f"{row[2]}:{row[3]}:{row[5]}" for row in rows)


def test_the_database_reads_the_index():
    make_customers()
    vendor, plan = _plan("阳光物业服务")
    if vendor == "postgresql":
        assert "customers_customer_name_trgm" in plan
    elif vendor == "sqlite":
        assert "VIRTUAL TABLE INDEX" in plan
    else:  # one gram index range per trigram: 阳光物, 光物业, 物业服, 业服务
        assert all(f"g{k}:" in plan for k in range(4)), plan


def test_two_characters_read_the_index_too():
    """Shorter than a trigram: PostgreSQL's bigram index, the gram table's prefix range on
    MySQL/MariaDB, its two-character grams on SQLite (whose FTS5 trigrams cannot)."""
    make_customers()
    vendor, plan = _plan("阳光")
    if vendor == "postgresql":
        assert "customers_customer_name_bigram" in plan
        assert "customers_customer_contact_name_bigram" in plan
    elif vendor == "mysql":
        assert "core_searchgram:range" in plan or "core_searchgram:ref" in plan, plan
    else:
        assert "core_searchgram" in plan and "VIRTUAL TABLE" not in plan, plan


AUDIT_QUERIES = ["阳", "阳光", "阳光物业", "物业", "lee", "100%", "_", "4242", "HGJ8", "无此对象"]


@pytest.mark.parametrize("text", AUDIT_QUERIES)
def test_audit_free_text_is_the_plain_match_of_object_or_id(text):
    """操作日志's free text: 对象 containing it, or the object with that id (any type, or
    none), through the indexes — the same rows as the plain conditions."""
    from django.contrib.contenttypes.models import ContentType

    from apps.audit.models import AuditLog
    from apps.audit.selectors import text_condition

    make_customers()
    customer_type = ContentType.objects.get_for_model(Customer)
    lead_type = ContentType.objects.get_for_model(Lead)
    rows = [
        AuditLog(
            action="update",
            content_type=customer_type,
            object_id=str(c.pk),
            object_repr=f"{c.name} {c.contact_name}".strip(),
        )
        for c in Customer.objects.all()
    ]
    rows += [
        AuditLog(action="delete", content_type=lead_type, object_id="4242", object_repr="已删除"),
        AuditLog(action="login", object_id="4242", object_repr=""),
        AuditLog(action="update", content_type=lead_type, object_id="42", object_repr="申请 4242"),
    ]
    AuditLog.objects.bulk_create(rows)
    expected = set(
        AuditLog.objects.filter(Q(object_repr__icontains=text) | Q(object_id=text)).values_list(
            "pk", flat=True
        )
    )
    assert set(AuditLog.objects.filter(text_condition(text)).values_list("pk", flat=True)) == (
        expected
    )
    if text == "4242":
        assert len(expected) == 3


def test_a_text_the_index_offers_for_most_rows_reads_the_table(settings):
    """When the index offers ``LIST_COUNT_CAP`` rows or more the text is common: the list
    reads the table in its own order (its page is among the first rows) instead of
    collecting every candidate first. The rows are the same either way."""
    from django.db import connection

    make_customers()
    if connection.vendor == "postgresql":  # its probe is the planner's estimate: statistics
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_customer")
    settings.LIST_COUNT_CAP = 3
    common = search.candidates(Customer, SEARCH_COLUMNS, "物业", index=SEARCH_INDEX)
    settings.LIST_COUNT_CAP = 100
    rare = search.candidates(Customer, SEARCH_COLUMNS, "物业", index=SEARCH_INDEX)
    assert common is None
    assert rare is not None
    for cap in (3, 100):
        settings.LIST_COUNT_CAP = cap
        for text in ("物业", "阳光物业", "光物业"):
            found = set(
                Customer.objects.filter(
                    search.contains(Customer, SEARCH_COLUMNS, text, index=SEARCH_INDEX)
                ).values_list("pk", flat=True)
            )
            assert found == plain_ids(Customer, SEARCH_COLUMNS, text)
