#!/usr/bin/env bash
# Screenshots of the Dagster UI against this repo's instance (run `make run` first so assets have metadata):
# the asset graph page and one asset's page. PNGs land in bench/out/.
#   bash bench/ui_screenshot.sh [asset_name]
set -euo pipefail
cd "$(dirname "$0")/.."
asset="${1:-filtered_code}"
out="bench/out"
mkdir -p "$out"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DAGSTER_HOME="$PWD" setsid .venv/bin/dagster-webserver -w workspace.yaml -h 127.0.0.1 -p "$port" >"$out/webserver.log" 2>&1 &
server=$!
profile=$(mktemp -d)
trap 'kill -- -$server 2>/dev/null || kill $server; rm -rf "$profile"' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/server_info" >/dev/null && break; sleep 1; done

shoot() {  # url, png, window size
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
    --window-size="$3" --virtual-time-budget=20000 --screenshot="$2" "$1" 2>/dev/null
  echo "saved $2"
}
# Groups start collapsed; `expanded` lists the group ids to open (the UI's two id forms: global, per location).
groups=$(.venv/bin/python -c 'from wavecoder_assets.definitions import all_assets
names = sorted({spec.group_name for a in all_assets for spec in a.specs})
print(",".join(f"global@global:{g},__repository__@wavecoder_assets.definitions:{g}" for g in names))')
shoot "http://127.0.0.1:$port/asset-groups?expanded=$groups" "$out/asset_graph.png" 1800,1100
# Tall: the metadata (funnel, samples) sits below the columns table.
shoot "http://127.0.0.1:$port/assets/$asset" "$out/asset_$asset.png" 1800,2000
