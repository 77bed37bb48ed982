#!/usr/bin/env bash
# Runs every test. Installs what the tests need into .venv (moto server), starts moto server on
# 127.0.0.1, and runs the whole workspace's tests against it. Usage: scripts/test.sh [cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium (and CJK fonts, so that screenshots show Chinese) for the report page test.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "scripts/test.sh: the browser test needs Debian's chromium: sudo apt-get install chromium fonts-noto-cjk" >&2
    exit 1
  fi
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt

port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
.venv/bin/moto_server -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

export SEEDLINE_TEST_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
# Never reach for the instance metadata service on a developer's machine or in CI.
export AWS_EC2_METADATA_DISABLED=true
cargo test --workspace --all-targets "$@"
# The export reader under libFuzzer (cargo-fuzz on stable), two minutes.
scripts/fuzz.sh "${SEEDLINE_FUZZ_SECONDS:-120}"
# The Lambda functions as engineers run them locally: cargo lambda watch + invoke, against the same moto.
tests/lambda/check.sh
# report.html in a real browser, network off: a fresh demo's reports.
rm -rf target/browser-demo
target/debug/seedline demo --data target/browser-demo >/dev/null
(cd tests/browser && SEEDLINE_REPORTS_DIR="$PWD/../../target/browser-demo/reports" \
  SEEDLINE_SCREENSHOTS_DIR="$PWD/../../target/browser" node --test)
# A new user's first contact: a clean clone, the README's demo command, then each refusal.
tests/first-contact.sh
# The stack: cfn-lint, then the project's own template checks (what cfn-lint misses on SAM resources).
.venv/bin/cfn-lint infra/template.yaml
.venv/bin/python -m pytest -q -p no:cacheprovider tests/infra
