"""Notification console: 通知设置 (each person: which notices reach their robots) and
群机器人 (系统管理员: the 企业微信 / 钉钉 robots, a test message, recent deliveries)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import DomainError
from apps.core.forms import submit
from apps.core.permissions import require_perm

from . import services
from .forms import PreferencesForm, RobotForm
from .models import Delivery, Robot


@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest) -> HttpResponse:
    current = services.preferences(request.user)
    choices = [(k.code, str(k.label)) for k, _on in current]
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        choices=choices,
        initial={"kinds": [k.code for k, on in current if on]},
    )
    done = submit(
        request,
        form,
        lambda: services.preferences_set(user=request.user, enabled=form.cleaned_data["kinds"]),
    )
    if done:
        messages.success(request, _("已保存通知设置"))
        return redirect("notifications:preferences")
    context = {
        "form": form,
        "robots": services.robots_of(request.user),
        "nav": "notifications",
    }
    return render(request, "notifications/preferences.html", context)


@require_GET
def robot_list_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, services.MANAGE)
    robots = Robot.objects.select_related("owner").prefetch_related("members").order_by("name")
    deliveries = Delivery.objects.select_related("robot", "recipient").order_by("-id")[:20]
    return render(
        request,
        "notifications/robot_list.html",
        {"robots": robots, "deliveries": deliveries, "nav": "robots"},
    )


def _robot_form(request: HttpRequest, robot: Robot | None) -> HttpResponse:
    initial = (
        {
            "name": robot.name,
            "kind": robot.kind,
            "owner": robot.owner_id,
            "members": list(robot.members.values_list("pk", flat=True)),
            "is_active": robot.is_active,
        }
        if robot
        else {"is_active": True}
    )
    form = RobotForm(request.POST if request.method == "POST" else None, initial=initial)
    done = submit(
        request,
        form,
        lambda: services.robot_save(
            actor=request.user,
            robot=robot,
            data={
                **{k: form.cleaned_data[k] for k in ("name", "kind", "webhook", "secret")},
                "owner": form.cleaned_data["owner"],
                "is_active": form.cleaned_data["is_active"],
            },
            members=list(form.cleaned_data["members"]),
        ),
    )
    if done:
        messages.success(request, _("已保存群机器人「%(n)s」") % {"n": done.value.name})
        return redirect("notifications:robot_list")
    title = _("编辑群机器人") if robot else _("新建群机器人")
    return render(
        request,
        "notifications/robot_form.html",
        {"form": form, "robot": robot, "title": title, "nav": "robots"},
    )


@require_http_methods(["GET", "POST"])
def robot_create_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, services.MANAGE)
    return _robot_form(request, None)


@require_http_methods(["GET", "POST"])
def robot_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _robot_form(request, services.access_robot(request.user, pk))


@require_POST
def robot_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    robot = services.access_robot(request.user, pk)
    try:
        services.robot_test(actor=request.user, robot=robot)
    except DomainError as exc:
        messages.error(request, _("测试消息未发出：%(m)s") % {"m": exc.message})
    else:
        messages.success(request, _("已向「%(n)s」发送测试消息") % {"n": robot.name})
    return redirect("notifications:robot_list")
