import pytest

from apps.core.models import Sequence, next_value


@pytest.mark.django_db
def test_next_value_starts_at_start_then_counts_up():
    assert next_value("test_seq", start=500) == 500
    assert next_value("test_seq", start=500) == 501
    assert next_value("test_seq", start=1) == 502  # ``start`` only matters on first use
    assert Sequence.objects.get(name="test_seq").value == 502


@pytest.mark.django_db
def test_sequences_are_independent():
    assert next_value("seq_a") == 1
    assert next_value("seq_b") == 1
    assert next_value("seq_a") == 2
    assert next_value("seq_b") == 2
