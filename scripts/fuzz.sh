#!/usr/bin/env bash
# Fuzzes the export readers (seedline_core::ingest::normalise, seedline_core::red) with cargo-fuzz and libFuzzer, on the
# stable toolchain (-s none: no sanitizer, which needs nightly; Rust's own checks still panic).
# Seeds: the test fixtures (orders of both marketplaces, GB18030, gzip; RED note reports), each
# prefixed with its dialect byte (0 Taobao, 1 JD, 2 RED).
# Usage: scripts/fuzz.sh [seconds, default 60]. Prints the executions run; fails on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

# cargo-fuzz goes into the project's .venv/bin, beside the other tools the tests install.
export PATH="$PWD/.venv/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --root .venv cargo-fuzz --locked --version 0.13.2
fi

corpus=fuzz/corpus/normalise
mkdir -p "$corpus"
for f in $(find tests/fixtures/exports -type f); do
  case "$f" in
    */jd/*) sel='\x01' ;;
    */xhs/*) sel='\x02' ;;
    *) sel='\x00' ;;
  esac
  name=$(echo "$f" | tr '/' '_')
  { printf "$sel"; cat "$f"; } > "$corpus/seed_$name"
done

cd fuzz
log=$(mktemp)
# -rss_limit_mb: memory bounded by design, so a run that needs more is a bug.
cargo fuzz run normalise -s none -- \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=512 \
  -dict=normalise.dict -print_final_stats=1 2>&1 | tee "$log" | grep -E "^(Done|stat::number_of_executed_units|==|SUMMARY)|panicked" || true
status=${PIPESTATUS[0]}
runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo 0)
rm -f "$log"
if [ "$status" -ne 0 ]; then
  echo "fuzz: the reader failed on an input; see fuzz/artifacts/normalise/" >&2
  exit "$status"
fi
echo "fuzz: $runs executions in ${seconds}s, no panic, every row kept or rejected"
