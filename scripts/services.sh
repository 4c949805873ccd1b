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

# The data-source tests log in with real passwords as members of the group role
# hgj_password_auth: make PostgreSQL check passwords for that group (first matching rule)
# even where the rest of the local server trusts connections.
HBA_RULE="host all +hgj_password_auth 127.0.0.1/32 scram-sha-256"
hba=$(psql -h 127.0.0.1 -U postgres -Atc "show hba_file" 2>/dev/null || true)
if [ -n "$hba" ] && [ -w "$hba" ] && ! grep -qF "$HBA_RULE" "$hba"; then
  echo "PostgreSQL: checking passwords for members of hgj_password_auth"
  psql -h 127.0.0.1 -U postgres -qc "DO \$\$BEGIN CREATE ROLE hgj_password_auth NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL; END\$\$" >/dev/null
  new=$(awk -v rule="$HBA_RULE" \
    '!done && /^[[:space:]]*[^#[:space:]]/ { print rule; done = 1 } { print }' "$hba")
  printf '%s\n' "$new" >"$hba"
  psql -h 127.0.0.1 -U postgres -Atc "select pg_reload_conf()" >/dev/null
fi
