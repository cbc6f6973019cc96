#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and CI (issue 16): a cluster of its own in
# DIR, reachable only on 127.0.0.1, trust auth, fsync off. Not for data anyone wants.
#
#   scripts/pg-server.sh start DIR [PORT]  start (initdb first if DIR holds no cluster);
#                                          the last line on stdout is the URL
#                                          postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg-server.sh stop DIR          stop it (fast) and remove DIR
#   scripts/pg-server.sh halt DIR [MODE]   stop it but keep the cluster: `start DIR` brings
#                                          it back with its data; MODE is fast (default)
#                                          or immediate (a crash: recovery on start)
#   scripts/pg-server.sh status DIR        print the URL if it runs (exit 0), else exit 3
#
# `start` on a running cluster prints its URL again. Without PORT it reuses the cluster's
# last port when free, else picks a free one (and another if that one is taken before the
# server binds it); an explicit PORT that is taken is an error. A postmaster.pid or
# processes left by a killed server are cleaned up. DIR holds data/ (the cluster),
# sock/ (the unix socket), postgres.log and port. As root the cluster is owned by and run
# as the `postgres` user (initdb refuses root), so DIR must be reachable by it: put it
# under /tmp. Binaries: $AZ_OS_PG_BIN, else the newest /usr/lib/postgresql/*/bin, else
# initdb on PATH. Calls on one DIR are serialised with flock.
set -euo pipefail

# The server's address comes from DIR alone, never from a developer's environment.
unset PGDATA PGPORT PGHOST PGHOSTADDR PGUSER PGDATABASE PGOPTIONS PGSERVICE

MARKER=az-os-pg-server
PORT_LOW=15000 # below the kernel's ephemeral range (32768-60999)
PORT_SPAN=17000

die() {
  echo "pg-server.sh: $*" >&2
  exit 1
}

usage() {
  die "usage: pg-server.sh start DIR [PORT] | stop DIR | halt DIR [fast|immediate] | status DIR"
}

find_bin() {
  if [ -n "${AZ_OS_PG_BIN:-}" ]; then
    [ -x "$AZ_OS_PG_BIN/initdb" ] || die "AZ_OS_PG_BIN=$AZ_OS_PG_BIN holds no initdb"
    BIN="$AZ_OS_PG_BIN"
    return
  fi
  local newest
  newest="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1 || true)"
  if [ -n "$newest" ]; then
    BIN="$(dirname "$newest")"
  elif command -v initdb >/dev/null 2>&1; then
    BIN="$(dirname "$(command -v initdb)")"
  else
    die "no PostgreSQL server here: install it (apt-get install postgresql) or set AZ_OS_PG_BIN to the directory holding initdb and pg_ctl"
  fi
}

# Who owns and runs the cluster: ourselves, or `postgres` when we are root.
find_owner() {
  if [ "$(id -u)" != 0 ]; then
    OWNER=self
    return
  fi
  id postgres >/dev/null 2>&1 ||
    die "running as root, and initdb refuses root: create the postgres user (apt-get install postgresql does) or run as another user"
  OWNER=postgres
}

# The lock on DIR (fd 9) is closed for the command: a server started under it would
# otherwise hold it for its whole life.
as_owner() {
  if [ "$OWNER" = self ]; then
    "$@" 9<&-
  elif command -v setpriv >/dev/null 2>&1; then
    (cd / && setpriv --reuid postgres --regid postgres --init-groups -- "$@") 9<&-
  else
    (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")") 9<&-
  fi
}

port_busy() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

random_port() {
  echo $((PORT_LOW + ((RANDOM << 15) | RANDOM) % PORT_SPAN))
}

free_port() {
  local p _
  for _ in $(seq 1 50); do
    p="$(random_port)"
    if ! port_busy "$p"; then
      echo "$p"
      return
    fi
  done
  die "found no free port on 127.0.0.1 in 50 tries: pass one (pg-server.sh start DIR PORT)"
}

