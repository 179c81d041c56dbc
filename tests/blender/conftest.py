"""Fixtures: real Blender (the bpy wheel) behind run.py, found through $BPY_PYTHON.

Install it with scripts/install_blender.sh, which prints BPY_PYTHON_BIN=... last. Without
BPY_PYTHON the tests are skipped with a visible reason (developer machines without Blender).
"""

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from bridge_client import Server  # noqa: E402

BPY_PYTHON = os.environ.get("BPY_PYTHON")

# A private config folder for everything the tests start: Blender's preferences and extensions,
# stagecraft's config, and the token file `stagecraft setup` writes (which the add-on would
# otherwise pick up from the developer's own ~/.config).
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="stagecraft-blender-tests-")


def pytest_collection_modifyitems(config, items):
    if BPY_PYTHON and os.path.exists(BPY_PYTHON):
        return
    skip = pytest.mark.skip(
        reason="BPY_PYTHON is not set: run scripts/install_blender.sh and export "
        "BPY_PYTHON=<the BPY_PYTHON_BIN it prints> to run the Blender tests"
    )
    for item in items:
        if "blender" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bpy_python():
    return BPY_PYTHON


def start_stdio(python, *extra):
    return Server(python, ["--stdio", *extra], stdio=True)


@pytest.fixture(scope="module")
def blender(bpy_python):
    """One embedded (stdio) Blender with scripts allowed, shared by a test module."""
    server = start_stdio(bpy_python, "--allow-scripts")
    server.client.hello()
    yield server.client
    assert server.stop() == 0, "".join(server.stderr[-30:])
