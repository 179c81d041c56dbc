#!/usr/bin/env bash
# Builds the MCPB bundle for Claude Desktop's one-click install (MCP Bundles, manifest 0.3):
#
#   scripts/build-mcpb.sh [--binary PATH] [--out DIR]   -> DIR/stagecraft-<version>-<platform>.mcpb
#
# --binary: the stagecraft to bundle (default: `cargo build --release`, target/release/stagecraft);
# --out: where the bundle goes (default: dist/). The bundle holds manifest.json and
# server/stagecraft; Claude Desktop asks for the user_config fields at install and passes them
# as the environment variables `stagecraft serve` reads (README, Configuration):
#   blender_endpoint -> STAGECRAFT_BLENDER_ENDPOINT   blender_token  -> STAGECRAFT_BLENDER_TOKEN
#   motion_backends  -> STAGECRAFT_MOTION_BACKENDS    motion_api_key -> STAGECRAFT_MOTION_API_KEY
# Empty values are unset: no Blender endpoint leaves the built-in stage scene, no token makes
# stagecraft use the token file `stagecraft setup` wrote, no backends leave the built-in model.
#
# Validates and packs with the `mcpb` CLI (npm @anthropic-ai/mcpb): $MCPB (a command, e.g.
# "node /path/to/mcpb/dist/cli/cli.js"), else `mcpb` on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BINARY=""
OUT="$ROOT/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BINARY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--out DIR]" >&2; exit 2 ;;
  esac
done
read -r -a MCPB_CMD <<< "${MCPB:-mcpb}"
if ! "${MCPB_CMD[@]}" --version >/dev/null 2>&1; then
  echo "build-mcpb: no mcpb CLI: npm install -g @anthropic-ai/mcpb, or set MCPB=\"node .../cli.js\"" >&2
  exit 1
fi

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
case "$(uname -s)" in
  Linux) OS=linux; EXE="" ;;
  Darwin) OS=darwin; EXE="" ;;
  MINGW* | MSYS* | CYGWIN*) OS=win32; EXE=".exe" ;;
  *) echo "build-mcpb: unknown OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x64 ;;
  arm64 | aarch64) ARCH=arm64 ;;
  *) ARCH="$(uname -m)" ;;
esac
if [ -z "$BINARY" ]; then
  (cd "$ROOT" && cargo build --release --bin stagecraft >&2)
  BINARY="$ROOT/target/release/stagecraft$EXE"
fi

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/server"
cp "$BINARY" "$STAGE/server/stagecraft$EXE"
chmod 755 "$STAGE/server/stagecraft$EXE"
cp "$ROOT/LICENSE" "$STAGE/LICENSE"
cat > "$STAGE/manifest.json" <<JSON
{
  "manifest_version": "0.3",
  "name": "stagecraft",
  "display_name": "stagecraft",
  "version": "$VERSION",
  "description": "Generate character motion from words and put it on a rig, in Blender or a built-in glTF scene.",
  "long_description": "stagecraft lets Claude generate character motion with MMCP motion models (or its built-in procedural model) and apply it to rigs in Blender, through the stagecraft Blender extension, or in its own in-memory glTF scene. Run \`stagecraft setup\` once to install the Blender extension and its shared token.",
  "author": { "name": "stagecraft" },
  "license": "Apache-2.0",
  "keywords": ["animation", "motion", "blender", "gltf", "mocap"],
  "server": {
    "type": "binary",
    "entry_point": "server/stagecraft$EXE",
    "mcp_config": {
      "command": "\${__dirname}/server/stagecraft$EXE",
      "args": ["serve"],
      "env": {
        "STAGECRAFT_BLENDER_ENDPOINT": "\${user_config.blender_endpoint}",
        "STAGECRAFT_BLENDER_TOKEN": "\${user_config.blender_token}",
        "STAGECRAFT_MOTION_BACKENDS": "\${user_config.motion_backends}",
        "STAGECRAFT_MOTION_API_KEY": "\${user_config.motion_api_key}"
      }
    }
  },
  "tools_generated": true,
  "prompts_generated": true,
  "compatibility": { "platforms": ["$OS"] },
  "user_config": {
    "blender_endpoint": {
      "type": "string",
      "title": "Blender bridge",
      "description": "Where the stagecraft Blender extension listens (ws://HOST:PORT). Empty: no Blender, the built-in stage scene only.",
      "default": "ws://127.0.0.1:9876",
      "required": false
    },
    "blender_token": {
      "type": "string",
      "title": "Blender token",
      "description": "The bridge token the Blender extension uses. Empty: the token file that stagecraft setup wrote.",
      "default": "",
      "sensitive": true,
      "required": false
    },
    "motion_backends": {
      "type": "string",
      "title": "Motion backends",
      "description": "MMCP server base URLs, separated by commas (e.g. http://127.0.0.1:8000). Empty: the built-in motion model only.",
      "default": "",
      "required": false
    },
    "motion_api_key": {
      "type": "string",
      "title": "Motion backend API key",
      "description": "Bearer token for the motion backends, if they need one.",
      "default": "",
      "sensitive": true,
      "required": false
    }
  }
}
JSON

"${MCPB_CMD[@]}" validate "$STAGE/manifest.json" >&2
mkdir -p "$OUT"
BUNDLE="$OUT/stagecraft-$VERSION-$OS-$ARCH.mcpb"
"${MCPB_CMD[@]}" pack "$STAGE" "$BUNDLE" >&2
echo "$BUNDLE"
