import re

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DatasourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "数据源"

    def ready(self) -> None:
        from apps.customers.services import ACTIVATION_CHECKS

        from . import crypto
        from .services import datasource_blocker

        # Refuse to start with a malformed key or an unsafe database-name prefix.
        crypto.validate_keys()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,19}", settings.TENANT_DB_PREFIX or ""):
            raise ImproperlyConfigured(
                "TENANT_DB_PREFIX must be 1-20 characters of [a-z0-9_] starting with a letter"
            )
        # 开通 requires a configured data source.
        if datasource_blocker not in ACTIVATION_CHECKS:
            ACTIVATION_CHECKS.append(datasource_blocker)
