"""``update_each`` and ``update_if``: the hot-path writers of work that records many
results at once, on every control database the suite runs against."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.core.models import Heartbeat, TaskStat
from apps.core.records import update_each, update_if

pytestmark = pytest.mark.django_db


def test_update_each_writes_every_row_its_own_values():
    stats = [TaskStat.objects.create(task=f"t{i}", outcome="succeeded") for i in range(3)]
    untouched = TaskStat.objects.create(task="other", outcome="failed", count=7)
    for i, stat in enumerate(stats):
        stat.count, stat.seconds, stat.outcome = i + 10, i / 4, "retried"
    update_each(stats, ["count", "seconds"])  # outcome is not among the fields
    rows = list(TaskStat.objects.filter(task__startswith="t").order_by("task").values_list(
        "count", "seconds", "outcome"
    ))  # fmt: skip
    assert rows == [(10, 0.0, "succeeded"), (11, 0.25, "succeeded"), (12, 0.5, "succeeded")]
    assert TaskStat.objects.get(pk=untouched.pk).count == 7
    update_each([], ["count"])  # nothing to do


def test_update_if_sets_only_while_the_condition_holds():
    beat = Heartbeat.objects.create(name="worker", at=timezone.now() - dt.timedelta(days=1))
    later = timezone.now()
    assert update_if(Heartbeat, beat.pk, where={"name": "worker"}, values={"at": later})
    beat.refresh_from_db()
    assert abs((beat.at - later).total_seconds()) < 0.001
    # The condition no longer holds: nothing changes, and the caller is told.
    assert not update_if(Heartbeat, beat.pk, where={"name": "beat"}, values={"name": "x"})
    assert not update_if(Heartbeat, beat.pk + 1, where={"name": "worker"}, values={"name": "x"})
    assert Heartbeat.objects.get(pk=beat.pk).name == "worker"
