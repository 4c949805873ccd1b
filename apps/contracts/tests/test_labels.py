"""The contract's own note is labelled as the contract's, not as the company profile."""

from apps.contracts.models import Contract


def test_contract_note_label():
    assert str(Contract._meta.get_field("intro").verbose_name) == "合同说明"
