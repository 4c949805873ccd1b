#!/usr/bin/env bash
# Make sure the local services the tests use answer; start any that does not, and make
# sure Chromium is installed for the browser tests.
set -uo pipefail

answers() { timeout 3 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

if ! answers 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! answers 3306; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if ! answers 6379; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Chromium and CJK fonts from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
for port in 5432 3306 6379; do
  for _ in $(seq 1 30); do answers "$port" && break; sleep 1; done
  answers "$port" || { echo "service on port $port does not answer" >&2; exit 1; }
done
