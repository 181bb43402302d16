#!/usr/bin/env bash
# Runs a matrix-js-sdk check against a fresh release reference server on loopback.
#   ./run.sh 2025-07-09   matrix-js-sdk 37.13.0 (check.mjs) against the seed revision
#   ./run.sh 2026-07-10   matrix-js-sdk 43.0.0 with MatrixRTC (check-43.mjs) against the merged one
# Needs node >= 20 and npm (the registry). Everything it writes goes under target/js-clients.
set -euo pipefail
revision="${1:-2025-07-09}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$root/target/js-clients"
mkdir -p "$work"
cp "$here/package.json" "$here"/*.mjs "$work/"
(cd "$work" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
cargo build --release -q -p reference-server --bin reference-server --manifest-path "$root/Cargo.toml"
log="$work/server-$revision.log"
"$root/target/release/reference-server" --listen 127.0.0.1:0 --log warn --revision "$revision" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^http://' "$log" && break; sleep 0.05; done
base=$(grep -m1 '^http://' "$log")
case "$revision" in
  2026-07-10) script=check-43.mjs ;;
  *) script=check.mjs ;;
esac
cd "$work" && node "$script" "$base"
