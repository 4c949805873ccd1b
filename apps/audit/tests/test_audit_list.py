"""操作日志: permissions, filters, row presentation (labels, links, names), the query budget
and the Excel export."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from apps.accounts import services as account_services
from apps.audit import services as audit
from apps.audit.models import AuditLog
from apps.audit.selectors import AuditFilters, audit_list, present
from apps.contracts.tests.factories import make_contract
from apps.core.errors import Forbidden
from apps.customers.services import customer_assign, customer_update
from apps.customers.tests.factories import make_customer

LIST = reverse("audit:list")
EXPORT = reverse("audit:export")


def listed(response) -> list[AuditLog]:
    return [row.log for row in response.context["rows"]]


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST, EXPORT])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
@pytest.mark.parametrize("role_fixture", ["ops", "devops", "nobody"])
@pytest.mark.parametrize("url", [LIST, EXPORT])
def test_non_admins_are_forbidden(request, client_for, role_fixture, url):
    user = request.getfixturevalue(role_fixture)
    response = client_for(user).get(url)
    assert response.status_code == 403
    with pytest.raises(Forbidden):
        audit_list(user=user, filters=AuditFilters())


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST, EXPORT])
def test_admin_may_read(client_for, admin_user, url):
    assert client_for(admin_user).get(url).status_code == 200


@pytest.mark.django_db
def test_manager_reads_business_history_but_not_logins_or_staff(client_for, manager, ops):
    """运营主管 read the rows about what they may see (customers, contracts, leads), never
    the login log or staff and token rows."""
    customer = make_customer(actor=manager, name="甲物业", complete=True)
    customer_assign(actor=manager, customers=[customer], owner=ops)
    make_contract(actor=manager, customer=customer)
    audit.record(actor=ops, action="login", obj=ops)
    audit.record(actor=manager, action="update", obj=ops, changes={"name": ["a", "b"]})

    response = client_for(manager).get(LIST)
    assert response.status_code == 200
    seen = {(row.content_type.model, row.action) for row in listed(response)}
    assert ("customer", "assign") in seen and ("contract", "create") in seen
    assert not {model for model, _action in seen} & {"user", "apitoken"}
    assert all(action != "login" for _model, action in seen)
    # Asking for the login log or a staff row by filter changes nothing.
    for query in ({"action": "auth"}, {"action": "login"}, {"object_type": "staff"}):
        rows = listed(client_for(manager).get(LIST, query))
        assert all(r.action != "login" and r.content_type.model != "user" for r in rows)
    options = response.context["form"].fields["object_type"].choices
    assert "staff" not in {code for code, _label in options}
    # The menu offers it to managers.
    assert LIST in client_for(manager).get(reverse("console:dashboard")).content.decode()


@pytest.mark.django_db
def test_menu_item_for_admin_only(client_for, admin_user, ops):
    assert LIST in client_for(admin_user).get(reverse("console:dashboard")).content.decode()
    assert LIST not in client_for(ops).get(reverse("console:dashboard")).content.decode()


@pytest.mark.django_db
def test_rows_show_time_actor_ip_action_object_link_and_labelled_diff(
    client_for, admin_user, manager, ops
):
    customer = make_customer(actor=manager, name="甲物业", complete=True)
    customer_update(actor=manager, customer=customer, data={"name": "乙物业"})
    customer_assign(actor=manager, customers=[customer], owner=ops)
    contract = make_contract(actor=manager, customer=customer)

    response = client_for(admin_user).get(LIST, {"object_type": "customer"})
    html = response.content.decode()
    rows = response.context["rows"]
    assert [r.log.action for r in rows] == ["assign", "update", "create"]
    update = rows[1]
    assert update.url == reverse("customers:detail", args=[customer.pk])
    assert f'href="{update.url}"' in html
    assert update.type_label == "客户" and update.action_label == "修改"
    (change,) = update.changes
    assert (change.label, change.old, change.new) == ("企业名称", "甲物业", "乙物业")
    # Foreign keys are shown by name, not id.
    (owner_change,) = rows[0].changes
    assert owner_change.label == "负责人"
    assert owner_change.old == "主管老张" and owner_change.new == "运营小王"
    assert "负责人" in html and "运营小王" in html
    # Time as Y-m-d H:i:s in Asia/Shanghai.
    local = timezone.localtime(update.log.at).strftime("%Y-%m-%d %H:%M:%S")
    assert local in html
    assert "主管老张" in html

    response = client_for(admin_user).get(LIST, {"object_type": "contract"})
    (row,) = response.context["rows"]
    assert row.url == reverse("contracts:detail", args=[contract.pk])
    labels = {c.label: c.new for c in row.changes}
    assert labels["开户行"] == contract.bank_name
    assert labels["状态"] == "开通"
    assert labels["客户"] == str(customer.__class__.objects.get(pk=customer.pk))


@pytest.mark.django_db
def test_request_ip_and_request_id_are_shown(client_for, admin_user, ops):
    c = client_for(admin_user)
    c.post(
        reverse("accounts:staff_set_active", args=[ops.pk]),
        {"active": "0"},
        REMOTE_ADDR="10.20.30.40",
        headers={"X-Request-ID": "req-audit-0001"},
    )
    html = c.get(LIST, {"action": "disable"}).content.decode()
    assert "10.20.30.40" in html and "req-audit-0001" in html and "停用" in html
    assert 'class="old">是</td>' in html and 'class="new">否</td>' in html


@pytest.mark.django_db
def test_create_rows_show_only_fields_with_values(client_for, admin_user):
    from apps.accounts.services import staff_create, token_issue

    member = staff_create(
        actor=admin_user, username="fresh", password="Fresh-Pass1!", roles=["devops"], name="新人"
    )
    token_issue(actor=admin_user, user=member, name="脚本", scopes=["api"])
    response = client_for(admin_user).get(LIST, {"action": "create", "object_type": "staff"})
    (row,) = response.context["rows"]
    labels = {c.label: c.new for c in row.changes}
    assert labels["用户名"] == "fresh" and labels["姓名"] == "新人" and labels["角色"] == "开发运维"
    assert labels["有效"] == "是"
    assert "手机号" not in labels and "电子邮件地址" not in labels  # empty on create
    assert "名字" not in labels and "工作人员状态" not in labels  # not audited
    response = client_for(admin_user).get(LIST, {"action": "issue_token"})
    (row,) = response.context["rows"]
    labels = {c.label: c.new for c in row.changes}
    assert labels["签发人"] == "管理员" and labels["所属账号"] == "新人"
    assert labels["权限范围"] == "控制台 API（按所属账号的权限）"
    assert "过期时间" not in labels


@pytest.mark.django_db
def test_filters(client_for, admin_user, manager, ops):
    customer = make_customer(actor=manager, name="过滤测试物业")
    make_customer(actor=ops, name="另一家")
    account_services.staff_update(actor=admin_user, user=ops, name="新名字")
    old = AuditLog.objects.create(action="update", actor_name="某人", object_repr="旧记录")
    AuditLog.objects.filter(pk=old.pk).update(
        at=timezone.make_aware(dt.datetime(2020, 5, 1, 12, 0))
    )
    admin = client_for(admin_user)

    def actions(**params) -> list[tuple[str, str]]:
        response = admin.get(LIST, params)
        assert response.status_code == 200
        return [(r.action, r.object_repr) for r in listed(response)]

    assert actions(actor=str(manager.pk)) == [("create", str(customer))]
    assert actions(object_type="staff", action="update") == [("update", "新名字")]
    assert ("update", "旧记录") in actions(actor="system")
    assert actions(q="过滤测试") == [("create", str(customer))]
    assert actions(q=customer.enterprise_no.lower()) == [("create", str(customer))]
    by_id = AuditLog.objects.create(action="delete", object_id="987654", object_repr="已删除")
    assert actions(q="987654") == [("delete", "已删除")]
    assert actions(q="987654", action="update") == []
    by_id.delete()
    assert actions(date_from="2020-05-01", date_to="2020-05-01") == [("update", "旧记录")]
    assert ("update", "旧记录") not in actions(date_from="2020-05-02")
    assert actions(date_to="2020-04-30") == []
    # A filter that does not parse is ignored and said so, not an error page.
    response = admin.get(LIST, {"date_from": "not-a-date"})
    assert response.status_code == 200 and "该条件未生效" in response.content.decode()
    assert len(listed(response)) == AuditLog.objects.count()


@pytest.mark.django_db
def test_login_log_filter(client_for, admin_user, ops):
    from django.test import Client

    c = Client()
    c.post("/accounts/login/", {"username": "ops1", "password": "wrong-Pass1!"})
    c.post("/accounts/login/", {"username": "ops1", "password": "Pa$$w0rd!x"})
    c.post(reverse("accounts:logout"))
    account_services.staff_update(actor=admin_user, user=ops, name="改名")
    admin = client_for(admin_user)

    response = admin.get(LIST, {"action": "auth", "actor": "", "object_type": "staff"})
    got = [r.action for r in listed(response) if r.object_id == str(ops.pk)]
    assert got == ["logout", "login", "login_failed"]
    # client_for() signs the admin in through Django's login() too.
    assert {r.action for r in listed(response)} == {"login", "logout", "login_failed"}
    html = response.content.decode()
    assert "登录失败" in html and "退出" in html and "密码错误" in html
    response = admin.get(LIST, {"action": "login_failed"})
    assert [r.action for r in listed(response)] == ["login_failed"]


@pytest.mark.django_db
def test_paginates_newest_first(client_for, admin_user, settings):
    settings.LIST_PAGE_SIZE = 20
    base = timezone.now()
    AuditLog.objects.bulk_create(
        AuditLog(at=base - dt.timedelta(minutes=i), action="update", object_repr=f"row{i:02d}")
        for i in range(25)
    )
    admin = client_for(admin_user)
    first = admin.get(LIST, {"action": "update"})
    assert [r.object_repr for r in listed(first)][:3] == ["row00", "row01", "row02"]
    assert first.context["page_obj"].paginator.count == 25
    assert "action=update&amp;page=2" in first.content.decode()
    second = admin.get(LIST, {"action": "update", "page": 2})
    assert [r.object_repr for r in listed(second)] == [f"row{i:02d}" for i in range(20, 25)]


def _make_rows(manager, ops, n: int) -> None:
    """``n`` audit rows of mixed kinds (create, update with FK diff, staff changes)."""
    for i in range(n // 2):
        customer = make_customer(actor=manager, name=f"批量物业{i}")
        customer_assign(actor=manager, customers=[customer], owner=ops)


@pytest.mark.django_db
def test_query_count_is_constant_per_page(client_for, admin_user, manager, ops, settings):
    settings.LIST_PAGE_SIZE = 100
    admin = client_for(admin_user)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            response = admin.get(LIST, {"object_type": "customer"})
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.context["rows"])

    _make_rows(manager, ops, 10)
    count()  # warm Django's content-type cache
    ten, rows = count()
    assert rows == 10
    _make_rows(manager, ops, 40)
    fifty, rows = count()
    assert rows == 50
    assert fifty == ten


@pytest.mark.django_db
def test_present_resolves_names_in_one_query_per_model(manager, ops, django_assert_num_queries):
    _make_rows(manager, ops, 20)
    rows = list(AuditLog.objects.order_by("-id"))
    present(rows[:1])  # warm the content-type cache
    with django_assert_num_queries(1):  # the users named by 负责人 (and nothing per row)
        presented = present(rows)
    assert len(presented) == len(rows)


@pytest.mark.django_db
def test_export_is_an_excel_file_with_chinese_headers(client_for, admin_user, manager, ops):
    customer = make_customer(actor=manager, name='=HYPERLINK("http://evil")')
    customer_assign(actor=manager, customers=[customer], owner=ops)
    account_services.staff_update(actor=admin_user, user=ops, name="导出测试")
    response = client_for(admin_user).get(EXPORT, {"object_type": "customer"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in response["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.getvalue()))
    ws = wb.active
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == (
        "时间",
        "操作人",
        "来源 IP",
        "请求号",
        "操作",
        "对象类型",
        "对象编号",
        "对象",
        "变更",
        "说明",
    )
    body = values[1:]
    assert [r[4] for r in body] == ["分配负责人", "新建"]  # filtered, newest first
    assign = body[0]
    assert assign[1] == "主管老张" and assign[5] == "客户"
    # Accounts named in a diff are shown under their current name.
    assert assign[8] == "负责人：主管老张 → 导出测试"
    assert isinstance(assign[0], dt.datetime)
    # A name that looks like a formula stays text.
    cells = next(ws.iter_rows(min_row=2, max_row=2))
    assert cells[7].data_type == "s" and cells[7].value.startswith("=HYPERLINK")


@pytest.mark.django_db
def test_export_follows_filters_like_the_list(client_for, admin_user, manager, ops):
    make_customer(actor=manager, name="A")
    make_customer(actor=ops, name="B")
    admin = client_for(admin_user)
    params = {"actor": str(ops.pk)}
    listed_rows = listed(admin.get(LIST, params))
    ws = load_workbook(io.BytesIO(admin.get(EXPORT, params).getvalue())).active
    exported = [r[7] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert exported == [r.object_repr for r in listed_rows] and len(exported) == 1


@pytest.mark.django_db
def test_region_codes_are_shown_by_name(ops):
    from apps.audit.selectors import history
    from apps.customers.tests.factories import make_customer

    customer = make_customer(actor=ops, province="440000", city="440300")
    (row,) = history(customer)
    shown = {c.label: c.new for c in row.changes}
    assert shown["所属省份"] == "广东省" and shown["所属城市"] == "深圳市"
