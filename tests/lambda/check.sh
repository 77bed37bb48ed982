#!/usr/bin/env bash
# The three functions served by `cargo lambda watch` and invoked with `cargo lambda invoke`, each with
# its sample event file, against moto server; checks what landed in the buckets.
# Needs: SEEDLINE_TEST_ENDPOINT (moto), .venv/bin/cargo-lambda, target/debug/seedline. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
endpoint=${SEEDLINE_TEST_ENDPOINT:?run through scripts/test.sh, which starts moto server}
passed=0
failed=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

env_file=target/lambda-test.env
: > target/lambda-responses.log
cat > "$env_file" <<ENV
AWS_ENDPOINT_URL=$endpoint
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-east-1
SEEDLINE_EXPORTS_BUCKET=seedline-exports
SEEDLINE_STAGING_BUCKET=seedline-staging
SEEDLINE_REPORTS_BUCKET=seedline-reports
SEEDLINE_TABLE=seedline
SEEDLINE_BUYER_KEY=lambda-test-buyer-key-0123456789
RUST_LOG=info
ENV
set -a; . "$env_file"; set +a

# The resources and the campaigns, then an export where the sample S3 event says it is.
target/debug/seedline setup --aws >/dev/null
target/debug/seedline campaigns load tests/fixtures/brands.jsonl tests/fixtures/campaigns.jsonl --aws >/dev/null
curl -sf -X PUT -H "Content-Type: application/octet-stream" --data-binary @tests/fixtures/exports/taobao/2025-05-20/ExportOrderDetailList20250520-1.csv \
  "$endpoint/seedline-exports/exports/taobao/2025-05-20/Export%20List%201.csv" >/dev/null
curl -sf -X PUT -H "Content-Type: application/octet-stream" --data-binary @tests/fixtures/exports/jd/2025-05-20/pop_orders_20250520.csv \
  "$endpoint/seedline-exports/exports/jd/2025-05-20/pop_orders_20250520.csv" >/dev/null
curl -sf -X PUT -H "Content-Type: application/octet-stream" --data-binary @"tests/fixtures/exports/xhs/2025-05-20/聚光_笔记报表_20250520.csv" \
  "$endpoint/seedline-exports/exports/xhs/2025-05-20/%E8%81%9A%E5%85%89_%E7%AC%94%E8%AE%B0%E6%8A%A5%E8%A1%A8_20250520.csv" >/dev/null

port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --env-file "$env_file" > target/lambda-watch.log 2>&1 &
watch_pid=$!
trap 'kill "$watch_pid" 2>/dev/null || true; pkill -P "$watch_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.2
done

invoke() { # function, event file; prints the response as compact JSON
  cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$2" --output-format json \
    | .venv/bin/python -c 'import json, sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":"), ensure_ascii=False))' \
    | tee -a target/lambda-responses.log
}

ingest=$(invoke ingest-orders functions/ingest-orders/events/s3-object-created.json)
check "ingest-orders: S3 event with an encoded key" grep -q '"rows_kept":5' <<<"$ingest"
direct=$(invoke ingest-orders functions/ingest-orders/events/direct.json)
check "ingest-orders: {bucket, key}" grep -q '"encoding":"gb18030"' <<<"$direct"
status=$(target/debug/seedline status --aws --date 2025-05-20)
check "ingest-orders: both exports recorded in staging" grep -q "2 rows: 2 kept, 0 rejected" <<<"$status"
red=$(invoke ingest-orders functions/ingest-orders/events/s3-red-report.json)
check "ingest-orders: a RED note report's S3 event" grep -q '"rows_kept":3,"rows_rejected":1' <<<"$red"
again=$(invoke ingest-orders functions/ingest-orders/events/s3-object-created.json)
check "ingest-orders: the same event twice is skipped" grep -q '"skipped":true' <<<"$again"
matched=$(invoke match-orders functions/match-orders/events/match.json)
check "match-orders: b-fix on 2025-05-20 changed" grep -q '"brand_id":"b-fix","date":"2025-05-20"' <<<"$matched"
check "match-orders: b-fix's to-date report changed" grep -q '"to_date_changed":\["b-fix"\]' <<<"$matched"
published=$(invoke publish-reports functions/publish-reports/events/publish.json)
check "publish-reports: version 1 written" grep -q '"version":1,"written":true' <<<"$published"
republished=$(invoke publish-reports functions/publish-reports/events/publish.json)
check "publish-reports: the same event twice leaves version 1" grep -q '"version":1,"written":false' <<<"$republished"
# What a brand downloads, through the time-limited links `seedline presign` prints.
links=$(target/debug/seedline presign --aws --brand b-fix --date 2025-05-20)
latest=$(curl -sf "$(grep -m1 '/latest.json?' <<<"$links")" || true)
check "publish-reports: latest.json through a presigned link" grep -q '"prefix": "reports/b-fix/2025-05-20/v1/"' <<<"$latest"
csv=$(curl -sf "$(grep -m1 '/campaigns.csv?' <<<"$links")" || true)
check "publish-reports: the brand's campaigns.csv through a presigned link" \
  grep -q 'b-fix,c-fix,面霜 种草,taobao,1,2,199.00' <<<"$csv"
# The to-date report, as the state machine's second map publishes it after the statements.
to_date=$(invoke publish-reports functions/publish-reports/events/publish-to-date.json)
check "publish-reports: the to-date report, version 1" grep -q '"kind":"to_date","prefix":"reports/b-fix/to-date/v1/","version":1,"written":true' <<<"$to_date"
links=$(target/debug/seedline presign --aws --brand b-fix --to-date)
csv=$(curl -sf "$(grep -m1 '/funnel.csv?' <<<"$links")" || true)
check "publish-reports: the to-date funnel.csv through a presigned link" \
  grep -q '2025-05-20,b-fix,c-fix,面霜 种草,12000,300,40,30,600.00,1000.00,1600.00' <<<"$csv"

# Bad input is reported as such, so that the state machine does not retry it.
bad=$(cargo lambda invoke match-orders --invoke-address 127.0.0.1 --invoke-port "$port" \
  --data-ascii '{"date": "2025-13-01"}' --output-format json 2>&1 || true)
echo "$bad" >> target/lambda-responses.log
check "match-orders: a bad date fails as Seedline.NotRetryable" grep -q 'Seedline.NotRetryable' <<<"$bad"
published=$(cargo lambda invoke publish-reports --invoke-address 127.0.0.1 --invoke-port "$port" \
  --data-ascii '{"brand_id": "b-fix"}' --output-format json 2>&1 || true)
check "publish-reports: a target without a date fails as Seedline.NotRetryable" grep -q 'Seedline.NotRetryable' <<<"$published"

echo "lambda: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
