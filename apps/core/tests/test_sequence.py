import pytest

from apps.core.models import Sequence, current_value, next_value, next_values


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


@pytest.mark.django_db
def test_next_values_hands_out_consecutive_blocks():
    assert current_value("block") == 0
    assert list(next_values("block", 3)) == [1, 2, 3]
    assert next_value("block") == 4
    assert list(next_values("block", 2, start=100)) == [5, 6]  # start only on first use
    assert list(next_values("block", 0)) == []
    assert current_value("block") == 6
    assert list(next_values("fresh", 2, start=10)) == [10, 11]
