#!/usr/bin/env bash
# Idempotent install of a real, headless Blender for CI: the official `bpy` wheel
# (Blender as a Python module) from PyPI, in its own venv.
#
#   BPY_VERSION   bpy version to pin             (default 4.5.15 = Blender 4.5 LTS, needs CPython 3.11)
#   BPY_VENV      venv directory                 (default $HOME/.cache/stagecraft/bpy-$BPY_VERSION)
#   BPY_PYTHON    python3.11 interpreter to use  (default: first python3.11 found; Debian's is fine)
#
# Prints the venv's python path on the last line of stdout ("BPY_PYTHON_BIN=...").
# Re-running is a no-op (~1 s) when the venv already imports the pinned bpy.
# Needs root (or sudo) only if Debian packages are missing.
set -euo pipefail

BPY_VERSION="${BPY_VERSION:-4.5.15}"
BPY_VENV="${BPY_VENV:-$HOME/.cache/stagecraft/bpy-$BPY_VERSION}"
log() { echo "[install_blender] $*" >&2; }

case "$BPY_VERSION" in
  4.2.*|4.3.*|4.4.*|4.5.*|5.0.*) PYVER=3.11 ;;
  5.1.*|5.2.*|5.3.*)             PYVER=3.13 ;;
  *) log "unknown bpy version $BPY_VERSION"; exit 2 ;;
esac

# 1. fast path: already installed
if [ -x "$BPY_VENV/bin/python" ] &&
   "$BPY_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('bpy') != '$BPY_VERSION')" 2>/dev/null &&
   "$BPY_VENV/bin/python" -c "import bpy" >/dev/null 2>&1; then
  log "bpy $BPY_VERSION already in $BPY_VENV"
  echo "BPY_PYTHON_BIN=$BPY_VENV/bin/python"
  exit 0
fi

# 2. Debian runtime libraries that bpy's __init__.so links (X11/GL stubs; no X server needed)
#    + EGL/Mesa (llvmpipe) for Workbench/EEVEE renders. Cycles CPU needs only the first group.
PKGS="libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libxext6 libsm6 libice6 libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

# 3. a CPython $PYVER
PY="${BPY_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in "python$PYVER" "/usr/bin/python$PYVER" "$HOME/.pyenv/versions/$PYVER"*/bin/python"$PYVER"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$PYVER'.split('.'))))" 2>/dev/null; then
      PY="$("$c" -c 'import sys; print(sys.executable)')"; break   # resolve pyenv shims
    fi
  done
fi
if [ -z "$PY" ] && [ "$PYVER" = 3.11 ]; then
  missing="$missing python3.11 python3.11-venv"; PY=/usr/bin/python3.11
elif [ -n "$PY" ] && ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
  missing="$missing python$PYVER-venv"
fi
[ -n "$PY" ] || { log "no python$PYVER found (Debian 12 ships only 3.11; bpy>=5.1 needs 3.13)"; exit 2; }

if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get install:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# 4. venv + wheel (the wheel is ~373 MB; pip's cache makes a re-create ~15 s)
log "creating $BPY_VENV with $PY ($("$PY" --version 2>&1))"
rm -rf "$BPY_VENV"
mkdir -p "$(dirname "$BPY_VENV")"
"$PY" -m venv "$BPY_VENV"
"$BPY_VENV/bin/python" -m pip install -q --disable-pip-version-check "bpy==$BPY_VERSION"

# 5. smoke test: import, glTF addon, a Cycles-free check only (fast)
"$BPY_VENV/bin/python" - <<'EOF' >&2
import bpy, addon_utils
assert bpy.app.background
assert addon_utils.check("io_scene_gltf2")[1], "glTF addon not enabled"
print("[install_blender] OK: Blender", bpy.app.version_string, "glTF", ".".join(map(str, __import__("io_scene_gltf2").bl_info["version"])))
EOF
echo "BPY_PYTHON_BIN=$BPY_VENV/bin/python"
