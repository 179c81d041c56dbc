"""Installs (or checks) the stagecraft extension in this Blender's user extensions repository.

`stagecraft setup` runs it in every Blender it finds, with the extension's files unpacked in a
folder (stdlib only, Blender 4.2-5.x):

    blender --background --python install.py        (a Blender executable)
    PYTHON install.py                                (a Python with the bpy module)

Environment: STAGECRAFT_EXTENSION_SOURCE (the folder holding blender_manifest.toml),
STAGECRAFT_INSTALL_MODE = check | install. The last stdout line starting with
"STAGECRAFT_SETUP " is a JSON report: blender version, repository folder, state
(unchanged | missing | outdated | disabled | installed | too_old | unsupported) and, on
failure, error.
"""

import filecmp
import json
import os
import sys
import tempfile
import zipfile

EXTENSION_ID = "stagecraft_blender"
REPOSITORY = "user_default"
MODULE = f"bl_ext.{REPOSITORY}.{EXTENSION_ID}"
IGNORED = ("__pycache__",)


def report(**fields):
    print("STAGECRAFT_SETUP " + json.dumps(fields), flush=True)
    sys.stderr.flush()
    # bpy 4.5 can hang in interpreter teardown (docs/architecture.md#the-blender-adapter).
    os._exit(0)


def same_files(a, b):
    """Whether folders a and b hold the same files with the same bytes (caches aside)."""
    cmp = filecmp.dircmp(a, b, ignore=list(IGNORED))
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_files(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


def zip_source(source, out):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if d not in IGNORED)
            for name in sorted(files):
                path = os.path.join(root, name)
                zf.write(path, os.path.relpath(path, source))


def main():
    import bpy

    source = os.environ["STAGECRAFT_EXTENSION_SOURCE"]
    mode = os.environ.get("STAGECRAFT_INSTALL_MODE", "check")
    version = bpy.app.version_string
    if tuple(bpy.app.version[:2]) < (4, 2):
        report(blender=version, state="too_old")
    # Blender itself has loaded the saved preferences at start; a `bpy` module starts on factory
    # settings and must read them, so that saving them below keeps the user's settings. The
    # module of 4.2-4.4 crashes in read_userpref, so it is refused rather than let it overwrite them.
    if not bpy.app.binary_path:
        if tuple(bpy.app.version[:2]) < (4, 5):
            report(blender=version, state="unsupported",
                   error="the bpy module of Blender 4.2-4.4 cannot read saved preferences: "
                   "set up the Blender program itself, or a bpy 4.5+")
        bpy.ops.wm.read_userpref()
    repo_dir = bpy.utils.user_resource("EXTENSIONS", path=REPOSITORY)
    installed = os.path.join(repo_dir, EXTENSION_ID)
    enabled = MODULE in bpy.context.preferences.addons
    if not os.path.isdir(installed):
        state = "missing"
    elif not same_files(source, installed):
        state = "outdated"
    elif not enabled:
        state = "disabled"
    else:
        state = "unchanged"
    if mode != "install" or state == "unchanged":
        report(blender=version, repository=repo_dir, state=state)

    with tempfile.TemporaryDirectory() as tmp:
        package = os.path.join(tmp, EXTENSION_ID + ".zip")
        zip_source(source, package)
        result = bpy.ops.extensions.package_install_files(
            filepath=package, repo=REPOSITORY, enable_on_install=True
        )
    if result != {"FINISHED"} or MODULE not in bpy.context.preferences.addons:
        report(blender=version, repository=repo_dir, state=state,
               error=f"Blender's installer answered {sorted(result)}")
    bpy.ops.wm.save_userpref()
    report(blender=version, repository=repo_dir, state="installed")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as exc:  # reported to stagecraft as one line, not a traceback
        report(error=f"{type(exc).__name__}: {exc}")
