#!/usr/bin/env bash
# One fuzzing campaign that writes only under target/: the committed seeds of fuzz/corpus/<target>
# are read, new units, crash files and the build go to target/fuzz/.
#
#   fuzz/campaign.sh TARGET [SECONDS] [extra libFuzzer flags...]     e.g. fuzz/campaign.sh differential 600
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). MSC4140_FAULT=<switch> plants a bug in
# the `differential` target (docs/fuzzing.md). Ends with libFuzzer's last status line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: fuzz/campaign.sh TARGET [SECONDS] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# > 1 ? 2 : 1 ))
work="$root/target/fuzz"
mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
dict=()
case "$target" in http_request|differential) dict=(-dict="$root/fuzz/matrix.dict") ;; esac
cd "$root/fuzz"
cargo fuzz run -s none --target-dir "$work/build" "$target" "$work/corpus/$target" "$root/fuzz/corpus/$target" -- \
  -max_total_time="$seconds" -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1 "${dict[@]}" "$@"
