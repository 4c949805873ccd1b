from __future__ import annotations

import re

from django.contrib.auth.password_validation import MinimumLengthValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class ChineseMinimumLengthValidator(MinimumLengthValidator):
    """Django's length rule with a Chinese message (Django 5.2's wording has no zh-hans
    translation yet, so the error would otherwise appear in English)."""

    def get_error_message(self) -> str:
        return _("密码太短，至少需要 %(min_length)d 个字符") % {"min_length": self.min_length}

    def get_help_text(self) -> str:
        return _("密码至少需要 %(min_length)d 个字符。") % {"min_length": self.min_length}


class ComplexityValidator:
    """Staff passwords need an upper-case letter, a lower-case letter, a digit and a symbol."""

    def validate(self, password: str, user=None) -> None:
        missing = []
        if not re.search(r"[A-Z]", password):
            missing.append(_("大写字母"))
        if not re.search(r"[a-z]", password):
            missing.append(_("小写字母"))
        if not re.search(r"\d", password):
            missing.append(_("数字"))
        if not re.search(r"[^A-Za-z0-9]", password):
            missing.append(_("特殊字符"))
        if missing:
            raise ValidationError(
                _("密码还需包含：%(items)s") % {"items": "、".join(missing)},
                code="password_too_simple",
            )

    def get_help_text(self) -> str:
        return _("密码须包含大写字母、小写字母、数字和特殊字符。")
