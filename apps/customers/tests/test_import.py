"""Excel import of customers: errors in several rows import nothing and are reported by row
and column; a clean file imports every row with its own 企业号, audited; hostile cells
(control characters, formula-looking text, Unicode digits) are handled like typed input;
a customer already there is never imported twice."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook, load_workbook

from apps.audit.models import AuditLog
from apps.core.errors import Forbidden
from apps.customers.importing import customers_import, template_bytes
from apps.customers.models import Customer

from .factories import make_customer, unique_uscc

pytestmark = pytest.mark.django_db

HEADER = [
    "企业名称＊", "营业执照号", "所属省份", "所属城市", "企业详细地址", "办公电话", "邮箱",
    "联系人", "联系电话", "负责人", "企业简介", "备注",
]  # fmt: skip


def xlsx(*rows: dict) -> SimpleUploadedFile:
    """A workbook as a person fills it, from {header: value} rows."""
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row.get(h.rstrip("＊"), None) for h in HEADER])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("customers.xlsx", buffer.getvalue())


def test_the_template_has_the_columns_and_region_dropdowns(client_for, manager, ops):
    book = load_workbook(io.BytesIO(template_bytes()))
    sheet = book.active
    assert [c.value for c in sheet[1]] == HEADER
    lists = book["选项"]
    columns = {lists.cell(row=1, column=i).value: i for i in range(1, lists.max_column + 1)}
    assert set(columns) == {"所属省份", "所属城市", "负责人"}
    cities = [c.value for c in lists[chr(64 + columns["所属城市"])]]
    assert "深圳市" in cities and "杭州市" in cities
    ranges = {str(v.sqref) for v in sheet.data_validations.dataValidation}
    assert {"C2:C5001", "D2:D5001", "J2:J5001"} <= ranges
    response = client_for(manager).get("/customers/import/template.xlsx")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert client_for(ops).get("/customers/import/template.xlsx").status_code == 403


def test_errors_in_several_rows_import_nothing_and_name_row_and_column(manager):
    make_customer(actor=manager, name="已有物业")
    result = customers_import(
        actor=manager,
        upload=xlsx(
            {"企业名称": "阳光物业", "所属省份": "广东省", "所属城市": "深圳市"},
            {"企业名称": "", "营业执照号": "123", "联系电话": "abc"},
            {"企业名称": "阳光物业", "所属省份": "广东", "所属城市": "杭州"},
            {"企业名称": "已有物业", "邮箱": "not-an-email"},
            {"企业名称": "火星物业", "所属省份": "火星"},
            {"企业名称": "控制\x7f字符", "企业详细地址": "一路\t二号"},  # DEL, a tab
        ),
    )
    assert result.created == 0
    found = [(e.row, e.column) for e in result.errors]
    assert (3, "企业名称") in found and (3, "营业执照号") in found and (3, "联系电话") in found
    assert (4, "企业名称") in found and (4, "所属城市") in found
    assert (5, "企业名称") in found and (5, "邮箱") in found
    assert (6, "所属省份") in found
    assert (7, "企业名称") in found and (7, "企业详细地址") in found
    assert (2, "企业名称") not in found  # the first of the two is fine by itself
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "与第 2 行重复" in messages[(4, "企业名称")]
    assert "已有同名客户" in messages[(5, "企业名称")]
    assert "不属于该省份" in messages[(4, "所属城市")]
    assert Customer.objects.count() == 1


def test_a_clean_file_imports_every_row_audited(manager, ops):
    uscc = unique_uscc()
    result = customers_import(
        actor=manager,
        upload=xlsx(
            {
                "企业名称": "阳光物业服务有限公司",
                "营业执照号": uscc.lower(),
                "所属省份": "广东省",
                "所属城市": "深圳",
                "企业详细地址": "南山区科技园路 1 号",
                "联系人": "李经理",
                "联系电话": "１３８００１３８０００",  # Unicode digits
                "负责人": ops.username,
            },
            {"企业名称": '=HYPERLINK("http://x")', "联系电话": 13900139000},
            {"企业名称": "北京物业", "所属省份": "北京", "负责人": ops.display_name},
        ),
    )
    assert result.errors == [] and result.created == 3
    first = Customer.objects.get(license_no=uscc)
    assert (first.province, first.city, first.owner) == ("440000", "440300", ops)
    assert first.contact_phone == "13800138000" and first.enterprise_no.startswith("HGJ")
    formula = Customer.objects.get(contact_phone="13900139000")
    assert formula.name == '=HYPERLINK("http://x")' and formula.owner == manager
    assert len({c.enterprise_no for c in Customer.objects.all()}) == 3
    assert AuditLog.objects.filter(action="import", content_type__model="customer").count() == 3
    again = customers_import(actor=manager, upload=xlsx({"企业名称": "北京物业"}))
    assert again.created == 0 and "已有同名客户" in again.errors[0].message


def test_importing_is_a_managers_permission(ops, manager, client_for):
    with pytest.raises(Forbidden):
        customers_import(actor=ops, upload=xlsx({"企业名称": "甲"}))
    page = client_for(manager).post(
        "/customers/import/", {"file": xlsx({"企业名称": "", "联系人": "甲"})}
    )
    text = page.content.decode()
    assert "未导入任何行" in text and "第 2 行" in text and "企业名称" in text
    response = client_for(manager).post(
        "/customers/import/", {"file": xlsx({"企业名称": "乙物业"})}, follow=True
    )
    assert "已导入 1 个客户" in response.content.decode()
    assert "导入" in client_for(manager).get("/customers/").content.decode()
