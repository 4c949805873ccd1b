"""The input rules (apps.core.inputs) and that every entry point uses them: each console
form, each API request schema, and every save of a platform model."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django import forms
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from pydantic import BaseModel

from apps.api.common import Input
from apps.core import inputs
from apps.core.errors import ValidationFailed
from apps.core.forms import CleanInputMixin
from apps.customers.tests.factories import make_customer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１３８００１３８０００", "13800138000"),
        ("13٨00138000", "13800138000"),
        ("१२३", "123"),
        ("ＡＢＣ１２", "ＡＢＣ12"),  # only digits change
        ("²", "²"),  # a superscript is not a decimal digit
        ("", ""),
    ],
)
def test_ascii_digits(raw, expected):
    assert inputs.ascii_digits(raw) == expected


@pytest.mark.parametrize(
    ("value", "multiline", "ok"),
    [
        ("万家物业", False, True),
        ("第一行\n第二行", True, True),
        ("第一行\r\n第二行\t缩进", True, True),
        ("第一行\n第二行", False, False),
        ("制表\t符", False, False),
        ("响铃\x07", True, False),
        ("C1\x85", True, False),
        ("删除\x7f", False, False),
        ("空\x00字符", True, False),
        ("代理\ud800", True, False),
        ("代理\udfff", False, False),
        ("emoji 😀 ok", False, True),
    ],
)
def test_text_problem(value, multiline, ok):
    assert (inputs.text_problem(value, multiline=multiline) is None) == ok


def test_text_length_is_checked_before_the_database():
    inputs.check_text("长" * 50, max_length=50)
    with pytest.raises(ValidationError, match="最多 50 个字"):
        inputs.check_text("长" * 51, max_length=50)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (dt.date(2000, 1, 1), True),
        (dt.date(2100, 12, 31), True),
        (dt.date(1999, 12, 31), False),
        (dt.date(9999, 12, 31), False),
        (dt.date(1, 1, 1), False),
        (dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC), True),
        (dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC), False),
    ],
)
def test_dates_are_bounded(value, ok):
    if ok:
        inputs.check_value(value)
    else:
        with pytest.raises(ValidationError, match="日期应在 2000-01-01 至 2100-12-31 之间"):
            inputs.check_value(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (2**63 - 1, True), (2**63, False), (-(10**20), False), (Decimal("NaN"), False)],
)
def test_numbers_are_bounded(value, ok):
    if ok:
        inputs.check_value(value)
    else:
        with pytest.raises(ValidationError):
            inputs.check_value(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (12, 12),
        ("１２", 12),
        (" 7 ", 7),
        ("0", None),
        ("-1", None),
        ("²", None),
        ("1e3", None),
        (str(10**20), None),
        ("", None),
        (None, None),
    ],
)
def test_parse_id(raw, expected):
    assert inputs.parse_id(raw) == expected


# --- Every entry uses the rules -----------------------------------------------------------


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


def test_every_console_form_applies_the_rules():
    for config in django_apps.get_app_configs():
        if config.name.startswith("apps."):
            with contextlib.suppress(ModuleNotFoundError):
                importlib.import_module(f"{config.name}.forms")
    platform_forms = {
        cls
        for cls in _all_subclasses(forms.BaseForm)
        if cls.__module__.startswith("apps.")
        and not cls.__module__.endswith("tests")
        and cls.__module__ != "apps.accounts.views"  # the login form stores nothing
        and cls.__module__ != "apps.core.forms"
    }
    assert platform_forms, "no form found"
    missing = sorted(
        f"{c.__module__}.{c.__name__}" for c in platform_forms if not issubclass(c, CleanInputMixin)
    )
    assert missing == []


def test_every_api_request_schema_applies_the_rules():
    from config.api import api

    seen = []
    for _prefix, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                for params in operation.models:
                    for name, field in params.model_fields.items():
                        schema = field.annotation
                        if isinstance(schema, type) and issubclass(schema, BaseModel):
                            seen.append(schema)
                            assert issubclass(schema, Input), (path, name, schema)
    assert len(seen) > 20


def test_a_hostile_form_value_is_a_field_error():
    from apps.leads.forms import LeadForm

    form = LeadForm({"name": "王\x07经理", "phone": "13800138000", "notes": "第一行\n第二行"})
    assert not form.is_valid()
    assert "控制字符" in form.errors["name"][0]
    assert "notes" not in form.errors


@pytest.mark.django_db
def test_every_save_of_a_platform_model_is_guarded(manager):
    customer = make_customer(actor=manager, name="甲物业")
    customer.name = "甲\x1b物业"
    with pytest.raises(ValidationFailed) as caught:
        customer.save()
    assert "name" in caught.value.fields
    assert "企业名称" in caught.value.message
    # Only the fields being written are checked.
    customer.refresh_from_db()
    customer.remarks = "第一行\n第二行"
    customer.save(update_fields=["remarks"])


@pytest.mark.django_db
def test_audit_rows_are_not_guarded(manager):
    """Audit rows are written by the platform; a hostile header value (a user agent) must
    never make an action fail — it is made safe where it is shown or exported."""
    from apps.audit.models import AuditLog

    assert AuditLog.input_guard is False


@pytest.mark.django_db
def test_clean_stored_rows_brings_old_rows_within_the_rules(manager):
    """What the data migrations run: control characters dropped (line breaks kept in
    multi-line text, made spaces elsewhere), far dates moved to the nearest bound."""
    from apps.leads.models import Lead
    from apps.leads.services import lead_create_offline

    customer = make_customer(actor=manager, name="甲物业")
    Customer = type(customer)
    Customer.objects.filter(pk=customer.pk).update(
        name="甲\x07物业", address="一行\n二行", intro="第一段\n第二段\x1b"
    )
    lead = lead_create_offline(actor=manager, name="申请人", phone="13700137000")
    far = dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)
    Lead.objects.filter(pk=lead.pk).update(next_follow_up_at=far, company="公司\x01")

    assert inputs.clean_stored_rows(Customer) == 1
    assert inputs.clean_stored_rows(Lead) >= 2
    customer.refresh_from_db()
    assert (customer.name, customer.address, customer.intro) == (
        "甲物业",
        "一行 二行",
        "第一段\n第二段",
    )
    lead.refresh_from_db()
    assert lead.company == "公司"
    assert lead.next_follow_up_at == dt.datetime(2100, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    # A second run changes nothing.
    assert inputs.clean_stored_rows(Customer) == 0
    assert inputs.clean_stored_rows(Lead) == 0
