#!/usr/bin/env bash
# Installs a real, headless Blender for the adapter tests (tests/blender): the official `bpy`
# wheel from PyPI (Blender as a Python module) in its own venv, outside the repository, plus
# pytest in the same venv so `$BPY_PYTHON -m pytest tests/blender` works. Idempotent.
#
#   BPY_VERSION   bpy version to pin    (default 4.5.15 = Blender 4.5 LTS, needs CPython 3.11;
#                                        5.0.1 also works with 3.11, 5.1+ needs 3.13)
#   BPY_VENV      venv directory        (default $HOME/.cache/stagecraft/bpy-$BPY_VERSION)
#   BPY_PYTHON    interpreter to build the venv from (default: first matching python found)
#   BPY_NO_PYTEST set to 1 to skip installing pytest into the venv
#
# The last line of stdout is "BPY_PYTHON_BIN=<venv python>". A re-run takes about a second.
# Debian runtime libraries are apt-get installed only when missing (needs root or password-less
# sudo; without either it exits 3 and says which packages are missing).
set -euo pipefail

BPY_VERSION="${BPY_VERSION:-4.5.15}"
BPY_VENV="${BPY_VENV:-$HOME/.cache/stagecraft/bpy-$BPY_VERSION}"
log() { echo "[install_blender] $*" >&2; }

case "$BPY_VERSION" in
  4.2.*|4.3.*|4.4.*|4.5.*|5.0.*) PYVER=3.11 ;;
  5.1.*|5.2.*|5.3.*)             PYVER=3.13 ;;
  *) log "unknown bpy version $BPY_VERSION"; exit 2 ;;
esac

ensure_pytest() {
  [ "${BPY_NO_PYTEST:-0}" = 1 ] && return 0
  if ! "$BPY_VENV/bin/python" -c "import pytest" >/dev/null 2>&1; then
    log "installing pytest into $BPY_VENV"
    "$BPY_VENV/bin/python" -m pip install -q --disable-pip-version-check pytest >&2
  fi
}

# 1. Fast path: the venv already imports the pinned bpy.
if [ -x "$BPY_VENV/bin/python" ] &&
   "$BPY_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('bpy') != '$BPY_VERSION')" 2>/dev/null &&
   "$BPY_VENV/bin/python" -c "import bpy" >/dev/null 2>&1; then
  log "bpy $BPY_VERSION already in $BPY_VENV"
  ensure_pytest
  echo "BPY_PYTHON_BIN=$BPY_VENV/bin/python"
  exit 0
fi

# 2. Debian libraries bpy's __init__.so links (X11/GL stubs: no X server is needed), and
#    EGL/Mesa (llvmpipe) which Workbench/EEVEE dlopen; without libEGL they abort the process.
PKGS="libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libxext6 libsm6 libice6 libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri"
missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
fi

# 3. A CPython of the version the wheel is built for (pyenv shims resolved to the real binary).
PY="${BPY_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in "python$PYVER" "/usr/bin/python$PYVER" "$HOME/.pyenv/versions/$PYVER"*/bin/python"$PYVER"; do
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$PYVER'.split('.'))))" 2>/dev/null; then
      PY="$("$c" -c 'import sys; print(sys.executable)')"
      break
    fi
  done
fi
if [ -z "$PY" ] && [ "$PYVER" = 3.11 ]; then
  missing="$missing python3.11 python3.11-venv"
  PY=/usr/bin/python3.11
elif [ -n "$PY" ] && ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
  missing="$missing python$PYVER-venv"
fi
[ -n "$PY" ] || { log "no python$PYVER found (bpy>=5.1 needs 3.13, which Debian 12 does not ship)"; exit 2; }

if [ -n "$missing" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO="sudo -n"
    else
      log "NOT ROOT: cannot apt-get install the Debian packages bpy needs:$missing"
      exit 3
    fi
  fi
  log "apt-get install:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# 4. The venv and the wheel (~373 MB download, ~950 MB installed).
log "creating $BPY_VENV with $PY ($("$PY" --version 2>&1))"
rm -rf "$BPY_VENV"
mkdir -p "$(dirname "$BPY_VENV")"
"$PY" -m venv "$BPY_VENV"
"$BPY_VENV/bin/python" -m pip install -q --disable-pip-version-check "bpy==$BPY_VERSION" >&2
ensure_pytest

# 5. Smoke test: Blender imports headless and reports its version.
"$BPY_VENV/bin/python" - <<'PY' >&2
import bpy
assert bpy.app.background
print("[install_blender] OK: Blender", bpy.app.version_string)
PY
echo "BPY_PYTHON_BIN=$BPY_VENV/bin/python"
