from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

router = Router(tags=["账号"])


class MeOut(Schema):
    id: int
    username: str
    name: str
    roles: list[str]
    permissions: list[str]


@router.get("me", response=MeOut, summary="当前账号")
def me(request: HttpRequest):
    user = request.user
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.name,
        "roles": sorted(g.name for g in user.groups.all()),
        "permissions": sorted(user.get_all_permissions()),
    }
