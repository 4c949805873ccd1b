"""Contract forms: they render and parse only. The rules (account digits, end ≥ start,
communities > 0, amount ≥ 0, phones, scan type) live on the model and in the service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core import forms as core_forms

from .models import MAX_COMMUNITIES, Contract

# The fields staff edit, in form order (status has its own action: 开通 / 关闭).
FORM_FIELDS = (
    "bank_name",
    "legal_representative",
    "account_no",
    "start_date",
    "end_date",
    "communities",
    "amount",
    "party_a_contact",
    "party_a_phone",
    "party_b_contact",
    "party_b_phone",
    "intro",
    "remarks",
)

PHONE_HELP = _("手机号，或带区号的固定电话（如 0755-12345678、010-12345678-123）、400/800 电话")
SCAN_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


def _field(name: str, **kwargs: Any) -> forms.Field:
    """The form field Django derives from the model field (label, length, required)."""
    return Contract._meta.get_field(name).formfield(**kwargs)


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ContractForm(core_forms.Form):
    bank_name = _field("bank_name", help_text=_("如：中国工商银行深圳南山支行"))
    legal_representative = _field("legal_representative")
    account_no = _field(
        "account_no",
        help_text=_("对公账号，8–30 位数字，可用空格分隔"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    start_date = _field("start_date", widget=_date_input(), help_text=_("格式 YYYY-MM-DD"))
    end_date = _field(
        "end_date",
        widget=_date_input(),
        help_text=_("不能早于合作开始时间；到期前 30 天会被标记"),
    )
    communities = _field(
        "communities",
        help_text=_("大于 0 的整数，最多 %(n)d") % {"n": MAX_COMMUNITIES},
        widget=forms.NumberInput(attrs={"min": "1", "max": str(MAX_COMMUNITIES), "step": "1"}),
    )
    amount = _field(
        "amount",
        help_text=_("人民币元，最多两位小数，不能为负数"),
        widget=forms.NumberInput(attrs={"min": "0", "step": "0.01"}),
    )
    party_a_contact = _field("party_a_contact", help_text=_("客户方的合同对接人"))
    party_a_phone = _field("party_a_phone", help_text=PHONE_HELP)
    party_b_contact = _field("party_b_contact", help_text=_("我方对接人，默认为当前登录人"))
    party_b_phone = _field("party_b_phone", help_text=PHONE_HELP)
    intro = _field("intro", widget=forms.Textarea(attrs={"rows": 3}))
    remarks = _field("remarks", widget=forms.Textarea(attrs={"rows": 3}))
    scan = forms.FileField(
        label=_("合同扫描件"),
        required=False,
        help_text=_("PDF、JPG 或 PNG，按文件内容校验；最大 10 MB"),
        widget=forms.FileInput(attrs={"accept": SCAN_ACCEPT}),
    )

    def __init__(self, *args: Any, has_scan: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if has_scan:
            self.fields["scan"].help_text = _("已上传扫描件；选择新文件将替换它（PDF、JPG 或 PNG）")

    @staticmethod
    def initial_for(contract: Contract) -> dict[str, Any]:
        return {name: getattr(contract, name) for name in FORM_FIELDS}

    def service_data(self) -> dict[str, Any]:
        """The parsed values for the service (the upload is passed on its own)."""
        return {name: self.cleaned_data[name] for name in FORM_FIELDS}


class StatusForm(core_forms.Form):
    status = forms.ChoiceField(label=_("状态"), choices=Contract.Status.choices)
    reason = forms.CharField(
        label=_("说明"),
        required=False,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("选填，记入操作记录"),
    )
