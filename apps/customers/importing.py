"""Excel import of customers (an existing customer list moving in) from the console's
template: 企业名称 required, the rest of the profile optional (the completeness gate still
guards 开通 and contracts), the province and city by name from dropdowns.

Every row is checked by the model's own rules (``full_clean``: the license number's check
digit, phones, e-mail, the province → city pair, lengths, control characters) before
anything is written. A license number or an enterprise name already on a customer, or twice
in the file, is an error of its row — a customer is never imported twice. With any error
nothing is imported and every error is reported by row and column; otherwise all rows are
created in one transaction, each with its own 企业号, owned by the 负责人 named (a manager
may name anyone who may own customers) or the importer, audited in one statement.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.scope import OwnerNames
from apps.audit import services as audit
from apps.core import regions
from apps.core.errors import Conflict
from apps.core.importing import Column, ImportResult, RowError, read_rows
from apps.core.importing import template_bytes as build_template
from apps.core.inputs import field_problems
from apps.core.permissions import has_perm, require_perm
from apps.core.records import field_labels

from .models import Customer
from .selectors import assignable_owners
from .services import enterprise_number

PERM = "customers.import_customer"
MAX_ROWS = 5000
PROFILE = (
    "name",
    "license_no",
    "address",
    "office_phone",
    "email",
    "contact_name",
    "contact_phone",
    "intro",
    "remarks",
)


def columns() -> tuple[Column, ...]:
    return (
        Column("name", "企业名称", required=True, width=30, example="阳光物业服务有限公司"),
        Column("license_no", "营业执照号", width=22, text=True, example="91440300MA5FXXXXXX"),
        Column(
            "province",
            "所属省份",
            width=14,
            choices=tuple(name for _code, name in regions.provinces()),
            example="广东省",
        ),
        Column("city", "所属城市", width=14, choices=tuple(regions.city_names()), example="深圳市"),
        Column("address", "企业详细地址", width=36, example="南山区科技园路 1 号"),
        Column("office_phone", "办公电话", width=16, text=True),
        Column("email", "邮箱", width=24),
        Column("contact_name", "联系人", width=12, example="李经理"),
        Column("contact_phone", "联系电话", width=16, text=True, example="13800138000"),
        Column(
            "owner",
            "负责人",
            width=14,
            choices=tuple(sorted({u.display_name for u in assignable_owners()})),
            strict=False,
        ),
        Column("intro", "企业简介", width=30),
        Column("remarks", "备注", width=30),
    )


def template_bytes() -> bytes:
    return build_template("客户", columns(), note="示例行，导入前请删除；负责人留空时归导入人")


def _owners(actor: Any) -> OwnerNames:
    """Who a 负责人 cell may name: without the right to assign, only the importer."""
    people = assignable_owners() if has_perm(actor, "customers.assign_customer") else [actor]
    return OwnerNames(people, unknown=_("不是你可以指定的客户负责人"))


def _row(values: dict[str, str], label: dict[str, str]) -> tuple[Customer, dict[str, str]]:
    """The unsaved customer of one row, and its errors by column header."""
    errors: dict[str, str] = {}
    customer = Customer(**{name: values[name] for name in PROFILE})
    province = regions.province_code(values["province"])
    if province is None:
        errors[label["province"]] = _("请选择有效的省份")
        province = ""
    customer.province = province
    city = regions.city_code(values["city"], province) if province else None
    if values["city"] and not province:
        errors.setdefault(label["province"], _("请先填写省份"))
    elif city is None and values["city"]:
        errors[label["city"]] = _("所选城市不属于该省份")
    customer.city = city or ""
    for name, problem in field_problems(customer).items():  # control characters, lengths
        errors.setdefault(label.get(name, name), problem)
    try:
        # The 企业号 is allocated on writing; uniqueness is checked for the whole file below.
        customer.full_clean(exclude=["enterprise_no"], validate_unique=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(label.get(name, name), messages[0])
    if not customer.name:
        errors.setdefault(label["name"], _("请填写企业名称"))
    return customer, errors


def customers_import(*, actor: Any, upload: Any) -> ImportResult:
    """Check every row, then import all of them or none (see the module)."""
    require_perm(actor, PERM, "customers.add_customer")
    cols = columns()
    label = {c.name: c.header for c in cols} | {
        k: str(v) for k, v in field_labels(Customer).items() if k not in {c.name for c in cols}
    }
    rows = read_rows(upload, cols, max_rows=MAX_ROWS)
    owners = _owners(actor)
    errors: list[RowError] = []
    clean: list[tuple[int, Customer]] = []
    parsed: list[tuple[int, Customer, dict[str, str]]] = []
    names: dict[str, int] = {}
    licenses: dict[str, int] = {}
    for number, values in rows:
        customer, problems = _row(values, label)
        owner = actor
        if values["owner"]:
            named, problem = owners.find(values["owner"])
            owner = named or actor
            if problem:
                problems[label["owner"]] = problem
        for key, seen, column in (
            (customer.name, names, "name"),
            (customer.license_no, licenses, "license_no"),
        ):
            if key and not problems.get(label[column]):
                if key in seen:
                    problems[label[column]] = _("与第 %(r)d 行重复") % {"r": seen[key]}
                else:
                    seen[key] = number
        customer.owner = owner
        parsed.append((number, customer, problems))
    by_row = {number: problems for number, _c, problems in parsed}
    for number, column, text in _already_there([(n, c) for n, c, _p in parsed], label):
        by_row[number].setdefault(column, text)
    for number, customer, problems in parsed:
        if problems:
            errors.extend(RowError(number, column, text) for column, text in problems.items())
        else:
            clean.append((number, customer))
    if errors:
        return ImportResult(0, sorted(errors, key=lambda e: (e.row, e.column)))
    now = timezone.now()
    try:
        with transaction.atomic():
            for _n, customer in clean:
                customer.enterprise_no = enterprise_number()
                customer.created_by = actor
                customer.created_at = now
            Customer.objects.bulk_create([c for _n, c in clean])
            created = list(
                Customer.objects.filter(
                    enterprise_no__in=[c.enterprise_no for _n, c in clean]
                ).order_by("pk")
            )
            audit.record_many(
                actor=actor,
                action="import",
                entries=[(customer, {}) for customer in created],
                message=_("Excel 导入"),
            )
    except IntegrityError:  # the same license number entered meanwhile
        raise Conflict(_("导入期间有相同营业执照号的客户被录入，未导入任何行，请重试")) from None
    return ImportResult(len(created), [])


def _already_there(
    rows: list[tuple[int, Customer]], label: dict[str, str]
) -> list[tuple[int, str, str]]:
    """(row, column, problem) for rows naming a customer already in the platform, by
    license number or name (two queries)."""
    licenses = {c.license_no for _n, c in rows if c.license_no}
    names = {c.name for _n, c in rows if c.name}
    taken_licenses = set(
        Customer.objects.filter(license_no__in=licenses).values_list("license_no", flat=True)
    )
    taken_names = set(Customer.objects.filter(name__in=names).values_list("name", flat=True))
    found = []
    for number, customer in rows:
        if customer.license_no and customer.license_no in taken_licenses:
            found.append((number, label["license_no"], _("该营业执照号已有客户，不重复导入")))
        if customer.name and customer.name in taken_names:
            found.append((number, label["name"], _("已有同名客户，不重复导入")))
    return found
