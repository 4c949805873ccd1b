import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.tests.factories import grant
from apps.audit.models import AuditLog
from apps.customers.models import Customer
from apps.customers.tests.factories import COMPLETE_PROFILE, make_customer, unique_uscc
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_list_shows_own_and_pool_for_ops_only(client_for, ops, ops2, manager):
    mine = make_customer(actor=ops, name="我的物业")
    theirs = make_customer(actor=ops2, name="别人的物业")
    pool = make_customer(actor=manager, owner=None, name="公海物业")
    body = client_for(ops).get(reverse("customers:list")).content.decode()
    assert mine.enterprise_no in body and pool.enterprise_no in body
    assert theirs.enterprise_no not in body
    body = client_for(manager).get(reverse("customers:list")).content.decode()
    assert theirs.enterprise_no in body


def test_list_search_and_filters(client_for, manager):
    a = make_customer(actor=manager, complete=True, name="深圳万家物业")
    b = make_customer(actor=manager, name="北京安居物业", contact_phone="13912345678")
    c = make_customer(actor=manager, owner=None, name="上海物业")
    client = client_for(manager)

    def listed(**params):
        body = client.get(reverse("customers:list"), params).content.decode()
        return {x.enterprise_no for x in (a, b, c) if x.enterprise_no in body}

    assert listed(q="万家") == {a.enterprise_no}
    assert listed(q=b.enterprise_no.lower()) == {b.enterprise_no}
    assert listed(q=a.license_no) == {a.enterprise_no}
    assert listed(q="13912345678") == {b.enterprise_no}
    assert listed(province="110000") == {a.enterprise_no}
    assert listed(owner="none") == {c.enterprise_no}
    assert listed(status="1") == set()
    assert listed(sort="name", page_size="50") == {
        a.enterprise_no,
        b.enterprise_no,
        c.enterprise_no,
    }


def test_list_htmx_returns_only_the_table(client_for, ops):
    make_customer(actor=ops)
    response = client_for(ops).get(reverse("customers:list"), **HX)
    body = response.content.decode()
    assert "<table" in body and "<html" not in body


def _list_queries(client, size):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("customers:list"), {"page_size": size})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(client_for, manager, ops, ops2):
    client = client_for(manager)
    for i in range(5):
        make_customer(actor=manager, owner=[ops, ops2, None][i % 3])
    few = _list_queries(client, 20)
    for i in range(60):
        make_customer(actor=manager, owner=[ops, ops2, None][i % 3], complete=i % 2 == 0)
    many = _list_queries(client, 100)
    assert many == few
    assert few <= 12


def test_detail_lists_missing_fields_and_history(client_for, ops):
    customer = make_customer(actor=ops, name="缺资料物业")
    body = client_for(ops).get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "资料不全" in body and "营业执照号" in body
    assert "操作记录" in body and "新建" in body


def test_detail_query_count_is_bounded(client_for, ops):
    customer = make_customer(actor=ops, complete=True)
    for i in range(5):
        from apps.customers.services import customer_update

        customer_update(actor=ops, customer=customer, data={"remarks": f"第{i}次回访"})
    client = client_for(ops)
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("customers:detail", args=[customer.pk]))
    queries = [q["sql"] for q in ctx.captured_queries]
    assert len(queries) <= 14, queries


def test_create_with_only_name_and_contact(client_for, ops):
    response = client_for(ops).post(
        reverse("customers:create"),
        {"name": "只知道名字的物业", "contact_name": "王五", "contact_phone": "13700137000"},
    )
    customer = Customer.objects.get(name="只知道名字的物业")
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[customer.pk])
    assert customer.owner == ops


