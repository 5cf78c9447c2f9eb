#!/bin/sh
# Starts PostgreSQL for the scale profile. Runs as root only to prepare the data directory and
# the pgpass files, then becomes the `postgres` user and execs the server (so tini's signals reach it).
#
#   /var/lib/postgresql/data   the cluster (volume scale-pg)
#   /secrets/writer/pgpass     ocsplab_writer's password, for testca (volume scale-writer)
#   /secrets/reader/pgpass     ocsplab_reader's password, for the responders (volume scale-reader)
#
# A password file that is missing (a new volume) gets a new random password, which is set on
# the role at every start: the files are what the clients use, so they are the truth.
set -eu
data=/var/lib/postgresql/data
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
lab_uid=10001   # the lab image's ocsplab user, which reads the pgpass files (libpq wants 0600)
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
chmod 700 "$data"

for role in writer reader; do
    file=/secrets/$role/pgpass
    if [ ! -s "$file" ]; then
        password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
        (umask 077; printf '*:*:*:ocsplab_%s:%s\n' "$role" "$password" >"$file.new")
        chown "$lab_uid" "$file.new"
        mv "$file.new" "$file"
    fi
    chmod 600 "$file"
done
password_of() { cut -d: -f5- "/secrets/$1/pgpass"; }

if [ ! -s "$data/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$data" -U postgres -E UTF8 --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    # The compose network's clients log in with a password; nothing else listens (not published).
    echo "host all all all scram-sha-256" >>"$data/pg_hba.conf"
fi

# Roles and database, on the socket only (no TCP client sees the server before it is ready).
as_postgres "$bin/pg_ctl" -D "$data" -w -t 60 -o "-c listen_addresses=''" start >/dev/null
as_postgres psql -v ON_ERROR_STOP=1 -q -d postgres \
    -v writer="$(password_of writer)" -v reader="$(password_of reader)" <<'SQL'
SELECT 'CREATE ROLE ocsplab_writer LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ocsplab_writer') \gexec
SELECT 'CREATE ROLE ocsplab_reader LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ocsplab_reader') \gexec
ALTER ROLE ocsplab_writer PASSWORD :'writer';
ALTER ROLE ocsplab_reader PASSWORD :'reader';
SELECT 'CREATE DATABASE ocsplab OWNER ocsplab_writer' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ocsplab') \gexec
REVOKE ALL ON DATABASE ocsplab FROM PUBLIC;
GRANT CONNECT ON DATABASE ocsplab TO ocsplab_reader;
SQL
as_postgres "$bin/pg_ctl" -D "$data" -w -m fast stop >/dev/null

exec setpriv --reuid=postgres --regid=postgres --init-groups \
    "$bin/postgres" -D "$data" -c listen_addresses='*' -c max_connections=200
