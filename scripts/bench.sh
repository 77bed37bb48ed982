#!/usr/bin/env bash
# The benchmark: seedline against DuckDB and Polars on the same generated exports, in one run (bench/bench.py).
# Builds seedline in release, installs DuckDB and Polars into .venv, generates data under target/bench (kept
# between runs; delete it to regenerate). Usage: scripts/bench.sh [--sizes 1000000,10000000]
# [--history-lines 200000]. Needs about 8 GB of disk for the 10M-line sets.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
cargo build --release -p seedline-cli -p ingest-orders -p match-orders -p publish-reports
cargo build --release -p seedline-core --example normalise
exec .venv/bin/python bench/bench.py "$@"