def test_create_reports_each_bad_field_in_chinese(client_for, ops):
    response = client_for(ops).post(
        reverse("customers:create"),
        {"name": "x", "license_no": "123", "contact_phone": "abc", "office_phone": "12"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "营业执照号：" in body and "联系电话：" in body and "办公电话：" in body
    assert Customer.objects.count() == 0


def test_create_with_scan_checks_content(client_for, ops):
    fake = SimpleUploadedFile("licence.pdf", b"just text", content_type="application/pdf")
    response = client_for(ops).post(
        reverse("customers:create"), {"name": "扫描件物业", "license_scan": fake}
    )
    assert response.status_code == 200
    assert "只接受 PDF、JPG、PNG" in response.content.decode()
    good = SimpleUploadedFile("licence.png", PNG, content_type="image/png")
    response = client_for(ops).post(
        reverse("customers:create"), {"name": "扫描件物业", "license_scan": good}
    )
    customer = Customer.objects.get(name="扫描件物业")
    assert customer.license_scan.name.endswith(".png")
    download = client_for(ops).get(reverse("customers:license_scan", args=[customer.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG
    assert download["Cache-Control"] == "private, no-store"


def test_scan_download_is_scoped(client_for, ops, ops2, devops):
    good = SimpleUploadedFile("licence.png", PNG, content_type="image/png")
    client_for(ops).post(reverse("customers:create"), {"name": "私有", "license_scan": good})
    customer = Customer.objects.get(name="私有")
    url = reverse("customers:license_scan", args=[customer.pk])
    assert client_for(ops2).get(url).status_code == 404
    assert client_for(devops).get(url).status_code == 403


def test_manager_creates_into_pool(client_for, manager):
    client_for(manager).post(reverse("customers:create"), {"name": "公海客户", "owner": ""})
    assert Customer.objects.get(name="公海客户").owner is None


def test_edit_saves_and_audits(client_for, ops):
    customer = make_customer(actor=ops, name="旧")
    data = {"name": "新", "province": "440000", "city": "440300", "address": "南山区 1 号"}
    response = client_for(ops).post(reverse("customers:edit", args=[customer.pk]), data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.city) == ("新", "440300")
    assert AuditLog.objects.filter(action="update", object_id=str(customer.pk)).exists()


def test_activate_modal_lists_exactly_missing_fields(client_for, ops):
    customer = make_customer(actor=ops, contact_name="张三", contact_phone="13900139000")
    make_datasource(customer)
    response = client_for(ops).get(reverse("customers:activate", args=[customer.pk]), **HX)
    body = response.content.decode()
    assert 'class="modal"' in body and "<html" not in body
    for name in ("license_no", "province", "city", "address"):
        assert f'name="{name}"' in body
    for name in ("name", "contact_name", "contact_phone"):
        assert f'name="{name}"' not in body


def test_activate_modal_errors_stay_in_modal(client_for, ops):
    customer = make_customer(actor=ops, contact_name="张三", contact_phone="13900139000")
    make_datasource(customer)
    response = client_for(ops).post(
        reverse("customers:activate", args=[customer.pk]),
        {"license_no": "bad", "modules": ["property"]},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Redirect" not in response
    assert "营业执照号：" in body and "所属省份：" in body
    customer.refresh_from_db()
    assert customer.status == Customer.Status.NOT_OPENED


def test_activate_modal_completes_and_activates(client_for, ops):
    customer = make_customer(actor=ops, contact_name="张三", contact_phone="13900139000")
    make_datasource(customer)
    response = client_for(ops).post(
        reverse("customers:activate", args=[customer.pk]),
        {
            "license_no": unique_uscc(),
            "province": "440000",
            "city": "440300",
            "address": "福田区 2 号",
            "modules": ["property", "repair"],
        },
        **HX,
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("customers:detail", args=[customer.pk])
    customer.refresh_from_db()
    assert customer.status == Customer.Status.OPEN and customer.modules == ["property", "repair"]
    assert AuditLog.objects.filter(action="activate", object_id=str(customer.pk)).exists()


def test_activate_complete_customer_shows_only_modules(client_for, ops):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer)
    body = (
        client_for(ops)
        .get(reverse("customers:activate", args=[customer.pk]), **HX)
        .content.decode()
    )
    assert 'name="modules"' in body and 'name="license_no"' not in body


def test_contract_gate_redirects_when_complete(client_for, ops):
    customer = make_customer(actor=ops, complete=True)
    response = client_for(ops).get(reverse("customers:contract_gate", args=[customer.pk]), **HX)
    assert response["HX-Redirect"] == f"{reverse('contracts:create')}?customer={customer.pk}"


def test_contract_gate_modal_completes_then_continues(client_for, ops):
    customer = make_customer(actor=ops, name="缺资料")
    url = reverse("customers:contract_gate", args=[customer.pk])
    body = client_for(ops).get(url, **HX).content.decode()
    assert "添加合同前请先补全" in body and 'name="contact_phone"' in body
    data = {k: v for k, v in COMPLETE_PROFILE.items() if k != "name"}
    data["license_no"] = unique_uscc()
    response = client_for(ops).post(url, data, **HX)
    assert response["HX-Redirect"] == f"{reverse('contracts:create')}?customer={customer.pk}"
    customer.refresh_from_db()
    assert customer.address == COMPLETE_PROFILE["address"]


def test_close_modal_requires_reason(client_for, ops):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer)
    client_for(ops).post(
        reverse("customers:activate", args=[customer.pk]), {"modules": ["property"]}, **HX
    )
    url = reverse("customers:close", args=[customer.pk])
    response = client_for(ops).post(url, {"reason": ""}, **HX)
    assert "请填写关闭原因" in response.content.decode()
    response = client_for(ops).post(url, {"reason": "客户暂停合作"}, **HX)
    assert response.status_code == 204
    customer.refresh_from_db()
    assert customer.status == Customer.Status.CLOSED


def test_bulk_assign_by_manager(client_for, manager, ops):
    a = make_customer(actor=manager, owner=None)
    b = make_customer(actor=manager, owner=None)
    response = client_for(manager).post(
        reverse("customers:assign"), {"ids": [a.pk, b.pk], "owner": ops.pk}
    )
    assert response.status_code == 302
    assert Customer.objects.filter(owner=ops).count() == 2


def test_bulk_assign_costs_the_same_queries_for_many_rows(client_for, manager, ops):
    """One query for the ticked rows whatever their number (the customers were read one by
    one before), and a clear message, not a 404, for an id that is not there."""
    client = client_for(manager)

    def assign(n: int) -> int:
        ids = [make_customer(actor=manager, owner=None).pk for _ in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            client.post(reverse("customers:assign"), {"ids": ids, "owner": ops.pk})
        return len(ctx.captured_queries)

    assert assign(2) == assign(12)
    response = client.post(reverse("customers:assign"), {"ids": [999999], "owner": ops.pk})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "部分客户不存在或无权访问" in page


def test_ops_cannot_assign(client_for, ops):
    a = make_customer(actor=ops)
    response = client_for(ops).post(reverse("customers:assign"), {"ids": [a.pk], "owner": ""})
    assert response.status_code == 403
    a.refresh_from_db()
    assert a.owner == ops


def test_export_uses_the_same_scope_and_filters(client_for, ops, ops2):
    import io

    from openpyxl import load_workbook

    grant(ops, "customers.export_customer")  # 运营主管 hold it; given to a specialist here
    mine = make_customer(actor=ops, name="导出物业")
    make_customer(actor=ops2, name="别人的")
    response = client_for(ops).get(reverse("customers:export"), {"q": "物业"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.getvalue())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("企业号", "企业名称")
    assert [r[0] for r in rows[1:]] == [mine.enterprise_no]


def test_search_by_identifier_is_an_exact_match(client_for, manager):
    from apps.customers.selectors import CustomerFilters, customer_list

    a = make_customer(actor=manager, complete=True, name="HGJ 不是企业号的名字")
    b = make_customer(actor=manager, name="第二家", contact_phone="13912345678")

    def found(q):
        return set(
            customer_list(user=manager, filters=CustomerFilters(q=q)).values_list(
                "enterprise_no", flat=True
            )
        )

    assert found(a.enterprise_no.lower()) == {a.enterprise_no}
    assert found(a.license_no.lower()) == {a.enterprise_no}
    assert found("139 1234 5678") == {b.enterprise_no}
    assert found("+86 13912345678") == {b.enterprise_no}
    assert found("不是企业号") == {a.enterprise_no}
    assert found("HGJ") == {a.enterprise_no}  # a word, not an identifier: name search
