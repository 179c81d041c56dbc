"""execute_script through MCP on Blender: stagecraft allows scripts ([skills] allow_scripts), and
Blender either allows them too (--allow-scripts) or refuses them."""

import os

import pytest

pytest.importorskip("mcp", reason="the MCP SDK (`mcp`) is in the test venv ($PYTHON)")

from bridge_client import RUN_PY  # noqa: E402
from stagecraft_mcp import STAGECRAFT_BIN, McpSession, toml_config  # noqa: E402

pytestmark = pytest.mark.skipif(
    not STAGECRAFT_BIN, reason="STAGECRAFT_BIN is not set: run the suite through scripts/test.sh"
)

SCRIPT = {"language": "python", "code": "print('hi')\nresult = args['x'] * 2", "args": {"x": 21}}


@pytest.fixture(scope="module")
def sessions(bpy_python, tmp_path_factory):
    """Two Blenders behind one stagecraft: `scripts` allows scripts, `locked` does not."""
    dccs = [
        {"name": "scripts", "bridge": "embedded", "command": [bpy_python, RUN_PY, "--stdio"]},
        {"name": "locked", "bridge": "embedded", "command": [bpy_python, RUN_PY, "--stdio"]},
    ]
    dccs[0]["command"].append("--allow-scripts")
    config = tmp_path_factory.mktemp("scripts") / "stagecraft.toml"
    config.write_text("[skills]\nallow_scripts = true\n\n" + toml_config(dccs=dccs))
    session = McpSession(config, env=dict(os.environ))
    yield session
    session.close()


def test_execute_script_runs_in_blender(sessions):
    out = sessions.tool("execute_script", dict(SCRIPT, dcc="scripts"))
    assert out["success"] is True and out["result"] == 42, out
    assert out["output"] == "hi\n", out
    code = "import bpy\nresult = bpy.app.version[0]"
    version = sessions.tool(
        "execute_script", {"dcc": "scripts", "language": "python", "code": code}
    )
    assert version["result"] in (4, 5), version


def test_execute_script_language_defaults_to_python(sessions):
    # execute_script's schema: required [code], language {enum: [python], default: python}.
    out = sessions.tool("execute_script", {"dcc": "scripts", "code": "result = 7"})
    assert out["result"] == 7, out


def test_blender_refusing_scripts_says_how_to_enable_them(sessions):
    error = sessions.error("execute_script", dict(SCRIPT, dcc="locked"))
    assert error["code"] == "permission_denied", error
    assert "--allow-scripts" in error["message"], error
    # The server goes on.
    assert sessions.tool("execute_script", dict(SCRIPT, dcc="scripts"))["result"] == 42


def test_blender_refusing_scripts_hint_is_not_about_tokens(sessions):
    error = sessions.error("execute_script", dict(SCRIPT, dcc="locked"))
    assert "token" not in error["hint"], error["hint"]


def test_cancelling_the_mcp_call_interrupts_a_runaway_script(sessions):
    """MCP cancellation -> stagecraft's $/cancel -> Blender stops the running script. (Last in
    this module: if the cancel were lost, that Blender would stay busy for good.) Several
    attempts: losing the cancel used to be a race (two selects on the same token)."""
    code = "import time\nwhile True:\n    time.sleep(0.05)"
    forever = {"dcc": "scripts", "language": "python", "code": code}
    for attempt in range(4):
        with pytest.raises(TimeoutError):
            sessions.call("execute_script", forever, timeout=0.7)  # the client gives up
        try:
            out = sessions.call("execute_script", dict(SCRIPT, dcc="scripts"), timeout=3)
        except TimeoutError:
            pytest.fail(f"attempt {attempt}: Blender still runs the cancelled script")
        assert not out.is_error and out.structured_content["result"] == 42, out
