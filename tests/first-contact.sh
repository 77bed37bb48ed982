#!/usr/bin/env bash
# A new user's first hour, end to end: a clean clone of this repository, the README's first set-up
# command exactly as the README writes it, the binary found the way the demo says, then each refusal
# a new (or hostile) user runs into, asserting exit code and message. (The README's second command is
# scripts/test.sh, which runs this script.)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "first contact: $*" >&2; exit 1; }

git clone --quiet "$repo" "$work/seedline"
cd "$work/seedline"
# The README's set-up block, run line by line up to (not including) the test command.
setup=$(awk '/^## Set-up/{f=1} f&&/^```sh/{b=1;next} b&&/^```/{exit} b' README.md | sed 's/ *#.*//')
demo_cmd=$(printf '%s\n' "$setup" | grep -v '^scripts/test.sh' | grep .) || fail "no demo command in the README's set-up"
[ "$(printf '%s\n' "$setup" | grep -c .)" = 2 ] || fail "the README's set-up is not two commands: $setup"
echo "first contact: $demo_cmd"
# A clean clone builds from scratch; sharing the checkout's dependency builds only saves time.
export CARGO_TARGET_DIR="${FIRST_CONTACT_TARGET:-$work/seedline/target}"
out=$(bash -c "$demo_cmd" 2>"$work/demo.err") || { cat "$work/demo.err" >&2; fail "the demo failed"; }
page=$(printf '%s\n' "$out" | grep -A1 "^Open b-shuihua's to-date report" | tail -1 | tr -d ' ')
[ -f "$page" ] || fail "the demo names no page to open: $out"
case "$page" in seedline-demo/*|"$work/seedline/seedline-demo/"*) ;; *) fail "the demo wrote outside ./seedline-demo: $page" ;; esac
grep -q 'ROAS' "$page" || fail "the showcased page has no ROAS"
# The demo says how to type `seedline`; do what it says.
path_line=$(printf '%s\n' "$out" | grep '^  export PATH=') || fail "the demo does not say where seedline is"
eval "$path_line"
command -v seedline >/dev/null || fail "seedline is not found after: $path_line"

# expect CODE NEEDLE CMD...: CMD exits CODE and its stderr contains NEEDLE.
expect() {
  local code=$1 needle=$2
  shift 2
  local got=0
  "$@" >"$work/out" 2>"$work/err" || got=$?
  [ "$got" = "$code" ] || { cat "$work/err" >&2; fail "'$*' exited $got, not $code"; }
  grep -qF -- "$needle" "$work/err" || { cat "$work/err" >&2; fail "'$*' did not say: $needle"; }
  if grep -q $'\e\[' "$work/err"; then fail "'$*' wrote colour codes to a file"; fi
}

expect 1 "SEEDLINE_BUYER_KEY is not set" env -u SEEDLINE_BUYER_KEY seedline run --data seedline-demo --date 2025-06-07
export SEEDLINE_BUYER_KEY=0123456789abcdef0123456789abcdef
expect 1 "seedline-dmeo does not exist" seedline run --data seedline-dmeo --date 2025-06-07
mkdir empty
expect 1 "has no brands.jsonl" seedline run --data empty --date 2025-06-07
[ -z "$(ls empty)" ] || fail "a refused run wrote into empty/"
cp seedline-demo/brands.jsonl empty/
expect 1 "has no campaigns.jsonl" seedline run --data empty --date 2025-06-07
expect 2 "invalid value '2025-02-30'" seedline run --data seedline-demo --date 2025-02-30

# Records a user writes by hand: each refusal names file:line, the field, and what is accepted.
camp='{"campaign_id": "c1", "brand_id": "b-shuihua", "name": "C", "start": "2025-05-01", "end": "2025-05-10", "window_days": 3, "spend_fen": 100, "items": {}, "notes": [{"note_id": "n1", "links": [{"token": "t1", "kind": "ad_link", "marketplace": "taobao"}]}]}'
refuse() { # FROM TO NEEDLE...
  local from=$1 to=$2
  shift 2
  printf '\n%s\n' "${camp/"$from"/"$to"}" >in.jsonl
  for needle in "in.jsonl:2" "$@"; do
    expect 1 "$needle" seedline campaigns load in.jsonl --data seedline-demo
  done
}
before=$(sha256sum seedline-demo/campaigns.jsonl)
refuse '"ad_link"' '"adlink"' 'field `notes[0].links[0].kind`' 'expected "ad_link" or "comment_link"'
refuse '"window_days": 3' '"window_days": 5000.0' 'field `window_days`' 'whole number 1..90'
refuse '"2025-05-10"' '"2025-02-30"' 'field `end`' 'a day that exists'
refuse '"b-shuihua"' '"b-nobody"' 'b-nobody'
refuse '"t1"' '"xhs_k3j2h1g0f9e8"' 'token xhs_k3j2h1g0f9e8 is already used by campaign c-618-face'
refuse '"c1"' '"c-evil/../../x"' 'field `campaign_id`' '1 to 64 ASCII letters'
refuse '"b-shuihua"' '"../evil"' 'field `brand_id`'
[ "$(sha256sum seedline-demo/campaigns.jsonl)" = "$before" ] || fail "a refused load changed campaigns.jsonl"

# A record that breaks the rule already stored (an older seedline wrote it): its brand's reports
# are held back, every other brand's are published, and the run exits non-zero saying why.
printf '%s\n' "${camp/'"c1"'/'"c/../x"'}" | sed 's/"t1"/"t-held"/; s/"n1"/"nheld"/' >>seedline-demo/campaigns.jsonl
expect 1 "b-shuihua's because campaign c/../x: field \`campaign_id\`" seedline run --data seedline-demo --date 2025-06-08
[ -f seedline-demo/reports/b-lanting/2025-06-08/latest.json ] || fail "another brand's statement was not published"
[ ! -e seedline-demo/reports/b-shuihua/2025-06-08 ] || fail "the held brand's statement was published"
echo "first contact: all as the README says"