url() {
  echo "postgres://postgres@127.0.0.1:$1/postgres"
}

# Makes DIR absolute and canonical (the running postmaster's cwd is compared with it)
# and takes the lock on it; fd 9 stays open until the script ends.
open_dir() {
  local create="$1"
  if [ "$create" = yes ]; then
    mkdir -p "$DIR" || die "cannot create $DIR: pick a directory you may write, e.g. under /tmp"
  fi
  DIR="$(cd "$DIR" && pwd -P)"
  case "$DIR" in
    *\'* | *$'\n'* | *' '*) die "$DIR: use a directory name without quotes or spaces" ;;
  esac
  # A unix socket path holds at most 107 bytes: DIR/sock/.s.PGSQL.NNNNN.
  [ "${#DIR}" -le 86 ] || die "$DIR is too long for the unix socket inside it: use a shorter one, e.g. /tmp/pg"
  DATA="$DIR/data"
  if command -v flock >/dev/null 2>&1; then
    while :; do
      exec 9<"$DIR"
      flock 9
      # `stop` may have removed DIR while we waited: lock the new one, if any.
      if [ "$DIR" -ef /proc/self/fd/9 ]; then
        break
      fi
      exec 9<&-
      [ "$create" = yes ] || exit 0
      mkdir -p "$DIR"
    done
  fi
}

# Refuses to touch a directory that holds something other than a cluster of ours.
check_ours() {
  if [ -e "$DIR/$MARKER" ]; then
    return
  fi
  if [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and was not made by pg-server.sh: give an empty or new directory"
  fi
}

# The postmaster's pid if this cluster's server is alive, else nothing.
running_pid() {
  local pid
  [ -f "$DATA/postmaster.pid" ] || return 0
  pid="$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)"
  case "$pid" in
    '' | *[!0-9]*) return 0 ;;
  esac
  # A pid reused by another process after a kill is not our server: the postmaster
  # works in its data directory.
  if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" = "$DATA" ]; then
    echo "$pid"
  fi
}

