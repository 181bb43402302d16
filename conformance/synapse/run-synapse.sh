#!/usr/bin/env bash
# Run the MSC4140 conformance suite against a throwaway local Synapse on loopback.
#
#   conformance/synapse/run-synapse.sh [suite flags...]      e.g. --markdown target/synapse.md
#   conformance/synapse/run-synapse.sh serve                 only start it (prints URL and secret), for
#                                                            reproducing a verdict by hand; Ctrl-C stops it
#
# The suite gets --restart-cmd and --kill-cmd (SIGTERM or SIGKILL, then the same Synapse started
# again on the same database after $MSC4140_DOWN_MS ms), so the restart checks (PER-1..3) run, and
# its application service (a fresh registration installed in Synapse, the suite's receiver on
# 127.0.0.1:$SYNAPSE_AS_PORT), so the PSH-4 check runs.
#
# SYNAPSE_VENV     virtualenv to use or create (default: target/synapse-venv)
# SYNAPSE_VERSION  pip version pin when creating it (default: the newest matrix-synapse)
# SYNAPSE_PORT     loopback port (default: 8448)
# SYNAPSE_AS_PORT  loopback port of the suite's application service (default: 8449)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${SYNAPSE_VENV:-$root/target/synapse-venv}
port=${SYNAPSE_PORT:-8448}
as_port=${SYNAPSE_AS_PORT:-8449}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import synapse' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "matrix-synapse${SYNAPSE_VERSION:+==$SYNAPSE_VERSION}"
fi
work=$(mktemp -d)
trap 'kill "$(cat "$work/pid" 2>/dev/null || echo 0)" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
# --data-directory: Synapse puts its database and log in the current directory otherwise.
(cd "$work" && "$venv/bin/python" -m synapse.app.homeserver --server-name localhost \
  --config-path "$work/homeserver.yaml" --data-directory "$work" --generate-config --report-stats=no >/dev/null)
# Replace the generated listeners and key servers with ours (loopback only, no federation).
python3 - "$work/homeserver.yaml" "$root/conformance/synapse/overrides.yaml" "$port" <<'PY'
import re, sys
path, overrides, port = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
text = re.sub(r"listeners:\n(?:[ ]{2,}.*\n)+", "", text)
text = re.sub(r"trusted_key_servers:\n(?:[ ]{2,}.*\n)+", "", text)
text += "\n" + open(overrides).read().replace("port: 8448", "port: " + port)
open(path, "w").write(text)
PY
# The suite's application service (PSH-4): a fresh registration, installed in Synapse.
(cd "$root" && cargo build --release -q -p conformance)
"$root/target/release/msc4140-conformance" --homeserver "http://127.0.0.1:$port" --write-appservice-registration \
  --appservice-listen "127.0.0.1:$as_port" --appservice-registration "$work/appservice.yaml" >/dev/null
printf '\napp_service_config_files:\n  - %s\n' "$work/appservice.yaml" >>"$work/homeserver.yaml"
secret=$(sed -n 's/^registration_shared_secret: "\(.*\)"$/\1/p' "$work/homeserver.yaml")
(cd "$work" && exec "$venv/bin/python" -m synapse.app.homeserver --config-path "$work/homeserver.yaml") \
  >"$work/synapse.out" 2>&1 &
pid=$!
echo "$pid" >"$work/pid"
# What the suite runs to restart it: stop (SIGTERM, or SIGKILL for a crash), stay down for
# $MSC4140_DOWN_MS ms, start again on the same database. The suite waits for /versions itself.
cat >"$work/restart.sh" <<EOF
#!/usr/bin/env bash
set -eu
pid=\$(cat "$work/pid")
kill "-\${1:-TERM}" "\$pid" 2>/dev/null || true
# (a killed process nobody has reaped yet is a zombie: stopped, though kill -0 says otherwise)
while [ -n "\$(ps -o stat= -p "\$pid" | grep -v '^Z' || true)" ]; do sleep 0.05; done
sleep "\$(awk "BEGIN { print \${MSC4140_DOWN_MS:-0} / 1000 }")"
cd "$work"
"$venv/bin/python" -m synapse.app.homeserver --config-path "$work/homeserver.yaml" >>"$work/synapse.out" 2>&1 &
echo \$! >"$work/pid"
EOF
chmod +x "$work/restart.sh"
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/synapse.out"; exit 2; }
  sleep 0.5
done
version=$("$venv/bin/python" -c 'import synapse; print(synapse.__version__)')
echo "Synapse $version on http://127.0.0.1:$port" >&2
if [ "${1:-}" = serve ]; then
  echo "registration_shared_secret: $secret" >&2
  echo "http://127.0.0.1:$port"
  echo "restart: $work/restart.sh TERM (or KILL)" >&2
  echo "application service: --appservice-listen 127.0.0.1:$as_port --appservice-registration $work/appservice.yaml" >&2
  # Until Ctrl-C: a restart replaces the process, so there is no one pid to wait for.
  while :; do sleep 1; done
fi
cd "$root"
cargo run --release -q -p conformance -- --homeserver "http://127.0.0.1:$port" \
  --register "shared-secret:$secret" \
  --restart-cmd "$work/restart.sh TERM" --kill-cmd "$work/restart.sh KILL" \
  --appservice-listen "127.0.0.1:$as_port" --appservice-registration "$work/appservice.yaml" "$@"
