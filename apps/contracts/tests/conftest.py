"""Fixtures for contract tests (the builders live in ``factories``)."""

from __future__ import annotations

import pytest

from apps.customers.tests.factories import make_customer

from .factories import make_contract, pdf_upload


@pytest.fixture
def customer(ops):
    """A complete customer owned by ``ops``."""
    return make_customer(actor=ops, complete=True, name="深圳安居物业管理有限公司")


@pytest.fixture
def contract(ops, customer):
    return make_contract(actor=ops, customer=customer, scan=pdf_upload())


@pytest.fixture
def other_contract(ops2):
    """A contract on a customer owned by ``ops2`` (outside ``ops``'s scope)."""
    customer = make_customer(actor=ops2, complete=True, name="广州他人物业有限公司")
    return make_contract(actor=ops2, customer=customer, scan=pdf_upload())
