#!/usr/bin/env bash
# The whole test suite: lint, then every test on SQLite (browser tests included), then
# everything but the browser tests again with the control database on MariaDB and on
# PostgreSQL. A skipped test fails the run (STRICT_NO_SKIP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/services.sh
export STRICT_NO_SKIP=1 PYTHONDONTWRITEBYTECODE=1
MYSQL_URL=${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/hgj}
PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/hgj}

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== import-linter (layers: kernel < audit < accounts < API base < domain apps < console)"
.venv/bin/lint-imports --no-cache

echo "== manage.py check --deploy (PRODUCTION=1, every warning fails)"
env -u DATABASE_URL -u DEBUG PRODUCTION=1 BEHIND_TLS_PROXY=1 ALLOWED_HOSTS=onboarding.example.com \
  SECRET_KEY="ci-$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')" SMS_BACKEND=aliyun \
  CELERY_BROKER_URL=redis://127.0.0.1:6379/1 \
  DATASOURCE_ENCRYPTION_KEYS="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
  .venv/bin/python manage.py check --deploy --fail-level WARNING

echo "== pytest: SQLite (all tests, browser included)"
env -u DATABASE_URL .venv/bin/python -m pytest -q "$@"

echo "== pytest: MariaDB control database (all but browser)"
DATABASE_URL=$MYSQL_URL .venv/bin/python -m pytest -q -m "not browser" "$@"

echo "== pytest: PostgreSQL control database (all but browser)"
DATABASE_URL=$PG_URL .venv/bin/python -m pytest -q -m "not browser" "$@"
