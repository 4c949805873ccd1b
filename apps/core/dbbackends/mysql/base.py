"""Django's MySQL/MariaDB backend, with the handshake bounded by the connect timeout.

PyMySQL bounds only the TCP connect by ``connect_timeout``; it then reads the server's
greeting with ``read_timeout``. A server that accepts connections and never greets would
so hold a request for the whole statement timeout. Here the connection is opened with the
connect timeout for every read and write, and the statement timeouts apply once it is up.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.mysql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connect = conn_params.get("connect_timeout")
        read, write = conn_params.get("read_timeout"), conn_params.get("write_timeout")
        opening = {**conn_params, "read_timeout": connect, "write_timeout": connect}
        connection = super().get_new_connection(opening)
        connection._read_timeout = read
        connection._write_timeout = write
        if getattr(connection, "_sock", None) is not None:
            connection._sock.settimeout(read)
            connection._current_timeout = read
        return connection
