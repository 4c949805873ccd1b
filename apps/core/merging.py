"""The 合并 page every record type shares: find the duplicate (typed, or one of the
suggestions), compare the two side by side, choose which survives, merge. What merging
means — and what it refuses — is the record type's own service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from .errors import DomainError


@dataclass(frozen=True)
class MergeKind:
    noun: str  # 客户申请
    placeholder: str  # what the search box takes
    description: str
    find: Callable[[Any, str], Any]  # (viewer, typed text) → a visible record or None
    candidates: Callable[[Any, Any], list[Any]]  # (viewer, record) → look-alikes
    key: Callable[[Any], str]  # what the search box takes to find a record again
    label: Callable[[Any], str]  # a suggestion's text
    facts: Callable[[Any], list[tuple[str, str]]]  # the comparison's rows
    merge: Callable[..., Any]  # merge(actor=, keep=, drop=) → the survivor
    done: Callable[[Any], str]  # the survivor's page
    nav: str = ""


def merge_page(
    request: HttpRequest, record: Any, kind: MergeKind, *, title: str, back_url: str
) -> HttpResponse:
    query = (request.POST.get("other") or request.GET.get("other") or "").strip()[:40]
    other = kind.find(request.user, query) if query else None
    error = ""
    if query and other is None:
        error = _("找不到该%(noun)s：请输入%(how)s") % {"noun": kind.noun, "how": kind.placeholder}
    elif other is not None and other.pk == record.pk:
        error, other = _("不能把%(noun)s与它自己合并") % {"noun": kind.noun}, None
    if request.method == "POST" and other is not None:
        keep, drop = (other, record) if request.POST.get("keep") == "other" else (record, other)
        try:
            kept = kind.merge(actor=request.user, keep=keep, drop=drop)
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, _("已合并，保留 %(label)s") % {"label": kind.label(kept)})
            return redirect(kind.done(kept))
    rows = []
    if other is not None:
        rows = [
            (label, mine, theirs)
            for (label, mine), (_label, theirs) in zip(
                kind.facts(record), kind.facts(other), strict=True
            )
        ]
    return render(
        request,
        "partials/merge.html",
        {
            "nav": kind.nav,
            "title": title,
            "noun": kind.noun,
            "placeholder": kind.placeholder,
            "description": kind.description,
            "back_url": back_url,
            "query": query,
            "other_key": kind.key(other) if other is not None else "",
            "rows": rows,
            "candidates": [
                {"key": kind.key(c), "label": kind.label(c)}
                for c in kind.candidates(request.user, record)
            ],
            "error": error,
        },
    )
