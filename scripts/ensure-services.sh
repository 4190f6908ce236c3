#!/usr/bin/env bash
# Start the local Redis and PostgreSQL the tests use when they are down (CI runs right after a
# session stops, and services may not survive). Idempotent; prints what it started.
set -euo pipefail

if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    echo "started redis"
  else
    echo "redis-server not installed; tests needing Redis will be skipped" >&2
  fi
fi

if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    echo "started postgresql"
  else
    echo "PostgreSQL not installed; tests needing it will be skipped" >&2
  fi
fi

for _ in $(seq 1 30); do
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    exit 0
  fi
  sleep 1
done
echo "services did not come up in 30 s" >&2
