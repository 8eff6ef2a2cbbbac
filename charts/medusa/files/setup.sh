#!/bin/sh
# Storefleet Medusa store setup: wait for PostgreSQL and Redis, run migrations, mark
# this image as migrated (server and worker pods wait for that mark), then run the
# idempotent seed (which writes Secret $OUTPUT_SECRET_NAME).
set -eu
log() { printf '%s [storefleet-setup] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
START=$(date +%s)
cd /app

node /setup/wait-for.js tcp "$DB_HOST:${DB_PORT:-5432}" "$REDIS_HOST:${REDIS_PORT:-6379}"

log "medusa db:migrate"
/app/node_modules/.bin/medusa db:migrate
node /setup/wait-for.js mark "$STOREFLEET_IMAGE"

log "seed (src/scripts/seed.ts)"
/app/node_modules/.bin/medusa exec ./src/scripts/seed.ts

log "done in $(( $(date +%s) - START ))s"
