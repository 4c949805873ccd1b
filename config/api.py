"""The REST API under /api/v1/ (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs):
every app's router mounted on the one API instance.

Routers live with their apps (``apps/<app>/api.py``); every endpoint calls the same
selectors and services as the console, so permissions and rules cannot disagree."""

from __future__ import annotations

from apps.accounts.api import router as accounts_router
from apps.api.api import api
from apps.console.api import router as console_router
from apps.contracts.api import router as contracts_router
from apps.customers.api import router as customers_router
from apps.datasources.api import registry_router
from apps.datasources.api import router as datasources_router
from apps.leads.api import router as leads_router
from apps.leads.public_api import router as public_router

# The registry first: URL patterns are tried in order, and the business system's reads
# are the API's hot path.
for router in (
    registry_router,
    accounts_router,
    customers_router,
    contracts_router,
    public_router,
    leads_router,
    datasources_router,
    console_router,
):
    api.add_router("", router)

__all__ = ["api"]
