#!/usr/bin/env bash
# The whole test suite: `npm test`. Installs the Debian packages the tests drive (chromium for the
# e2e tests, prometheus for the scrape test, nginx for the cluster routing tests) when missing, or
# stops with the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/bin/prometheus ] || command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# Debian puts nginx in /usr/sbin (not on every PATH); the tests run it with their own config and prefix.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing test dependencies: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "Tests need Debian packages: ${need[*]}. Run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
# Prometheus and nginx from Debian start themselves as services on install; our tests run their own.
export NEXT_TELEMETRY_DISABLED=1
# Besides vitest's own summary, end with one plain "N passed, N failed, N skipped" line (CI reads it).
results=$(mktemp -t tandem-vitest-XXXXXX.json)
status=0
npx vitest run --config tests/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" 2>/dev/null || echo "tests: 0 passed, 1 failed"
rm -f "$results"
exit $status
