#!/bin/sh
# Writes this Redis pod's configuration (deploy/k8s/redis.yaml, init container): the shared redis.conf
# plus replication, and sentinel.conf from its template. The primary is whatever the Sentinels say it
# is now; on the very first start (no Sentinel answers) it is redis-0.
set -eu
NS="${POD_NAMESPACE:?}"
SVC="${HEADLESS_SERVICE:-redis-headless}"
MASTER_NAME="${SENTINEL_MASTER:-tierroute}"
REPLICAS="${REDIS_REPLICAS:-3}"
HOST="$(hostname).${SVC}.${NS}.svc.cluster.local"
OUT=/data/conf
mkdir -p "$OUT"

primary=""
i=0
while [ "$i" -lt "$REPLICAS" ]; do
  peer="redis-${i}.${SVC}.${NS}.svc.cluster.local"
  answer="$(timeout 3 redis-cli -h "$peer" -p 26379 --raw sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | head -n 1 || true)"
  if [ -n "$answer" ]; then
    primary="$answer"
    break
  fi
  i=$((i + 1))
done
if [ -z "$primary" ]; then
  primary="redis-0.${SVC}.${NS}.svc.cluster.local"
fi

cp /etc/redis/redis.conf "$OUT/redis.conf"
{
  echo "# --- written by init.sh ---"
  echo "replica-announce-ip $HOST"
  if [ "$primary" != "$HOST" ]; then
    echo "replicaof $primary 6379"
  fi
} >> "$OUT/redis.conf"
sed -e "s/@HOST@/$HOST/" -e "s/@PRIMARY@/$primary/" /etc/redis/sentinel.conf > "$OUT/sentinel.conf"
echo "host $HOST, primary $primary"
