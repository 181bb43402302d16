#!/usr/bin/env bash
# The release reference server, restartable by the conformance suite (CI, docs/conformance.md):
#
#   reference-server.sh start STATE [server flags...]   start it (on a free port), print its URL
#   reference-server.sh restart STATE                    --restart-cmd: SIGINT (clean), then start
#   reference-server.sh kill STATE                       --kill-cmd: SIGKILL, then start
#   reference-server.sh stop STATE                       SIGINT, wait
#
# STATE is a directory for the pid, address, flags and log; pass --data-dir yourself (a restart
# without one loses everything, which the restart checks then report). Between stop and start the
# server stays down for $MSC4140_DOWN_MS ms (the suite sets it). REFERENCE_SERVER overrides the
# binary (default: target/release/reference-server).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${REFERENCE_SERVER:-$root/target/release/reference-server}
what=$1 state=$2
shift 2

launch() {
  local listen=$1
  shift
  "$bin" --listen "$listen" "$@" >>"$state/out" 2>>"$state/log" &
  echo $! >"$state/pid"
  for _ in $(seq 1 300); do
    url=$(grep -m1 '^http://' "$state/out" 2>/dev/null || true)
    [ -n "$url" ] && break
    running "$(cat "$state/pid")" || { cat "$state/log" >&2; exit 2; }
    sleep 0.02
  done
  [ -n "$url" ] || { echo "reference-server did not start" >&2; exit 2; }
}

# Whether the process runs (a zombie nobody has reaped yet has stopped).
running() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$s" ] && [ "${s:0:1}" != Z ]
}

down() {
  local pid
  pid=$(cat "$state/pid")
  kill "-$1" "$pid" 2>/dev/null || true
  while running "$pid"; do sleep 0.01; done
}

case $what in
  start)
    mkdir -p "$state"
    : >"$state/out"
    printf '%s\n' "$@" >"$state/flags"
    launch 127.0.0.1:0 "$@"
    echo "${url#http://}" >"$state/addr"
    echo "$url"
    ;;
  restart | kill)
    [ "$what" = kill ] && down KILL || down INT
    sleep "$(awk "BEGIN { print ${MSC4140_DOWN_MS:-0} / 1000 }")"
    : >"$state/out"
    mapfile -t flags <"$state/flags"
    launch "$(cat "$state/addr")" "${flags[@]}"
    ;;
  stop) down INT ;;
  *) echo "usage: $0 start|restart|kill|stop STATE [flags]" >&2; exit 2 ;;
esac
