#!/bin/bash
# Entrypoint of mlpl-test/mysql: the contract of the official mysql image's entrypoint, on MariaDB.
#   MYSQL_ROOT_PASSWORD | MYSQL_ALLOW_EMPTY_PASSWORD | MYSQL_RANDOM_ROOT_PASSWORD (one required),
#   MYSQL_ROOT_HOST (default %), MYSQL_DATABASE, MYSQL_USER + MYSQL_PASSWORD,
#   MYSQL_ONETIME_PASSWORD, MYSQL_INITDB_SKIP_TZINFO; every one of them also as <NAME>_FILE.
# On an empty datadir (no $DATADIR/mysql) it initialises; otherwise it just starts the server.
set -eo pipefail
shopt -s nullglob

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

log()   { printf '%s [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
warn()  { log "Warning: $*" >&2; }
error() { log "ERROR: $*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from VAR or from the file named by VAR_FILE (not both).
file_env() {
  local var="$1" fileVar="${1}_FILE" def="${2:-}" val="$2"
  if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
    error "Both $var and $fileVar are set (but are exclusive)"
  fi
  if [ "${!var:-}" ]; then
    val="${!var}"
  elif [ "${!fileVar:-}" ]; then
    [ -r "${!fileVar}" ] || error "$fileVar: cannot read ${!fileVar}"
    val="$(< "${!fileVar}")"
  fi
  export "$var"="$val"
  unset "$fileVar"
}

# SQL string literal contents: escape backslashes and single quotes.
sql_escape() { sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g" <<<"$1"; }

if [ "${1:0:1}" = '-' ]; then set -- mysqld "$@"; fi
case "$1" in
  mysqld|mariadbd) shift; set -- mariadbd "$@" ;;
  *) exec "$@" ;;
esac

# --help, --version and the like: no setup.
for a; do case "$a" in -'?'|--help|--print-defaults|-V|--version) exec "$@" ;; esac; done

for v in MYSQL_ROOT_HOST MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD MYSQL_ROOT_PASSWORD \
         MYSQL_ALLOW_EMPTY_PASSWORD MYSQL_RANDOM_ROOT_PASSWORD MYSQL_ONETIME_PASSWORD \
         MYSQL_INITDB_SKIP_TZINFO; do
  file_env "$v"
done
: "${MYSQL_ROOT_HOST:=%}"

mkdir -p "$DATADIR" /run/mysqld
if [ "$(id -u)" = 0 ]; then
  find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
  USER_ARG=--user=mysql
else
  USER_ARG=
fi

run_sql() { mariadb ${ROOT_CNF:+--defaults-extra-file="$ROOT_CNF"} --protocol=socket --socket="$SOCKET" -uroot -hlocalhost --comments "$@"; }

if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] && [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
    error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD'
  fi
  if [ "$MYSQL_USER" = root ]; then
    error 'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user'
  fi
  if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then warn 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'; fi
  if [ -z "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then warn 'MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored'; fi

  log "Initializing database files in $DATADIR"
  mariadb-install-db $USER_ARG --datadir="$DATADIR" --skip-test-db --skip-name-resolve \
    --auth-root-authentication-method=normal --rpm >/dev/null \
    || error "mariadb-install-db failed"
  log "Database files initialized"

  log "Starting temporary server"
  "$@" $USER_ARG --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --skip-log-bin &
  TMP_PID=$!
  for i in $(seq 60); do
    if mariadb-admin --protocol=socket --socket="$SOCKET" -uroot ping --silent >/dev/null 2>&1; then break; fi
    kill -0 "$TMP_PID" 2>/dev/null || error "Unable to start server."
    sleep 1
  done
  mariadb-admin --protocol=socket --socket="$SOCKET" -uroot ping --silent >/dev/null 2>&1 || error "Unable to start server."
  log "Temporary server started."

  if [ -z "$MYSQL_INITDB_SKIP_TZINFO" ]; then
    mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | run_sql --database=mysql
  fi

  if [ -n "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
    MYSQL_ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi
  ROOT_PW="$(sql_escape "$MYSQL_ROOT_PASSWORD")"
  ROOT_HOST="$(sql_escape "$MYSQL_ROOT_HOST")"
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    # Only root is left (as MySQL's --initialize-insecure leaves it), plus MariaDB's system account.
    echo "DROP USER IF EXISTS 'mysql'@'localhost', ''@'localhost', ''@'$(hostname)', 'root'@'$(hostname)', 'root'@'127.0.0.1', 'root'@'::1';"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$ROOT_PW';"
    if [ "$MYSQL_ROOT_HOST" != localhost ]; then
      echo "CREATE USER 'root'@'$ROOT_HOST' IDENTIFIED BY '$ROOT_PW';"
      echo "GRANT ALL ON *.* TO 'root'@'$ROOT_HOST' WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@'$ROOT_HOST' WITH GRANT OPTION;"
    fi
    echo "FLUSH PRIVILEGES;"
  } | run_sql
  ROOT_CNF=/run/mysqld/.root.cnf
  ( umask 077; printf '[client]\npassword="%s"\n' "${MYSQL_ROOT_PASSWORD//\"/\\\"}" > "$ROOT_CNF" )

  if [ -n "$MYSQL_DATABASE" ]; then
    log "Creating database ${MYSQL_DATABASE}"
    echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;" | run_sql
  fi
  if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
    log "Creating user ${MYSQL_USER}"
    U="$(sql_escape "$MYSQL_USER")"; P="$(sql_escape "$MYSQL_PASSWORD")"
    {
      echo "CREATE USER '$U'@'%' IDENTIFIED BY '$P';"
      if [ -n "$MYSQL_DATABASE" ]; then
        log "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}" >&2
        echo "GRANT ALL ON \`${MYSQL_DATABASE//\`/\`\`}\`.* TO '$U'@'%';"
      fi
      echo "FLUSH PRIVILEGES;"
    } | run_sql
  fi

  echo
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then log "$0: running $f"; "$f"; else log "$0: sourcing $f"; . "$f"; fi ;;
      *.sql)     log "$0: running $f"; run_sql ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} < "$f" ;;
      *.sql.gz)  log "$0: running $f"; gunzip -c "$f" | run_sql ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} ;;
      *.sql.xz)  log "$0: running $f"; xzcat "$f" | run_sql ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} ;;
      *)         log "$0: ignoring $f" ;;
    esac
  done

  if [ -n "$MYSQL_ONETIME_PASSWORD" ]; then
    if [ "$MYSQL_ROOT_HOST" != localhost ]; then
      echo "ALTER USER 'root'@'$ROOT_HOST' PASSWORD EXPIRE;" | run_sql
    else
      echo "ALTER USER 'root'@'localhost' PASSWORD EXPIRE;" | run_sql
    fi
  fi

  log "Stopping temporary server"
  kill "$TMP_PID"; wait "$TMP_PID" || true
  rm -f "$ROOT_CNF"; unset ROOT_CNF
  log "Temporary server stopped"
  echo
  log "MySQL init process done. Ready for start up."
  echo
fi

# The passwords are not needed by the server: keep them out of its environment.
unset MYSQL_ROOT_PASSWORD MYSQL_PASSWORD
exec "$@" $USER_ARG
