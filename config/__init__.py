"""Project configuration package.

PyMySQL stands in for mysqlclient so that MySQL/MariaDB works without a C build;
Django checks the driver's reported version, so it is advertised as compatible.
"""

import pymysql

pymysql.version_info = (2, 2, 1, "final", 0)
pymysql.install_as_MySQLdb()
