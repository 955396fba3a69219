#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the label store's tests, on 127.0.0.1 only.
#
#   eval "$(scripts/start-test-postgres.sh)"     # start; sets WELLLED_TEST_PG_URL and WELLLED_TEST_PG_DIR
#   scripts/start-test-postgres.sh stop "$WELLLED_TEST_PG_DIR"   # stop it and delete its files
#
# Uses Debian's server binaries (package `postgresql`, /usr/lib/postgresql/<v>/bin).
# PostgreSQL refuses to run as root: when run as root the cluster belongs to
# the `postgres` user (or $PG_TEST_USER). The cluster listens on a free port
# of 127.0.0.1, its socket lives in its own folder, TCP logins need the random
# password printed in the URL, and fsync is off (test data only).
set -euo pipefail

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  done
  echo "start-test-postgres: no PostgreSQL server binaries (install Debian's postgresql package)" >&2
  exit 1
}

BIN="$(find_bin)"
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  PG_USER="${PG_TEST_USER:-postgres}"
  id "$PG_USER" >/dev/null 2>&1 || { echo "start-test-postgres: running as root needs a user '$PG_USER'" >&2; exit 1; }
  RUN_AS=(runuser -u "$PG_USER" --)
fi

if [ "${1:-}" = "stop" ]; then
  DIR="${2:?usage: $0 stop DIR}"
  if [ -f "$DIR/data/postmaster.pid" ]; then
    "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  case "$DIR" in
    */wellled-pg.*) rm -rf "$DIR" ;;
    *) echo "start-test-postgres: not deleting $DIR (not made by this script)" >&2 ;;
  esac
  exit 0
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/wellled-pg.XXXXXX")"
chmod 700 "$DIR"
if ((${#RUN_AS[@]})); then chown "$PG_USER" "$DIR"; fi
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
PASSWORD="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
SUPERUSER="wellled"
DB="wellled_test"

printf '%s\n' "$PASSWORD" >"$DIR/pwfile"
if ((${#RUN_AS[@]})); then chown "$PG_USER" "$DIR/pwfile"; fi
chmod 600 "$DIR/pwfile"
"${RUN_AS[@]}" "$BIN/initdb" -D "$DIR/data" -U "$SUPERUSER" --pwfile="$DIR/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
rm -f "$DIR/pwfile"
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60" \
  start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
"${RUN_AS[@]}" "$BIN/createdb" -h "$DIR" -p "$PORT" -U "$SUPERUSER" "$DB"

echo "export WELLLED_TEST_PG_URL='postgresql+psycopg://$SUPERUSER:$PASSWORD@127.0.0.1:$PORT/$DB'"
echo "export WELLLED_TEST_PG_DIR='$DIR'"
