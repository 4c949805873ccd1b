"""Excel import of leads: a file with errors in several rows imports nothing and reports
every error by row and column; a clean file imports every row, audited; hostile cells
(formula-looking text, Unicode digits) are handled like typed input — control characters
are refused by the same rule as typed input (``clean_applicant``)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook, load_workbook

from apps.audit.models import AuditLog
from apps.core.errors import Forbidden, ValidationFailed
from apps.leads.importing import leads_import, template_bytes
from apps.leads.models import Lead
from apps.leads.services import lead_create_offline

pytestmark = pytest.mark.django_db

HEADER = ["姓名＊", "手机号＊", "公司名", "备注"]


def xlsx(*rows, header=HEADER) -> SimpleUploadedFile:
    """A workbook as a person fills it: text cells (even those starting with =), numbers
    where a number was typed."""
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text typed with a leading = (Excel's '=…)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("leads.xlsx", buffer.getvalue())


def test_the_template_has_the_columns_and_dropdowns(client_for, manager, ops):
    book = load_workbook(io.BytesIO(template_bytes()))
    sheet = book.active
    assert [c.value for c in sheet[1]] == [
        "姓名＊",
        "手机号＊",
        "公司名",
        "所在省份",
        "负责人",
        "备注",
    ]
    lists = book["选项"]
    assert lists.sheet_state == "hidden"
    provinces = [c.value for c in lists["A"]]
    assert provinces[0] == "所在省份" and "广东省" in provinces and "北京市" in provinces
    assert ops.display_name in [c.value for c in lists["B"]]
    validations = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert validations["D2:D5001"].formula1 == "'选项'!$A$2:$A$" + str(len(provinces))
    assert validations["D2:D5001"].showErrorMessage  # provinces: the list only
    assert not validations["E2:E5001"].showErrorMessage  # a username is accepted too
    response = client_for(manager).get("/leads/import/template.xlsx")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]


def test_errors_in_several_rows_import_nothing_and_name_row_and_column(manager, ops):
    lead_create_offline(actor=ops, name="已有", phone="13900000001")
    result = leads_import(
        actor=manager,
        upload=xlsx(
            ("张三", "13800000001", "阳光物业", ""),
            ("", "12345", "", ""),  # no name, bad phone
            ("李四", "13800000001", "", ""),  # the same phone as row 2
            ("王五", "13900000001", "", ""),  # already a lead
            ("赵六", "13800000004", "物" * 101, ""),  # too long
            (None, None, None, None),  # blank rows are skipped
        ),
    )
    assert result.created == 0
    assert [(e.row, e.column) for e in result.errors] == [
        (3, "姓名"), (3, "手机号"), (4, "手机号"), (5, "手机号"), (6, "公司名"),
    ]  # fmt: skip
    assert "与第 2 行的手机号重复" in result.errors[2].message
    assert "最多 100 个字" in result.errors[4].message
    assert "已有客户申请" in result.errors[3].message
    assert Lead.objects.count() == 1


def test_a_clean_file_imports_every_row_audited(manager):
    result = leads_import(
        actor=manager,
        upload=xlsx(
            ("张三", 13800000001, "阳光物业", "展会"),  # a phone typed as a number
            ("李四", "１３８０００００００２", '=HYPERLINK("http://x")', ""),  # Unicode digits
            ("王五", "+86 138-0000-0003", "", ""),
        ),
    )
    assert result.created == 3 and result.errors == []
    leads = {lead.name: lead for lead in Lead.objects.all()}
    assert leads["李四"].phone == "+8613800000002"
    assert leads["李四"].company == '=HYPERLINK("http://x")'  # kept as typed: text
    assert all(lead.owner == manager and lead.channel == "offline" for lead in leads.values())
    assert AuditLog.objects.filter(action="import").count() == 3
    again = leads_import(actor=manager, upload=xlsx(("张三", "13800000001", "", "")))
    assert again.created == 0 and "已有客户申请" in again.errors[0].message


@pytest.mark.parametrize(
    ("upload", "text"),
    [
        (None, "请选择要导入的 Excel 文件"),
        (SimpleUploadedFile("x.xlsx", b"not a zip"), "不是有效的 .xlsx 文件"),
        (xlsx(("a", "b"), header=["名字", "电话"]), "缺少「姓名」列"),
        (xlsx(), "文件中没有数据行"),
    ],
)
def test_bad_files_are_refused_naming_the_file(manager, upload, text):
    with pytest.raises(ValidationFailed) as exc:
        leads_import(actor=manager, upload=upload)
    assert text in exc.value.fields["file"][0]


def test_importing_is_a_managers_permission(ops, client_for, manager):
    with pytest.raises(Forbidden):
        leads_import(actor=ops, upload=xlsx(("张三", "13800000001", "", "")))
    page = (
        client_for(manager)
        .post("/leads/import/", {"file": xlsx(("", "1", "", ""))})
        .content.decode()
    )
    assert "未导入任何行" in page and "第 2 行" in page
    response = client_for(manager).post(
        "/leads/import/", {"file": xlsx(("张三", "13800000001", "", ""))}, follow=True
    )
    assert "已导入 1 条客户申请" in response.content.decode()


def test_province_by_name_owner_by_name_and_placement_by_rule(manager, ops):
    from apps.accounts.tests.factories import make_staff
    from apps.leads import pool

    placed = make_staff("imp_ops", "ops", name="周七")
    pool.rule_save(
        actor=manager, data={"name": "广东", "province": "广东", "specialists": [placed]}
    )
    header = [*HEADER[:3], "所在省份", "负责人", "备注"]
    result = leads_import(
        actor=manager,
        upload=xlsx(
            ("张三", "13800000001", "", "广东省", "", ""),  # the rule places it
            ("李四", "13800000002", "", "北京", ops.username, ""),  # by username
            ("王五", "13800000003", "", "", ops.display_name, ""),  # by name
            ("赵六", "13800000004", "", "", "", ""),  # no rule: the importer
            header=header,
        ),
    )
    assert result.errors == [] and result.created == 4
    owners = {lead.name: (lead.owner, lead.province) for lead in Lead.objects.all()}
    assert owners == {
        "张三": (placed, "440000"),
        "李四": (ops, "110000"),
        "王五": (ops, ""),
        "赵六": (manager, ""),
    }
    assert all(lead.owned_since for lead in Lead.objects.all())


def test_bad_provinces_owners_and_the_holding_cap_are_row_errors(manager, ops):
    from apps.accounts.tests.factories import make_staff
    from apps.leads import pool

    make_staff("imp_dev", "devops", name="运维甲")
    pool.policy_update(actor=manager, data={"hold_limit": 1})
    header = [*HEADER[:3], "所在省份", "负责人", "备注"]
    result = leads_import(
        actor=manager,
        upload=xlsx(
            ("张三", "13800000001", "", "火星", "", ""),
            ("李四", "13800000002", "", "", "运维甲", ""),  # cannot hold leads
            ("王五", "13800000003", "", "", ops.username, ""),
            ("赵六", "13800000004", "", "", ops.username, ""),  # over the cap of 1
            header=header,
        ),
    )
    assert [(e.row, e.column) for e in result.errors] == [
        (2, "所在省份"), (3, "负责人"), (5, "负责人"),
    ]  # fmt: skip
    assert "最多持有 1 条" in result.errors[2].message
    assert not Lead.objects.exists()


def test_hostile_cells_are_refused_by_row_and_column(manager):
    result = leads_import(
        actor=manager,
        upload=xlsx(
            ("张\x7f三", "13800000001", "", ""),  # DEL in a name
            ("李四", "13800000002", "阳光\t物业", ""),  # a tab in a one-line field
            ("王五", "١٣٨٠٠٠٠٠٠٠٣", "", "第一行\n第二行"),  # Arabic-Indic digits; notes
        ),
    )
    assert [(e.row, e.column) for e in result.errors] == [(2, "姓名"), (3, "公司名")]
    assert not Lead.objects.exists()
    result = leads_import(actor=manager, upload=xlsx(("王五", "١٣٨٠٠٠٠٠٠٠٣", "", "第一行\n第二行")))
    assert result.created == 1
    assert Lead.objects.get().phone == "+8613800000003"
