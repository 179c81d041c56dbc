"""Zips the Blender extension into dist/ for Edit > Preferences > Get Extensions > Install
from Disk (Blender 4.2+); the same zip installs as a legacy add-on in older versions.

    python3 adapters/blender/build.py        -> dist/stagecraft_blender-<version>.zip
"""

import os
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "stagecraft_blender")
REPO = os.path.dirname(os.path.dirname(HERE))


def version():
    with open(os.path.join(PACKAGE, "blender_manifest.toml"), encoding="utf-8") as f:
        match = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    if not match:
        sys.exit("build.py: no version in blender_manifest.toml")
    return match.group(1)


def main():
    out_dir = os.path.join(REPO, "dist")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"stagecraft_blender-{version()}.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(PACKAGE):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = os.path.join(root, name)
                # Extensions want blender_manifest.toml and __init__.py at the zip's root.
                zf.write(path, os.path.relpath(path, PACKAGE))
    print(out)


if __name__ == "__main__":
    main()
