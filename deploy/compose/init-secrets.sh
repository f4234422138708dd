#!/bin/sh
# Creates .env (read by docker compose) and secrets/master_key (read by Prometheus) with
# fresh random values, once. Both are git-ignored.
set -eu
cd "$(dirname "$0")"
[ -f .env ] && { echo ".env exists; leaving it alone"; exit 0; }
umask 077
mkdir -p secrets
rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
key="sk-lockgate-$(rand)"
printf '%s' "$key" > secrets/master_key
cat > .env <<ENV
COMPOSE_PROJECT_NAME=lockgate
LOCKGATE_MASTER_KEY=$key
POSTGRES_PASSWORD=$(rand)
GRAFANA_ADMIN_PASSWORD=$(rand)
ENV
echo "wrote .env and secrets/master_key"
