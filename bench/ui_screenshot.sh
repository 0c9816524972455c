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

# The repo's instance, as `make dev` starts it: DAGSTER_HOME=.dagster with the tracked dagster.yaml.
export DAGSTER_HOME="$PWD/.dagster"
mkdir -p "$DAGSTER_HOME"
[ "$DAGSTER_HOME/dagster.yaml" -nt dagster.yaml ] || cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# dagster dev: the webserver and the daemon (and a code server), all in one new process group.
setsid .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "$port" >"$out/dagster_dev.log" 2>&1 &
server=$!
profile=$(mktemp -d)
stop() {
  kill -TERM -- -"$server" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 -- -"$server" 2>/dev/null || break; sleep 1; done
  kill -KILL -- -"$server" 2>/dev/null || true
  rm -rf "$profile"
}
trap stop EXIT
up=""
for _ in $(seq 180); do curl -sf "http://127.0.0.1:$port/server_info" >/dev/null && { up=1; break; }; sleep 1; done
[ -n "$up" ] || { echo "dagster dev did not come up; see $out/dagster_dev.log" >&2; tail -20 "$out/dagster_dev.log" >&2; exit 1; }

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
