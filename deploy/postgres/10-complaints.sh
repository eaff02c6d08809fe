#!/bin/bash
# Runs once, when the postgres container initialises an empty data directory
# (mounted into /docker-entrypoint-initdb.d). The image's superuser (POSTGRES_USER,
# database POSTGRES_DB) belongs to the Temporal server, whose auto-setup also creates
# `temporal_visibility`. This adds the application store: a login role and a database
# owned by it, so the app never holds superuser rights.
#
#   COMPLAINTS_DB_USER      (default complaints)
#   COMPLAINTS_DB_NAME      (default complaints)
#   COMPLAINTS_DB_PASSWORD  (required)
#
# Changing these later does not re-run the script: it only runs on an empty volume.
set -euo pipefail

: "${COMPLAINTS_DB_USER:=complaints}"
: "${COMPLAINTS_DB_NAME:=complaints}"
if [ -z "${COMPLAINTS_DB_PASSWORD:-}" ]; then
    echo "10-complaints.sh: COMPLAINTS_DB_PASSWORD is not set" >&2
    exit 1
fi

# psql variables (:'x' quotes a literal, :"x" an identifier) keep the values out of the
# SQL text, so a password with quotes in it cannot break or inject anything.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_user="$COMPLAINTS_DB_USER" \
    -v app_password="$COMPLAINTS_DB_PASSWORD" \
    -v app_db="$COMPLAINTS_DB_NAME" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app_user', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'app_db', :'app_user', 'UTF8')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db')
\gexec
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
GRANT ALL ON DATABASE :"app_db" TO :"app_user";
SQL

# PostgreSQL 15+ no longer lets everyone create in `public`; the owner of the database
# is not the owner of its public schema, so hand it over for Alembic.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$COMPLAINTS_DB_NAME" \
    -v app_user="$COMPLAINTS_DB_USER" <<'SQL'
ALTER SCHEMA public OWNER TO :"app_user";
SQL

echo "10-complaints.sh: database $COMPLAINTS_DB_NAME owned by $COMPLAINTS_DB_USER is ready"
