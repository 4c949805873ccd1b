"""The one form-error applier: a service's refusal lands on the form that sent the input,
each field named once."""

from __future__ import annotations

from django import forms

from apps.core.errors import Conflict, ValidationFailed
from apps.core.forms import Form, apply_errors, with_label


class PhoneForm(Form):
    phone = forms.CharField(label="手机号")
    expires_on = forms.DateField(label="有效期至", required=False)


def bound() -> PhoneForm:
    form = PhoneForm(data={"phone": "13800000000"})
    assert form.is_valid()
    return form


def test_field_errors_go_on_their_field():
    form = bound()
    apply_errors(form, ValidationFailed("x", fields={"phone": ["手机号格式不正确"]}))
    assert form.errors["phone"] == ["手机号格式不正确"]
    assert not form.non_field_errors()


def test_aliases_map_a_service_name_to_the_form_field():
    form = bound()
    exc = ValidationFailed("x", fields={"expires_at": ["不能早于今天"]})
    apply_errors(form, exc, aliases={"expires_at": "expires_on"})
    assert form.errors["expires_on"] == ["不能早于今天"]


def test_a_field_the_form_does_not_show_is_still_named():
    form = bound()
    exc = ValidationFailed("x", fields={"email": ["格式不正确"], "name": ["姓名不能为空"]})
    apply_errors(form, exc, labels={"email": "邮箱", "name": "姓名"})
    assert form.non_field_errors() == ["邮箱：格式不正确", "姓名不能为空"]


def test_a_model_form_names_hidden_fields_by_verbose_name():
    from apps.customers.models import Customer

    class NameOnly(Form, forms.ModelForm):
        class Meta:
            model = Customer
            fields = ["name"]

    form = NameOnly(data={"name": "物业"})
    assert form.is_valid()
    apply_errors(form, ValidationFailed("x", fields={"license_no": ["格式不正确"]}))
    assert form.non_field_errors() == ["营业执照号：格式不正确"]


def test_a_refusal_without_fields_is_one_form_wide_message():
    form = bound()
    apply_errors(form, Conflict("该手机号已有进行中的申请"))
    assert form.non_field_errors() == ["该手机号已有进行中的申请"]


def test_with_label_names_the_field_once():
    assert with_label("手机号", "格式不正确") == "手机号：格式不正确"
    assert with_label("手机号", "手机号格式不正确") == "手机号格式不正确"
    assert with_label("", "格式不正确") == "格式不正确"


def test_error_summary_names_each_field_once():
    form = PhoneForm(data={"phone": "", "expires_on": "2026-13-45"})
    assert not form.is_valid()
    summary = form.error_summary()
    assert any(line.startswith("手机号：") for line in summary)
    assert any(line.startswith("有效期至：") for line in summary)


def test_submit_runs_the_service_only_for_a_valid_post():
    from django.test import RequestFactory

    from apps.core.forms import submit

    rf = RequestFactory()
    calls = []

    def service():
        calls.append(1)
        return "saved"

    assert not submit(rf.get("/"), PhoneForm(), service)
    assert not submit(rf.post("/"), PhoneForm(data={"phone": ""}), service)
    assert calls == []
    done = submit(rf.post("/"), PhoneForm(data={"phone": "13800000000"}), service)
    assert done and done.value == "saved" and calls == [1]


def test_submit_puts_refusals_on_the_form_or_the_banner():
    import pytest
    from django.test import RequestFactory

    from apps.core.forms import submit

    post = RequestFactory().post("/")

    def refuse_field():
        raise ValidationFailed("x", fields={"phone": ["手机号已被使用"]})

    def conflict():
        raise Conflict("该客户已是关闭状态")

    form = PhoneForm(data={"phone": "13800000000"})
    assert not submit(post, form, refuse_field)
    assert form.errors["phone"] == ["手机号已被使用"]
    done = submit(post, PhoneForm(data={"phone": "13800000000"}), conflict, banner=True)
    assert not done and done.error == "该客户已是关闭状态"
    with pytest.raises(Conflict):
        submit(post, PhoneForm(data={"phone": "13800000000"}), conflict)
    form = PhoneForm(data={"phone": "13800000000"})
    assert not submit(post, form, conflict, refusals=(ValidationFailed, Conflict))
    assert form.non_field_errors() == ["该客户已是关闭状态"]
