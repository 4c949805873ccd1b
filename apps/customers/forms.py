"""Customer forms: they render and parse; the rules live on the model and in services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core import forms as core_forms
from apps.core import regions

from .models import Customer, Package
from .services import EDITABLE_FIELDS, PROFILE_REQUIRED_FIELDS, UNSET

PLACEHOLDERS = {
    "license_no": _("18 位统一社会信用代码或 15 位注册号"),
    "office_phone": _("如 0755-12345678 或 400-820-8820"),
    "contact_phone": _("手机号或带区号的固定电话"),
    "email": _("name@example.com"),
}


def setup_regions(form: forms.ModelForm) -> None:
    """Province and city as choices from GB/T 2260; the city list follows the province."""
    fields = form.fields
    if "province" in fields:
        fields["province"] = forms.ChoiceField(
            label=_("所属省份"),
            required=fields["province"].required,
            choices=[("", _("请选择省份")), *regions.provinces()],
        )
        fields["province"].widget.attrs.update(
            {
                "hx-get": "/regions/cities/",
                "hx-target": "#id_city",
                "hx-trigger": "change",
                "hx-swap": "innerHTML",
            }
        )
    if "city" in fields:
        if form.is_bound:
            province = form.data.get(form.add_prefix("province")) or form.instance.province
        else:
            province = form.instance.province
        fields["city"] = forms.ChoiceField(
            label=_("所属城市"),
            required=fields["city"].required,
            choices=[("", _("请选择城市")), *regions.cities(province or "")],
        )


class CustomerForm(core_forms.ModelForm):
    owner = forms.ModelChoiceField(
        label=_("负责人"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("不分配（进入公海）"),
    )

    class Meta:
        model = Customer
        fields = [*EDITABLE_FIELDS, "license_scan"]
        widgets = {
            "intro": forms.Textarea(attrs={"rows": 3}),
            "remarks": forms.Textarea(attrs={"rows": 3}),
            "license_scan": forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
        }

    def __init__(self, *args, can_assign: bool = False, owners=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        setup_regions(self)
        for name, text in PLACEHOLDERS.items():
            self.fields[name].widget.attrs["placeholder"] = text
        self.fields["license_scan"].help_text = _("PDF、JPG 或 PNG，最大 %(mb)d MB") % {
            "mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        }
        if can_assign and owners is not None:
            self.fields["owner"].queryset = owners
        else:
            del self.fields["owner"]
        for name in PROFILE_REQUIRED_FIELDS:
            self.fields[name].widget.attrs["data-profile-required"] = "1"

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in EDITABLE_FIELDS}

    def chosen_owner(self):
        """The owner picked in the form, or UNSET (the service's default: the creator)."""
        return self.cleaned_data.get("owner") if "owner" in self.fields else UNSET


def new_customer_form(request, initial: dict | None = None) -> CustomerForm:
    """The form for a new customer (created directly or from a lead). Staff allowed to
    assign get an owner picker, defaulting to themselves."""
    from apps.core.permissions import has_perm

    from .selectors import assignable_owners

    can_assign = has_perm(request.user, "customers.assign_customer")
    initial = dict(initial or {})
    if can_assign:
        initial.setdefault("owner", request.user.pk)
    return CustomerForm(
        request.POST or None,
        request.FILES or None,
        can_assign=can_assign,
        owners=assignable_owners() if can_assign else None,
        initial=initial,
    )


def profile_fields_for(missing: list[str]) -> list[str]:
    """The modal asks for exactly the missing fields; the address is asked as a whole
    (province, city, detail) only in the parts that are missing."""
    return [name for name in PROFILE_REQUIRED_FIELDS if name in missing]


class ProfileForm(core_forms.ModelForm):
    """The completeness modal: exactly the missing fields, each required."""

    class Meta:
        model = Customer
        fields = list(PROFILE_REQUIRED_FIELDS)

    def __init__(self, *args, missing: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        wanted = profile_fields_for(missing)
        # Province must be asked together with a missing city (the city list depends on it).
        if "city" in wanted and "province" not in wanted:
            wanted.insert(wanted.index("city"), "province")
        for name in list(self.fields):
            if name not in wanted:
                del self.fields[name]
        setup_regions(self)
        for name in self.fields:
            self.fields[name].required = True
            if name in PLACEHOLDERS:
                self.fields[name].widget.attrs["placeholder"] = PLACEHOLDERS[name]

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.fields}


def module_choices() -> list[tuple[str, str]]:
    return list(settings.CUSTOMER_MODULES)


class ModulesForm(core_forms.Form):
    """开通's choice: a package (its modules), or — without one — the modules."""

    package = forms.ModelChoiceField(
        label=_("套餐"),
        queryset=Package.objects.none(),
        required=False,
        empty_label=_("不选套餐（按下方模块开通）"),
    )
    modules = forms.MultipleChoiceField(
        label=_("开通模块"),
        choices=module_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["package"].queryset = Package.objects.filter(is_active=True).order_by("name")

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("package") and not data.get("modules") and "modules" not in self.errors:
            self.add_error("modules", _("请选择套餐，或至少选择一个模块"))
        return data


class CloseForm(core_forms.Form):
    reason = forms.CharField(
        label=_("关闭原因"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("例如：合同到期未续约")}),
        error_messages={"required": _("请填写关闭原因")},
    )


class PackageForm(core_forms.ModelForm):
    modules = forms.MultipleChoiceField(
        label=_("包含模块"),
        choices=module_choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一个模块")},
    )

    class Meta:
        model = Package
        fields = ["name", "modules", "max_accounts", "max_communities", "is_active", "remarks"]
        widgets = {"name": forms.TextInput(attrs={"placeholder": _("如 标准版")})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            del self.fields["is_active"]

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.fields}


class TrialForm(core_forms.Form):
    """开通试用: a package and how many days."""

    package = forms.ModelChoiceField(
        label=_("套餐"),
        queryset=Package.objects.none(),
        empty_label=_("请选择套餐"),
        error_messages={"required": _("请选择套餐")},
    )
    days = forms.IntegerField(label=_("试用天数"), min_value=1, max_value=settings.TRIAL_MAX_DAYS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["package"].queryset = Package.objects.filter(is_active=True).order_by("name")
        self.fields["days"].initial = settings.TRIAL_DAYS


class ExtendTrialForm(core_forms.Form):
    days = forms.IntegerField(label=_("延长天数"), min_value=1, max_value=settings.TRIAL_MAX_DAYS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.TRIAL_EXTENSION_DAYS
