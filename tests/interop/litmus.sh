#!/usr/bin/env bash
# litmus 0.13 (Debian `litmus`), suites basic copymove props locks http, against a fresh Hearth.
# The bar is Apache mod_dav's: 104 tests run, 104 passed, 0 failed.
# Output: $ARTIFACTS/litmus.txt (and litmus-debug.log, litmus's network trace).
. "$(dirname "$0")/lib.sh"

SUITES="basic copymove props locks http"
EXPECTED_TOTAL=104

ensure_deps
need litmus || fatal "litmus installed"
start_server || fatal "server starts"

W=$(mktmp)
# litmus writes debug.log into its working directory; -k keeps going after a failing suite
(cd "$W" && TESTS="$SUITES" timeout 600 litmus -k "$DAV/" "$ADMIN_USER" "$ADMIN_PASS") \
  >"$ARTIFACTS/litmus.txt" 2>&1
LITMUS_RC=$?
cp "$W/debug.log" "$ARTIFACTS/litmus-debug.log" 2>/dev/null
echo "# litmus exit $LITMUS_RC, output in $ARTIFACTS/litmus.txt"

# "<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%"
summary() {
  grep -E "^<- summary for \`$1':" "$ARTIFACTS/litmus.txt" | head -n1
}

suite_ok() {
  local s=$1 line
  line=$(summary "$s")
  if [ -z "$line" ]; then
    echo "no summary line for suite $s"
    return 1
  fi
  echo "$line"
  # show the failing tests of this suite
  awk -v s="$s" '$0 ~ "^-> running `" s "'"'"'" {on=1} on && /FAIL|WARNING/ {print} $0 ~ "^<- summary for `" s "'"'"'" {on=0}' \
    "$ARTIFACTS/litmus.txt"
  [[ $line =~ ([0-9]+)\ passed,\ 0\ failed ]]
}

for s in $SUITES; do
  check "litmus $s: 0 failed" suite_ok "$s"
done

totals() {
  local run=0 passed=0 failed=0 line
  while IFS= read -r line; do
    if [[ $line =~ of\ ([0-9]+)\ tests\ run:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
      run=$((run + BASH_REMATCH[1]))
      passed=$((passed + BASH_REMATCH[2]))
      failed=$((failed + BASH_REMATCH[3]))
    fi
  done < <(grep '^<- summary for' "$ARTIFACTS/litmus.txt")
  echo "litmus total: $run run, $passed passed, $failed failed (want $EXPECTED_TOTAL passed, 0 failed)"
  [ "$passed" -eq "$EXPECTED_TOTAL" ] && [ "$failed" -eq 0 ]
}
check "litmus total: $EXPECTED_TOTAL passed, 0 failed" totals

finish
