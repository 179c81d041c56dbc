#!/usr/bin/env bash
# Runs @modelcontextprotocol/conformance against `stagecraft serve --http` for both protocol eras,
# with baselines that list only the checks needing the suite's fixture tools, plus the MCP
# Skills extension scenarios. Needs NODE, CONFORMANCE and STAGECRAFT_BIN (set by scripts/test.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
port="$("${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
config="$out/stagecraft.toml"; : > "$config"

STAGECRAFT_CONFIG="$config" "$STAGECRAFT_BIN" serve --http "127.0.0.1:$port" --log-level warn 2>"$out/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "MCP on" "$out/server.log" 2>/dev/null && break; sleep 0.1; done

failed=0
cd "$out"
for version in 2025-11-25 2026-07-28; do
  echo "== conformance $version"
  if ! "$NODE" "$CONFORMANCE" server --url "http://127.0.0.1:$port/mcp" --suite all \
      --spec-version "$version" --expected-failures "$here/baseline-$version.yaml" -o "$out/$version" \
      > "$out/$version.log" 2>&1; then
    failed=1
  fi
  grep -E '^(✓|✗)|^Total' "$out/$version.log" || cat "$out/$version.log"
done
for scenario in sep-2640-skills-enumeration sep-2640-skills-manifest sep-2640-skills-directory; do
  if "$NODE" "$CONFORMANCE" server --url "http://127.0.0.1:$port/mcp" --scenario "$scenario" \
      > "$out/$scenario.log" 2>&1; then
    echo "✓ $scenario: $(grep -E '^Passed' "$out/$scenario.log")"
  else
    echo "✗ $scenario"; cat "$out/$scenario.log"; failed=1
  fi
done
exit $failed
