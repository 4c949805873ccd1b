"""企业号 allocation under concurrent creation, on the real control database.

Each thread has its own database connection (Django's connections are per thread), so the
creations really run side by side in separate transactions, as under a multi-worker server.
"""

from __future__ import annotations

import re
import threading

import pytest
from django.conf import settings
from django.db import connection

from apps.core.models import Sequence
from apps.customers.models import Customer
from apps.customers.services import customer_create
from apps.customers.tests.factories import make_customer

N = 50
NUMBER_RE = re.compile(rf"^{re.escape(settings.ENTERPRISE_NO_PREFIX)}(\d{{6}})$")


def number(enterprise_no: str) -> int:
    match = NUMBER_RE.match(enterprise_no)
    assert match, enterprise_no
    return int(match.group(1))


def create_concurrently(actor, count: int) -> tuple[list[str], list[str]]:
    """``count`` threads released together, each creating one customer through the service."""
    barrier = threading.Barrier(count)
    numbers: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            customer = customer_create(actor=actor, data={"name": f"并发物业{i}"})
            with lock:
                numbers.append(customer.enterprise_no)
        except Exception as exc:
            with lock:
                errors.append(f"{i}: {exc!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a creation hung"
    return numbers, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sequence_row", ["exists", "first_use"])
def test_concurrent_creations_get_distinct_enterprise_numbers(ops, sequence_row):
    if sequence_row == "exists":
        # As after ``migrate``: 企业号 start at HGJ100001.
        Sequence.objects.get_or_create(name="enterprise_no", defaults={"value": 100000})
    else:
        # No row yet: the concurrent callers race to create it.
        Sequence.objects.filter(name="enterprise_no").delete()

    numbers, errors = create_concurrently(ops, N)

    assert errors == []
    assert len(numbers) == N
    assert len(set(numbers)) == N
    values = sorted(number(n) for n in numbers)
    assert values == list(range(values[0], values[0] + N))  # no gaps, no duplicates
    assert values[0] == 100001
    assert Customer.objects.count() == N
    stored = set(Customer.objects.values_list("enterprise_no", flat=True))
    assert stored == set(numbers)
    assert Sequence.objects.get(name="enterprise_no").value == values[-1]


@pytest.mark.django_db(transaction=True)
def test_enterprise_numbers_are_never_reused_after_a_delete(ops):
    first = make_customer(actor=ops)
    last = make_customer(actor=ops)
    assert number(last.enterprise_no) == number(first.enterprise_no) + 1

    # Deleting the newest row must not hand its number out again (a MAX()+1 scheme would).
    Customer.objects.filter(pk=last.pk).delete()
    after_delete = make_customer(actor=ops)
    assert number(after_delete.enterprise_no) == number(last.enterprise_no) + 1

    # Not even when every customer is gone.
    Customer.objects.all().delete()
    fresh = make_customer(actor=ops)
    assert number(fresh.enterprise_no) == number(after_delete.enterprise_no) + 1
    issued = {first.enterprise_no, last.enterprise_no, after_delete.enterprise_no}
    assert fresh.enterprise_no not in issued
