#!/usr/bin/env bash
# Start Debian's PostgreSQL on 127.0.0.1 for a local Dagster instance on Postgres
# (dagster_project/instance/dagster.postgres.yaml, docs/scale-out.md).
#
#   scripts/postgres.sh            install if missing, start, create role and database
#   scripts/postgres.sh env        print the CTE_PG_* variables to export
#   scripts/postgres.sh stop       stop the server
#
# Role, password and database come from CTE_PG_USER / CTE_PG_PASSWORD / CTE_PG_DB
# (defaults cte / cte / dagster: a development password for a server bound to 127.0.0.1
# only; set your own anywhere else). Needs root (apt-get, pg_ctlcluster) or sudo.
set -euo pipefail

PG_USER="${CTE_PG_USER:-cte}"
PG_PASSWORD="${CTE_PG_PASSWORD:-cte}"
PG_DB="${CTE_PG_DB:-dagster}"
PG_PORT="${CTE_PG_PORT:-5432}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }

install_if_missing() {
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    fi
}

# The newest installed major version and its first cluster (Debian creates "main").
cluster() { pg_lsclusters --no-header | sort -k1,1nr | awk 'NR==1 {print $1, $2}'; }

start() {
    install_if_missing
    read -r version name < <(cluster)
    if [ -z "${version:-}" ]; then
        version="$(ls /usr/lib/postgresql | sort -nr | head -1)"
        name=main
        as_root pg_createcluster "$version" "$name" --port "$PG_PORT"
    fi
    # A conf.d file (read after postgresql.conf) leaves Debian's own file untouched.
    printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$PG_PORT" |
        as_root tee "/etc/postgresql/$version/$name/conf.d/cte-local.conf" >/dev/null
    if ! pg_lsclusters --no-header | awk -v v="$version" -v n="$name" \
        '$1 == v && $2 == n && $4 == "online" {found = 1} END {exit !found}'; then
        as_root pg_ctlcluster "$version" "$name" start
    fi
    as_postgres psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -q \
        -v user="$PG_USER" -v password="$PG_PASSWORD" -v db="$PG_DB" <<'SQL'
select format('create role %I login password %L', :'user', :'password')
where not exists (select from pg_roles where rolname = :'user') \gexec
select format('alter role %I login password %L createdb', :'user', :'password') \gexec
select format('create database %I owner %I', :'db', :'user')
where not exists (select from pg_database where datname = :'db') \gexec
SQL
    echo "PostgreSQL $version/$name on 127.0.0.1:$PG_PORT, database $PG_DB, role $PG_USER"
}

case "${1:-start}" in
    start) start ;;
    env)
        printf 'export CTE_PG_HOST=127.0.0.1 CTE_PG_PORT=%s CTE_PG_USER=%s CTE_PG_PASSWORD=%s CTE_PG_DB=%s\n' \
            "$PG_PORT" "$PG_USER" "$PG_PASSWORD" "$PG_DB"
        ;;
    stop)
        read -r version name < <(cluster)
        as_root pg_ctlcluster "$version" "$name" stop
        ;;
    *) echo "usage: $0 [start|env|stop]" >&2; exit 2 ;;
esac
