"""员工与角色: permissions on every page, the create / edit / disable / reset-password flows
with their audit rows, list filters and the query budget."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog

GOOD_PASSWORD = "N3w-Secret!pw"


def login_form(client, username: str, password: str, **extra):
    return client.post(
        reverse("accounts:login"), {"username": username, "password": password}, **extra
    )


def rows_for(user: User, action: str) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(
            content_type__app_label="accounts",
            content_type__model="user",
            object_id=str(user.pk),
            action=action,
        ).order_by("id")
    )


@pytest.fixture
def member(db):
    return make_staff("member1", "ops", name="被管理的员工")


def _pages(member_pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("accounts:staff_list")),
        ("get", reverse("accounts:staff_create")),
        ("get", reverse("accounts:staff_edit", args=[member_pk])),
        ("get", reverse("accounts:staff_password", args=[member_pk])),
        ("post", reverse("accounts:staff_set_active", args=[member_pk])),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(5))
def test_anonymous_is_sent_to_login(client, member, index):
    method, url = _pages(member.pk)[index]
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
@pytest.mark.parametrize("role_fixture", ["ops", "manager", "devops", "nobody"])
@pytest.mark.parametrize("index", range(5))
def test_non_admins_are_forbidden(request, client_for, member, role_fixture, index):
    user = request.getfixturevalue(role_fixture)
    method, url = _pages(member.pk)[index]
    response = getattr(client_for(user), method)(url, {"active": "0"} if method == "post" else {})
    assert response.status_code == 403
    assert "无权访问" in response.content.decode()
    member.refresh_from_db()
    assert member.is_active


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(4))
def test_admin_sees_every_page(client_for, admin_user, member, index):
    _method, url = _pages(member.pk)[index]
    response = client_for(admin_user).get(url)
    assert response.status_code == 200


@pytest.mark.django_db
def test_menu_shows_staff_and_tokens_to_admin_only(client_for, admin_user, ops):
    admin_page = client_for(admin_user).get(reverse("console:dashboard")).content.decode()
    ops_page = client_for(ops).get(reverse("console:dashboard")).content.decode()
    for label, url in (
        ("员工与角色", reverse("accounts:staff_list")),
        ("API 令牌", reverse("accounts:token_list")),
    ):
        assert label in admin_page and url in admin_page
        assert url not in ops_page


@pytest.mark.django_db
def test_top_bar_names_each_role_once(client_for):
    import re

    def top_bar(user) -> str:
        html = client_for(user).get(reverse("console:dashboard")).content.decode()
        return re.search(r'<div class="topbar-user">(.*?)</div>', html, re.S).group(1)

    titled = make_staff("wl", "ops", name="运营专员 王磊")
    assert top_bar(titled).count("运营专员") == 1
    plain = make_staff("zm", "ops_manager", name="张敏")
    assert "张敏" in top_bar(plain) and "运营主管" in top_bar(plain)


# --- Create -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_page_lists_roles_with_descriptions(client_for, admin_user):
    from apps.accounts.roles import ROLES

    html = client_for(admin_user).get(reverse("accounts:staff_create")).content.decode()
    for code, role in ROLES.items():
        assert f'value="{code}"' in html
        assert str(role.label) in html
        assert str(role.description) in html
    assert "大写字母" in html  # the password policy is explained


@pytest.mark.django_db
def test_admin_creates_staff_and_the_audit_row_has_no_password(client_for, admin_user):
    response = client_for(admin_user).post(
        reverse("accounts:staff_create"),
        {
            "username": "newops",
            "name": "新同事",
            "phone": "138 0013 8000",
            "email": "new@example.com",
            "roles": ["ops", "devops"],
            "password": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:staff_list")
    user = User.objects.get(username="newops")
    assert user.name == "新同事"
    assert user.phone == "13800138000"
    assert sorted(user.groups.values_list("name", flat=True)) == ["devops", "ops"]
    assert user.check_password(GOOD_PASSWORD)

    (row,) = rows_for(user, "create")
    assert row.actor_id == admin_user.pk
    assert row.ip == "127.0.0.1"
    assert row.request_id
    assert row.changes["roles"] == [None, ["devops", "ops"]]
    assert row.changes["username"] == [None, "newops"]
    dumped = json.dumps(row.changes, ensure_ascii=False)
    assert "password" not in dumped
    assert GOOD_PASSWORD not in dumped and user.password not in dumped

    # The new account logs in through the real form.
    assert login_form(client_for(None), "newops", GOOD_PASSWORD).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password": "Sh0rt!", "password2": "Sh0rt!"}, "password", "密码太短，至少需要 8 个字符"),
        ({"password": "alllowercase1!", "password2": "alllowercase1!"}, "password", "大写字母"),
        ({"password2": "Other-Secret!9"}, "password2", "两次输入的密码不一致"),
        ({"phone": "12345"}, "phone", "手机号"),
        ({"email": "not-an-email"}, "email", "邮箱"),
        ({"username": "admin1"}, "username", "用户名已存在"),
        ({"username": "bad name!"}, "username", "用户名"),
    ],
)
def test_create_rejects_bad_input_on_the_form(client_for, admin_user, overrides, field, message):
    data = {
        "username": "someone",
        "name": "某人",
        "roles": ["ops"],
        "password": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
        **overrides,
    }
    before = User.objects.count()
    response = client_for(admin_user).post(reverse("accounts:staff_create"), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors.get(field), form.errors
    assert message in response.content.decode() or message in str(form.errors)
    assert User.objects.count() == before
    assert not AuditLog.objects.filter(action="create", object_repr__contains="someone").exists()
    # The password typed is never echoed back into the page.
    assert GOOD_PASSWORD not in response.content.decode()


# --- Edit, disable, enable -------------------------------------------------------------


@pytest.mark.django_db
def test_edit_changes_profile_and_roles_with_a_diff(client_for, admin_user, member):
    response = client_for(admin_user).post(
        reverse("accounts:staff_edit", args=[member.pk]),
        {
            "name": "改名后",
            "phone": "13900139000",
            "email": "m@example.com",
            "roles": ["ops_manager"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.name == "改名后"
    assert list(member.groups.values_list("name", flat=True)) == ["ops_manager"]
    (row,) = rows_for(member, "update")
    assert row.changes == {
        "name": ["被管理的员工", "改名后"],
        "phone": ["", "13900139000"],
        "email": ["", "m@example.com"],
        "roles": [["ops"], ["ops_manager"]],
    }
    # The edit page shows that history with labels, not field names or role codes.
    html = client_for(admin_user).get(reverse("accounts:staff_edit", args=[member.pk])).content
    html = html.decode()
    assert "角色" in html and "运营主管" in html and "姓名" in html and "改名后" in html


@pytest.mark.django_db
def test_edit_form_shows_current_values(client_for, admin_user, member):
    response = client_for(admin_user).get(reverse("accounts:staff_edit", args=[member.pk]))
    form = response.context["form"]
    assert form["name"].value() == "被管理的员工"
    assert form["roles"].value() == ["ops"]
    html = response.content.decode()
    assert 'value="ops" checked' in html


@pytest.mark.django_db
def test_edit_rejects_bad_phone_without_saving(client_for, admin_user, member):
    response = client_for(admin_user).post(
        reverse("accounts:staff_edit", args=[member.pk]),
        {"name": "x", "phone": "010-1234", "roles": ["ops"], "is_active": "on"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["phone"]
    member.refresh_from_db()
    assert member.name == "被管理的员工"
    assert not rows_for(member, "update")


@pytest.mark.django_db
def test_unknown_staff_is_404(client_for, admin_user):
    response = client_for(admin_user).get(reverse("accounts:staff_edit", args=[999999]))
    assert response.status_code == 404


@pytest.mark.django_db
def test_disable_then_enable_with_audit_and_login_effect(client_for, admin_user, member):
    admin = client_for(admin_user)
    url = reverse("accounts:staff_set_active", args=[member.pk])

    # A disabled account cannot log in through the form, and open sessions end.
    member_client = client_for(member)
    assert member_client.get(reverse("console:dashboard")).status_code == 200
    response = admin.post(url, {"active": "0"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    (row,) = rows_for(member, "disable")
    assert row.changes == {"is_active": [True, False]}
    assert row.actor_id == admin_user.pk

    assert member_client.get(reverse("console:dashboard")).status_code == 302
    response = login_form(client_for(None), "member1", "Pa$$w0rd!x")
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session

    admin.post(url, {"active": "1"})
    member.refresh_from_db()
    assert member.is_active
    assert len(rows_for(member, "enable")) == 1
    assert login_form(client_for(None), "member1", "Pa$$w0rd!x").status_code == 302


@pytest.mark.django_db
def test_admin_cannot_disable_or_demote_themselves(client_for, admin_user):
    admin = client_for(admin_user)
    response = admin.post(
        reverse("accounts:staff_set_active", args=[admin_user.pk]), {"active": "0"}, follow=True
    )
    assert "不能停用自己的账号" in response.content.decode()
    response = admin.post(
        reverse("accounts:staff_edit", args=[admin_user.pk]),
        {"name": "管理员", "roles": ["ops"], "is_active": "on"},
    )
    assert response.status_code == 200
    assert "不能移除自己的系统管理员角色" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert admin_user.groups.filter(name="admin").exists()


# --- Reset password (HTMX modal) ----------------------------------------------------------


@pytest.mark.django_db
def test_password_modal_is_a_fragment_for_htmx(client_for, admin_user, member):
    url = reverse("accounts:staff_password", args=[member.pk])
    response = client_for(admin_user).get(url, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div class="modal-backdrop">')
    assert "<html" not in html and "sidebar" not in html
    assert f'hx-post="{url}"' in html and 'hx-target="#modal"' in html
    assert 'name="password"' in html and 'name="password2"' in html

    full = client_for(admin_user).get(url).content.decode()
    assert "<html" in full and "modal-backdrop" not in full and "hx-post" not in full


@pytest.mark.django_db
def test_password_modal_shows_errors_in_the_fragment(client_for, admin_user, member):
    url = reverse("accounts:staff_password", args=[member.pk])
    admin = client_for(admin_user)
    response = admin.post(
        url, {"password": "weakpass", "password2": "weakpass"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200  # HTMX swaps 2xx only
    assert html.lstrip().startswith('<div class="modal-backdrop">')
    assert "大写字母" in html
    assert "weakpass" not in html
    response = admin.post(
        url,
        {"password": GOOD_PASSWORD, "password2": GOOD_PASSWORD + "x"},
        headers={"HX-Request": "true"},
    )
    assert "两次输入的密码不一致" in response.content.decode()
    member.refresh_from_db()
    assert member.check_password("Pa$$w0rd!x")
    assert not rows_for(member, "set_password")


@pytest.mark.django_db
def test_password_reset_redirects_htmx_and_is_audited(client_for, admin_user, member):
    url = reverse("accounts:staff_password", args=[member.pk])
    member_client = client_for(member)
    response = client_for(admin_user).post(
        url, {"password": GOOD_PASSWORD, "password2": GOOD_PASSWORD}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("accounts:staff_list")
    member.refresh_from_db()
    assert member.check_password(GOOD_PASSWORD)
    (row,) = rows_for(member, "set_password")
    assert row.changes == {}
    assert row.actor_id == admin_user.pk
    dumped = json.dumps([row.changes, row.message, row.object_repr], ensure_ascii=False)
    assert GOOD_PASSWORD not in dumped and member.password not in dumped
    # The old session of the account ends; the new password works on the form.
    assert member_client.get(reverse("console:dashboard")).status_code == 302
    assert login_form(client_for(None), "member1", GOOD_PASSWORD).status_code == 302


@pytest.mark.django_db
def test_admin_resetting_own_password_stays_signed_in(client_for, admin_user):
    admin = client_for(admin_user)
    response = admin.post(
        reverse("accounts:staff_password", args=[admin_user.pk]),
        {"password": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 302
    assert admin.get(reverse("accounts:staff_list")).status_code == 200


# --- List ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_search_and_filters(client_for, admin_user, ops, devops, member):
    member.phone = "13700137000"
    member.save()
    gone = make_staff("gone", "ops", name="离职员工")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    admin = client_for(admin_user)
    url = reverse("accounts:staff_list")

    def usernames(**params):
        response = admin.get(url, params)
        assert response.status_code == 200
        return [r["member"].username for r in response.context["rows"]]

    assert usernames(q="被管理") == ["member1"]
    assert usernames(q="1370013") == ["member1"]
    assert usernames(q="DEVOPS") == ["devops1"]
    assert usernames(role="devops") == ["devops1"]
    assert usernames(role="ops") == ["gone", "member1", "ops1"]
    assert usernames(active="0") == ["gone"]
    assert "gone" not in usernames(active="1")
    assert usernames(role="ops", active="1", q="ops") == ["ops1"]
    html = admin.get(url, {"role": "devops"}).content.decode()
    assert "开发运维" in html and "运维小赵" in html


@pytest.mark.django_db
def test_list_paginates(client_for, admin_user, settings):
    settings.LIST_PAGE_SIZE = 5
    for i in range(7):
        make_staff(f"p{i:02d}", "ops")
    admin = client_for(admin_user)
    url = reverse("accounts:staff_list")
    first = admin.get(url, {"role": "ops"})
    assert first.context["page_obj"].paginator.count == 7
    assert len(first.context["rows"]) == 5
    assert "role=ops&amp;page=2" in first.content.decode()
    second = admin.get(url, {"role": "ops", "page": 2})
    assert [r["member"].username for r in second.context["rows"]] == ["p05", "p06"]


@pytest.mark.django_db
def test_list_query_count_does_not_grow_with_rows(client_for, admin_user, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.LIST_PAGE_SIZE = 100
    admin = client_for(admin_user)
    url = reverse("accounts:staff_list")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin.get(url).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        make_staff(f"few{i}", "ops")
    few = count()
    ops_group = Group.objects.get(name="ops")
    for i in range(30):
        make_staff(f"many{i:02d}", None).groups.add(ops_group)
    assert count() == few
