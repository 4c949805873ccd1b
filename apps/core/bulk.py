"""批量分配: the one view body behind every list's 「分配所选」 bar (customers, leads).

The app says which records the user may see, who may own them and which service assigns;
this reads the ticked ids and the chosen owner, checks them in one query each, calls the
service and says what happened — the same words and the same refusals on every list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .errors import DomainError
from .inputs import parse_id
from .navigation import safe_next


def bulk_assign(
    request: HttpRequest,
    *,
    visible: QuerySet,
    owners: QuerySet,
    assign: Callable[[list[Any], Any], int],
    back_to: str,
    noun: str,
    unit: str,
) -> HttpResponse:
    """Assign the ticked rows of ``visible`` to the chosen member of ``owners`` (empty
    choice: back to the pool) through ``assign(records, owner) -> changed``, then go back
    to the list. ``noun``/``unit`` word the messages: 「已将 3 个客户分配给 王磊」."""
    back = safe_next(request, back_to)
    ids = {i for i in map(parse_id, request.POST.getlist("ids")) if i is not None}
    if not ids:
        messages.error(request, _("请先勾选要分配的%(noun)s") % {"noun": noun})
        return redirect(back)
    owner = None
    if raw := request.POST.get("owner", ""):
        owner_id = parse_id(raw)
        owner = owners.filter(pk=owner_id).first() if owner_id else None
        if owner is None:
            messages.error(request, _("负责人：请选择有效的员工"))
            return redirect(back)
    records = list(visible.filter(pk__in=ids))
    if len(records) != len(ids):
        messages.error(request, _("部分%(noun)s不存在或无权访问") % {"noun": noun})
        return redirect(back)
    try:
        changed = assign(records, owner)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        who = owner.display_name if owner else _("公海（未分配）")
        messages.success(
            request,
            _("已将 %(n)d %(unit)s%(noun)s分配给 %(who)s")
            % {"n": changed, "unit": unit, "noun": noun, "who": who},
        )
    return redirect(back)
