#!/usr/bin/env bash
# The contact sheets in docs/images/ (docs/builtin-model.md, "Examples"): the built-in model's take of each
# example prompt, drawn by `stagecraft generate --preview`. Fixed seed, so a rerun changes an image only when
# the model changed. Run after changing src/motion/procedural/ and commit the images.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin stagecraft
BIN="$PWD/target/debug/stagecraft"
OUT=docs/images
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# name | seconds | prompt
while IFS='|' read -r name seconds prompt; do
  "$BIN" generate "$prompt" --seconds "$seconds" --seed 7 --out "$TMP/$name.glb" --preview "$OUT/$name.png" >/dev/null
  echo "$OUT/$name.png: $prompt"
done <<'PROMPTS'
walk-and-wave|4|a person walks forward and waves
run-then-jump|4|runs for 2 seconds then jumps
door-turn-wave|6|walks to the door, then turns left and waves
idle-look-sit|6|idles, looks around, then sits
zombie|4|a zombie shambles forward
sneak-look|5|sneaks forward, stops and looks around
tired-old-sit|6|a tired old man walks 3 metres, then sits down
kneel-get-up|5|kneels, then gets up
lie-down|4|lies down
circle|6|runs in a circle
punch-kick|3|punches twice then kicks
dance|4|dances happily
PROMPTS
