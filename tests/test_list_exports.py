"""Every console list exports to .xlsx: the same rows the page shows (its filters applied),
中文 headers, and never a secret (token hashes, passwords, webhook addresses)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from apps.accounts.models import ApiToken
from apps.accounts.services import token_issue, token_revoke
from apps.accounts.tests.factories import make_staff
from apps.customers.packages import package_create
from apps.datasources.models import Rollout, RolloutTenant
from apps.leads.services import qr_channel_create
from apps.leads.tests.factories import make_lead

pytestmark = pytest.mark.django_db


def sheet_of(response) -> list[list]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.getvalue()), read_only=True)
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def test_qr_channels_with_their_figures(client_for, manager, ops):
    poster = qr_channel_create(actor=manager, name="=博览会海报", owner=ops)
    qr_channel_create(actor=manager, name="电梯广告")
    make_lead(channel="qr", qr_channel=poster, channel_ref=poster.code)
    rows = sheet_of(client_for(manager).get("/leads/qr/export/"))
    assert rows[0][:7] == ["名称", "渠道码", "活动", "负责人", "状态", "报名", "转化"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["=博览会海报"][1:7] == [poster.code, None, ops.display_name, "启用", 1, 0]
    assert by_name["电梯广告"][3] == "公海"
    assert by_name["=博览会海报"][7].endswith(f"ref={poster.code}")


def test_packages(client_for, admin_user):
    package_create(
        actor=admin_user, data={"name": "标准版", "modules": ["property"], "max_accounts": 20}
    )
    rows = sheet_of(client_for(admin_user).get("/customers/packages/export/"))
    assert rows[0][:3] == ["套餐名称", "包含模块", "账号数上限"]
    assert rows[1][0] == "标准版" and rows[1][2] == 20


def test_staff_with_the_pages_filters_and_no_password(client_for, admin_user):
    make_staff("exp_ops", "ops", name="导出专员")
    gone = make_staff("exp_gone", "ops", name="离职专员")
    gone.is_active = False
    gone.save()
    query = {"active": "1", "role": "ops"}
    rows = sheet_of(client_for(admin_user).get("/accounts/staff/export/", query))
    assert rows[0][:4] == ["用户名", "姓名", "手机号", "角色"]
    assert [row[0] for row in rows[1:]] == ["exp_ops"]
    assert rows[1][3] == "运营专员" and rows[1][4] == "在职"
    flat = repr(rows)
    assert "pbkdf2" not in flat and "argon2" not in flat


def test_tokens_without_secrets(client_for, admin_user, devops):
    kept, raw = token_issue(actor=admin_user, user=devops, name="业务系统", scopes=["registry"])
    gone, _raw = token_issue(actor=admin_user, user=devops, name="旧令牌", scopes=["registry"])
    token_revoke(actor=admin_user, token=gone)
    rows = sheet_of(client_for(admin_user).get("/accounts/tokens/export/", {"status": "active"}))
    assert [row[0] for row in rows[1:]] == ["业务系统"]
    assert rows[1][1] == kept.prefix and rows[1][4] == "有效"
    flat = repr(rows)
    assert raw not in flat and ApiToken.objects.get(pk=kept.pk).key_hash not in flat


def test_a_rollouts_tenants_with_the_status_filter(client_for, admin_user):
    rollout = Rollout.objects.create(target_version="0002", status=Rollout.Status.FINISHED)
    for n, status in enumerate(("succeeded", "failed", "succeeded")):
        RolloutTenant.objects.create(
            rollout=rollout,
            name=f"DS-{n}",
            db_type="mysql",
            server="127.0.0.1:3306",
            wave=n,
            status=status,
            message="表已存在" if status == "failed" else "",
        )
    rows = sheet_of(client_for(admin_user).get(f"/fleet/{rollout.pk}/export/"))
    assert rows[0][:2] == ["批次", "数据源名称"] and len(rows) == 4
    assert rows[1][0] == "金丝雀"
    failed = sheet_of(
        client_for(admin_user).get(f"/fleet/{rollout.pk}/export/", {"status": "failed"})
    )
    assert [row[1] for row in failed[1:]] == ["DS-1"] and failed[1][-1] == "表已存在"