# Processes still working in DATA with no postmaster (a killed server's backends).
kill_leftovers() {
  local d pid
  for d in /proc/[0-9]*; do
    if [ "$(readlink "$d/cwd" 2>/dev/null || true)" = "$DATA" ]; then
      pid="${d#/proc/}"
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

running_port() {
  sed -n 4p "$DATA/postmaster.pid"
}

init_cluster() {
  # A half-made cluster from a killed initdb has no PG_VERSION: start over.
  rm -rf "$DATA" "$DIR/sock"
  if [ "$OWNER" = postgres ]; then
    chown postgres:postgres "$DIR"
  fi
  chmod 700 "$DIR"
  as_owner test -w "$DIR" ||
    die "the postgres user cannot write $DIR: put DIR under /tmp (every parent must be searchable by postgres)"
  touch "$DIR/$MARKER"
  mkdir -p "$DIR/sock"
  if [ "$OWNER" = postgres ]; then
    chown -R postgres:postgres "$DIR"
  fi
  if ! as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale \
    --no-sync >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2
    die "initdb failed (output above)"
  fi
  as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# pg-server.sh: a throwaway test server. Without fsync a crash of the machine may lose
# data, a crash of the server loses nothing committed (the tests stop and kill it), so
# synchronous_commit stays on.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/sock'
max_connections = 200
fsync = off
full_page_writes = off
EOF
}

cmd_start() {
  local want="${1:-}" pid port log_size attempt
  if [ -n "$want" ]; then
    case "$want" in
      *[!0-9]*) die "PORT must be a number, not $want" ;;
    esac
    if [ "${#want}" -gt 5 ] || [ "$want" -lt 1 ] || [ "$want" -gt 65535 ]; then
      die "PORT must be 1-65535, not $want"
    fi
  fi
  find_bin
  find_owner
  open_dir yes
  check_ours
  [ -f "$DATA/PG_VERSION" ] || init_cluster

  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    port="$(running_port)"
    if [ -n "$want" ] && [ "$want" != "$port" ]; then
      die "$DIR already runs on port $port, not $want: stop it first (pg-server.sh halt $DIR)"
    fi
    url "$port"
    return
  fi
  # Lock files of a killed server: its pid may live on as a zombie nobody reaps (PID 1
  # of a container), which PostgreSQL would take for a running server.
  kill_leftovers
  rm -f "$DATA/postmaster.pid" "$DIR"/sock/.s.PGSQL.*

  if [ -n "$want" ]; then
    port_busy "$want" && die "port $want on 127.0.0.1 is taken: pass another PORT or none"
    port="$want"
  else
    port="$(cat "$DIR/port" 2>/dev/null || true)"
    if [ -z "$port" ] || port_busy "$port"; then
      port="$(free_port)"
    fi
  fi
  touch "$DIR/postgres.log"
  [ "$OWNER" = postgres ] && chown postgres:postgres "$DIR/postgres.log"
  for attempt in $(seq 1 10); do
    log_size="$(stat -c %s "$DIR/postgres.log")"
    if as_owner "$BIN/pg_ctl" start -w -t 120 -D "$DATA" -l "$DIR/postgres.log" \
      -o "-p $port" >/dev/null 2>&1; then
      echo "$port" >"$DIR/port"
      url "$port"
      return
    fi
    # Someone took the port between our check and the bind: try another, unless asked
    # for that one.
    if [ -z "$want" ] && tail -c +"$((log_size + 1))" "$DIR/postgres.log" |
      grep -q -e 'Address already in use' -e 'could not bind'; then
      echo "pg-server.sh: port $port was taken, trying another (attempt $attempt)" >&2
      kill_leftovers
      rm -f "$DATA/postmaster.pid" "$DIR"/sock/.s.PGSQL.*
      port="$(free_port)"
      continue
    fi
    tail -c +"$((log_size + 1))" "$DIR/postgres.log" >&2
    die "the server in $DIR did not start (its log is above and in $DIR/postgres.log)"
  done
  die "every port tried was taken: pass a free one (pg-server.sh start DIR PORT)"
}

# Stops the server of DATA if it runs; fast first, then harder.
stop_server() {
  local mode="$1" pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    as_owner "$BIN/pg_ctl" stop -w -t 60 -D "$DATA" -m "$mode" >/dev/null 2>&1 ||
      as_owner "$BIN/pg_ctl" stop -w -t 30 -D "$DATA" -m immediate >/dev/null 2>&1 ||
      kill -9 "$pid" 2>/dev/null || true
  fi
  kill_leftovers
}

cmd_stop() {
  [ -e "$DIR" ] || return 0
  find_bin
  find_owner
  open_dir no
  check_ours
  stop_server fast
  rm -rf "$DIR"
}

cmd_halt() {
  local mode="${1:-fast}"
  case "$mode" in
    fast | immediate) ;;
    *) die "MODE must be fast or immediate, not $mode" ;;
  esac
  [ -e "$DIR" ] || die "$DIR does not exist: start it first (pg-server.sh start $DIR)"
  find_bin
  find_owner
  open_dir no
  check_ours
  stop_server "$mode"
}

cmd_status() {
  local pid
  [ -d "$DIR" ] || exit 3
  DIR="$(cd "$DIR" && pwd -P)"
  DATA="$DIR/data"
  pid="$(running_pid)"
  [ -n "$pid" ] || exit 3
  url "$(running_port)"
}

[ $# -ge 2 ] || usage
cmd="$1"
DIR="$2"
shift 2
[ -n "$DIR" ] || usage
case "$cmd" in
  start)
    [ $# -le 1 ] || usage
    cmd_start "$@"
    ;;
  stop)
    [ $# -eq 0 ] || usage
    cmd_stop
    ;;
  halt)
    [ $# -le 1 ] || usage
    cmd_halt "$@"
    ;;
  status)
    [ $# -eq 0 ] || usage
    cmd_status
    ;;
  *) usage ;;
esac
