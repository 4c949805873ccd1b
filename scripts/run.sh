#!/usr/bin/env bash
# Set up everything and serve the console on SQLite with demo data.
# BIND (default 127.0.0.1:8000) is the address served; PUBLIC_BASE_URL, the base of the
# links on QR posters, follows it unless set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DEBUG=${DEBUG:-1}
# The demo lets 开发运维 and 系统管理员 sign in without an authenticator (anyone may still
# bind one under 二次验证); production refuses this setting.
export TWO_FACTOR_ENFORCED=${TWO_FACTOR_ENFORCED:-0}
BIND=${BIND:-127.0.0.1:8000}
host=${BIND%:*}
port=${BIND##*:}
# A wildcard address is reached through this machine's own name.
case "$host" in 0.0.0.0 | "" | "[::]" | "::") shown_host=$(hostname -I 2>/dev/null | awk '{print $1}') ;; *) shown_host=$host ;; esac
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://${shown_host:-127.0.0.1}:${port}}
# The printed address (and the posters' links) must be accepted as a host name.
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost,[::1],${shown_host:-127.0.0.1}}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
# A worker and beat beside the server, on the queue in CELERY_BROKER_URL — unset: kombu's
# filesystem transport under var/queue, which needs no Redis or RabbitMQ.
.venv/bin/celery -A config worker --loglevel INFO --concurrency 2 --without-gossip --without-mingle &
worker=$!
.venv/bin/celery -A config beat --loglevel INFO &
beat=$!
echo "控制台地址：${PUBLIC_BASE_URL}/  （监听 ${BIND}）"
.venv/bin/python manage.py runserver "$BIND" &
server=$!
# Ctrl-C or a TERM stops all three: the worker finishes the task in hand first.
trap 'trap - EXIT; kill -TERM "$server" "$worker" "$beat" 2>/dev/null; wait' EXIT INT TERM
wait "$server"
