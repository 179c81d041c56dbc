"""The MCPB bundle (scripts/build-mcpb.sh): validated and packed by the real `mcpb` CLI
(npm @anthropic-ai/mcpb), unpacked, and started exactly as its manifest says, with user_config
substituted by mcpb's own code; then an MCP initialize and tools/list over stdio."""

import json
import os
import subprocess
import zipfile
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from conftest import ROOT, free_port

MCPB_DIR = os.environ.get("MCPB_DIR")

# mcpb's own substitution: what Claude Desktop does with the manifest and the user's answers.
LAUNCH = """
const [pkg, dir, userConfig] = process.argv.slice(1);
const { getMcpConfigForManifest } = await import(pkg + "/dist/index.js");
const fs = await import("node:fs");
const manifest = JSON.parse(fs.readFileSync(dir + "/manifest.json", "utf8"));
const config = await getMcpConfigForManifest({
  manifest, extensionPath: dir, systemDirs: {}, userConfig: JSON.parse(userConfig), pathSeparator: "/",
});
console.log(JSON.stringify(config));
"""


@pytest.fixture(scope="module")
def mcpb():
    if not MCPB_DIR:
        pytest.skip("MCPB_DIR is not set: run the suite through scripts/test.sh")
    return [os.environ["NODE"], os.path.join(MCPB_DIR, "dist", "cli", "cli.js")]


@pytest.fixture(scope="module")
def bundle(mcpb, stagecraft_bin, tmp_path_factory):
    out = tmp_path_factory.mktemp("mcpb")
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-mcpb.sh"), "--binary", stagecraft_bin, "--out", str(out)],
        env=dict(os.environ, MCPB=" ".join(mcpb)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    path = Path(built.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.name.startswith("stagecraft-") and path.suffix == ".mcpb"
    return path


def test_bundle_validates_and_holds_the_binary(mcpb, bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        mode = zf.getinfo("server/stagecraft").external_attr >> 16
    assert sorted(names) == ["LICENSE", "manifest.json", "server/stagecraft"]
    assert mode & 0o111, "the server binary is executable"
    assert manifest["server"]["type"] == "binary"
    assert manifest["server"]["entry_point"] == "server/stagecraft"
    assert set(manifest["user_config"]) == {"blender_endpoint", "blender_token", "motion_backends", "motion_api_key"}
    assert manifest["user_config"]["blender_token"]["sensitive"] is True
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    checked = subprocess.run([*mcpb, "validate", str(tmp_path / "manifest.json")], capture_output=True, text=True)
    assert checked.returncode == 0 and "passes" in checked.stdout, checked.stdout + checked.stderr
    # A manifest mcpb refuses is refused (the check above can fail).
    manifest["server"]["type"] = "exe"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    refused = subprocess.run([*mcpb, "validate", str(tmp_path / "manifest.json")], capture_output=True, text=True)
    assert refused.returncode != 0


def test_the_manifest_starts_the_server_with_user_config(mcpb, bundle, tmp_path):
    unpacked = tmp_path / "installed"
    done = subprocess.run([*mcpb, "unpack", str(bundle), str(unpacked)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    blender_port, motion_port = free_port(), free_port()
    user_config = {
        "blender_endpoint": f"ws://127.0.0.1:{blender_port}",
        "blender_token": "s3cret",
        "motion_backends": f"http://127.0.0.1:{motion_port}",
    }
    launch = subprocess.run(
        [os.environ["NODE"], "--input-type=module", "-e", LAUNCH, MCPB_DIR, str(unpacked), json.dumps(user_config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert launch.returncode == 0, launch.stderr
    config = json.loads(launch.stdout)
    assert config["command"] == f"{unpacked}/server/stagecraft" and config["args"] == ["serve"]
    assert config["env"]["STAGECRAFT_BLENDER_TOKEN"] == "s3cret"
    assert config["env"]["STAGECRAFT_MOTION_API_KEY"] == "", "an unanswered field is empty, not ${...}"

    # The host's environment plus the manifest's; a private config folder, so that no config of
    # the developer's is read.
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), STAGECRAFT_LOG="warn", **config["env"])
    env.pop("STAGECRAFT_CONFIG", None)

    async def main():
        params = StdioServerParameters(command=config["command"], args=config["args"], env=env)
        async with Client(params, mode="legacy") as client:
            assert client.server_info.name == "stagecraft"
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"generate_motion", "list_dccs", "capture_viewport"} <= names
            dccs = await client.call_tool("list_dccs", {})
            text = json.dumps(dccs.structured_content or [c.text for c in dccs.content])
            assert f"ws://127.0.0.1:{blender_port}" in text, text
            models = await client.call_tool("list_motion_models", {})
            text = json.dumps(models.structured_content or [c.text for c in models.content])
            assert f"127.0.0.1:{motion_port}" in text, text

    anyio.run(main)
