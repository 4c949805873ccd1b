"""导入客户申请 in real Chromium: a manager downloads the template, fills it (in openpyxl, as
a person would in Excel), uploads it with a mistake, reads the error by row and column,
fixes it and imports; the leads are in the list."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from apps.accounts.tests.factories import make_staff
from apps.leads.models import Lead
from tests.browser.conftest import CHROMIUM, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_download_fill_and_import(page, tmp_path):
    assert CHROMIUM
    make_staff("mgr_import", "ops_manager", name="主管老张")
    login(page, "mgr_import")
    page.goto(page.base_url + "/leads/")
    page.click("a:has-text('导入')")
    with page.expect_download() as download:
        page.click("#btn-import-template")
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)

    book = load_workbook(template)
    sheet = book.active
    header = ["姓名＊", "手机号＊", "公司名", "所在省份", "负责人", "备注"]
    assert [c.value for c in sheet[1]] == header
    sheet.delete_rows(2)  # the example row
    sheet.append(["孙经理", "13900000001", "孙氏物业", "浙江省", "", "展会名片"])
    sheet.append(["周女士", "1390000", "周记物业", "", "主管老张", ""])  # a short phone
    filled = tmp_path / "filled.xlsx"
    book.save(filled)

    page.set_input_files("#id_file", str(filled))
    page.click("#btn-import")
    errors = page.locator("#import-errors")
    errors.wait_for()
    assert "第 3 行" in errors.inner_text() and "手机号" in errors.inner_text()
    assert Lead.objects.count() == 0

    sheet["B3"] = "13900000002"
    book.save(filled)
    page.set_input_files("#id_file", str(filled))
    page.click("#btn-import")
    page.wait_for_selector(".msg-success:has-text('已导入 2 条客户申请')")
    assert "孙经理" in page.inner_text("main") and "周女士" in page.inner_text("main")
    assert set(Lead.objects.values_list("name", "province")) == {
        ("孙经理", "330000"),
        ("周女士", ""),
    }
