#!/bin/bash
# Entrypoint of todo-airgap/postgres: the official postgres image's interface,
# implemented on Debian's PostgreSQL 15 packages.
#
#   POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE)  superuser password; required
#       unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER (default postgres)               superuser name
#   POSTGRES_DB   (default $POSTGRES_USER)         database created on first start
#   POSTGRES_INITDB_ARGS (words added to initdb's command line)
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256, PostgreSQL 15's password_encryption)
#   PGDATA (default /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz run once after initdb
#
# Like the official image, initdb gets no authentication flags of its own: its
# defaults trust every local (socket) and loopback connection, and only
# `host all all all <method>` is added. Whoever relies on passwords there says
# so in POSTGRES_INITDB_ARGS (`--auth-local=... --auth-host=...`), and the
# first-start setup then authenticates with POSTGRES_PASSWORD. PARITY.md lists
# what this image shares with the official one and the tests that hold it.
#
# Writes only to $PGDATA, /var/run/postgresql and /tmp, so it runs with a
# read-only root filesystem. Started as root it fixes ownership and drops to
# postgres (UID 999); started as any other user it runs as that user, a user
# without a passwd entry through nss_wrapper (initdb needs one).
# `postgres` ends up as PID 1 (exec), so SIGINT/SIGTERM reach it directly.
set -Eeuo pipefail

log() { echo "docker-entrypoint: $*" >&2; }
die() { log "error: $*"; exit 1; }

# VAR_FILE=/path -> VAR=<contents> (both set is an error, as upstream).
file_env() {
    local var="$1" default="${2:-}" file_var="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        die "both $var and $file_var are set (they are exclusive)"
    fi
    local value="$default"
    if [ -n "${!var:-}" ]; then
        value="${!var}"
    elif [ -n "${!file_var:-}" ]; then
        value="$(<"${!file_var}")"
    fi
    export "$var"="$value"
    unset "$file_var"
}

# First argument a flag (e.g. `-c shared_buffers=256MB`): treat as postgres options.
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
    exec "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
        die "the database is not initialised and POSTGRES_PASSWORD is empty.
  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to the superuser's password,
  e.g. docker run -e POSTGRES_PASSWORD=... ; or set POSTGRES_HOST_AUTH_METHOD=trust
  to allow every connection without a password (not recommended)."
    fi
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA" 2>/dev/null || true
    if ! touch "$PGDATA/.write-test" 2>/dev/null; then
        die "$PGDATA is not writable by UID $(id -u); give the volume to UID 999 (fsGroup 999) or start as root"
    fi
    rm -f "$PGDATA/.write-test"

    # initdb needs the current UID in /etc/passwd: one without an entry (any UID a pod's
    # securityContext picks) gets a temporary one through nss_wrapper, for initdb only.
    if ! getent passwd "$(id -u)" >/dev/null; then
        NSS_WRAPPER_PASSWD="$(mktemp)"
        NSS_WRAPPER_GROUP="$(mktemp)"
        printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" \
            >"$NSS_WRAPPER_PASSWD"
        printf 'postgres:x:%s:\n' "$(id -g)" >"$NSS_WRAPPER_GROUP"
        wrapper=(/usr/lib/*/libnss_wrapper.so)
        LD_PRELOAD="${wrapper[0]}"
        export LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    fi

    log "initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
    # The password reaches initdb through a pipe, never a file on disk or argv.
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        $POSTGRES_INITDB_ARGS >/dev/null
    if [ -n "${NSS_WRAPPER_PASSWD:-}" ]; then
        rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
        unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    fi

    {
        echo
        echo "# todo-airgap/postgres: accept TCP from anywhere with the configured method"
        echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
    } >>"$PGDATA/pg_hba.conf"
    sed -ri "s/^#?(listen_addresses)\s*=\s*\S+.*/\1 = '*'/" "$PGDATA/postgresql.conf"
    grep -q "^listen_addresses = '\*'" "$PGDATA/postgresql.conf" \
        || die "could not set listen_addresses in postgresql.conf"

    # A private server on the Unix socket only, for the first-start setup, which
    # authenticates with the password where POSTGRES_INITDB_ARGS made the socket ask one.
    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w -t 60 start
    psql_cmd=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER"
        --dbname postgres)
    if [ "$POSTGRES_DB" != 'postgres' ]; then
        "${psql_cmd[@]}" --set db="$POSTGRES_DB" -q <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    fi
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) log "running $f"; . "$f" ;;
            *.sql) log "running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql_cmd[@]}" --dbname "$POSTGRES_DB" ;;
            *) log "ignoring $f" ;;
        esac
    done
    shopt -u nullglob
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset PGPASSWORD
    log "initialisation complete; starting PostgreSQL"
fi

exec "$@"
