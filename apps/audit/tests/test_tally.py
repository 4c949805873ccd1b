"""Counted reads: nothing written per read, one batch per interval, counts that add up
across batches, hostile keys stored clean."""

from __future__ import annotations

import pytest

from apps.audit import tally
from apps.audit.models import ReadTally

pytestmark = pytest.mark.django_db


def read(key="HGJ100001", outcome="ok", source="token:1"):
    tally.count_read(
        action="registry_read", source=source, source_label="业务系统", object_key=key,
        object_repr="阳光物业", outcome=outcome,
    )  # fmt: skip


def test_reads_wait_for_the_interval_then_go_in_one_batch(settings, django_assert_num_queries):
    settings.AUDIT_TALLY_FLUSH_SECONDS = 3600
    with django_assert_num_queries(0):
        for outcome in ("ok", "unchanged", "missing", "ok"):
            read(outcome=outcome)
        read(key="HGJ100002")
    assert not ReadTally.objects.exists()
    settings.AUDIT_TALLY_FLUSH_SECONDS = 0
    read(key="HGJ100003")  # due: this read writes everything gathered
    rows = {r.object_key: r for r in ReadTally.objects.all()}
    assert set(rows) == {"HGJ100001", "HGJ100002", "HGJ100003"}
    first = rows["HGJ100001"]
    assert (first.count, first.unchanged, first.missing) == (4, 1, 1)
    assert first.object_repr == "阳光物业" and first.source_label == "业务系统"
    assert tally.flush() == 0  # nothing left


def test_batches_add_up_and_keep_the_first_and_last_read(settings):
    settings.AUDIT_TALLY_FLUSH_SECONDS = 3600
    read()
    tally.flush()
    before = ReadTally.objects.get()
    read()
    read(outcome="unchanged")
    tally.flush()
    after = ReadTally.objects.get()
    assert (after.count, after.unchanged) == (3, 1)
    assert after.first_at == before.first_at and after.last_at > before.last_at


def test_hostile_keys_are_stored_clean(settings):
    settings.AUDIT_TALLY_FLUSH_SECONDS = 3600
    read(key="HGJ\x00\ud800\n1" + "9" * 100, source="token:\x07x")
    tally.flush()
    row = ReadTally.objects.get()
    assert row.object_key == "HGJ? 1" + "9" * 54 and row.source == "token:x"
