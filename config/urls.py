from django.urls import include, path

from config.api import api

urlpatterns = [
    path("api/v1/", api.urls),  # first: the registry is the hot path (patterns tried in order)
    path("", include("apps.console.urls")),
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("customers/", include("apps.customers.urls")),
    path("customers/", include("apps.datasources.urls")),
    path("fleet/", include("apps.datasources.fleet_urls")),
    path("contracts/", include("apps.contracts.urls")),
    path("leads/", include("apps.leads.urls")),
    path("audit/", include("apps.audit.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("apply/", include("apps.leads.public_urls")),
]

handler400 = "apps.core.views.error_400"
handler403 = "apps.core.views.error_403"
handler404 = "apps.core.views.error_404"
handler500 = "apps.core.views.error_500"
