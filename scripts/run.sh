#!/usr/bin/env bash
# Set up everything and serve the console at http://127.0.0.1:8000 on SQLite with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DEBUG=${DEBUG:-1}
# The demo lets 开发运维 and 系统管理员 sign in without an authenticator (anyone may still
# bind one under 二次验证); production refuses this setting.
export TWO_FACTOR_ENFORCED=${TWO_FACTOR_ENFORCED:-0}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
exec .venv/bin/python manage.py runserver "${BIND:-127.0.0.1:8000}"
