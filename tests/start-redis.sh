#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:6379 for the test suite; start one if none does.
set -euo pipefail
port=${REDIS_PORT:-6379}

answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG
  else
    # no redis-cli: speak RESP with bash's /dev/tcp
    exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    local reply; read -r -t 2 reply <&3 || true
    exec 3>&-
    [[ "$reply" == +PONG* ]]
  fi
}

answers && exit 0
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found; installing Debian's redis-server" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
  else
    echo "no Redis on 127.0.0.1:$port and no redis-server to start (apt-get install redis-server)" >&2
    exit 1
  fi
fi
echo "starting redis-server on 127.0.0.1:$port" >&2
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/tierroute-test-redis.log"
for _ in $(seq 50); do answers && exit 0; sleep 0.1; done
echo "redis-server did not answer on 127.0.0.1:$port" >&2
exit 1
