#!/usr/bin/env bash
# Set up everything and serve the console at http://127.0.0.1:8000 on SQLite with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DEBUG=${DEBUG:-1}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
exec .venv/bin/python manage.py runserver "${BIND:-127.0.0.1:8000}"
