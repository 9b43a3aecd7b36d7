#!/bin/sh
# Creates one database per Clientfolio service, each owned by its own role.
# Run by the official postgres image on first start (mounted into
# /docker-entrypoint-initdb.d), i.e. only when the data volume is empty.
#   CLIENTFOLIO_DATABASES    names of the databases and roles (default: the four services)
#   CLIENTFOLIO_DB_PASSWORD  password of every service role (required)
set -eu

: "${CLIENTFOLIO_DB_PASSWORD:?set CLIENTFOLIO_DB_PASSWORD}"
databases=${CLIENTFOLIO_DATABASES:-contacts projects billing gateway}

for name in $databases; do
  echo "clientfolio: creating role and database $name"
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       -v name="$name" -v password="$CLIENTFOLIO_DB_PASSWORD" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
done
