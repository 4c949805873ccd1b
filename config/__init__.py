"""Project configuration package.

PyMySQL stands in for mysqlclient so that MySQL/MariaDB works without a C build;
Django checks the driver's reported version, so it is advertised as compatible.
The Celery app is loaded with the package, so ``shared_task`` binds to it.
"""

import pymysql

from .celery import app as celery_app

pymysql.version_info = (2, 2, 1, "final", 0)
pymysql.install_as_MySQLdb()

__all__ = ["celery_app"]
