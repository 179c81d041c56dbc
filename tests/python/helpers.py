"""Helpers for the end-to-end tests: the MMCP reference server, stagecraft over MCP, the glTF validator."""

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mcp import Client, StdioServerParameters

from conftest import free_port


@contextlib.contextmanager
def reference_server():
    """The MMCP SDK's own reference server (`python -m motionmcp.null_backbone`) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "motionmcp.null_backbone", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/capabilities", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("reference server did not start: " + proc.stderr.read().decode())
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def config_with_backend(tmp_path: Path, url: str, extra: str = "") -> dict:
    config = tmp_path / "stagecraft.toml"
    config.write_text(f'[[motion.backends]]\nname = "reference"\nurl = "{url}"\ntimeout_seconds = 60\n' + extra)
    env = dict(os.environ)
    env["STAGECRAFT_CONFIG"] = str(config)
    env["STAGECRAFT_LOG"] = "warn"
    return env


def mcp_client(stagecraft_bin: str, env: dict, mode: str = "legacy") -> Client:
    return Client(StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env), mode=mode)


def validate_gltf(path: Path) -> dict:
    """Runs the Khronos glTF validator (npm gltf-validator) on a file; returns its report."""
    node = os.environ["NODE"]
    validator = os.environ["GLTF_VALIDATOR_DIR"]
    script = (
        "const v = require(process.argv[1]); const fs = require('fs');"
        "const bytes = new Uint8Array(fs.readFileSync(process.argv[2]));"
        "v.validateBytes(bytes, {uri: process.argv[2], maxIssues: 100})"
        ".then(r => console.log(JSON.stringify(r))).catch(e => { console.error(e); process.exit(2); });"
    )
    out = subprocess.run([node, "-e", script, validator, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def png_bytes(result) -> bytes:
    images = [c for c in result.content if getattr(c, "type", None) == "image"]
    assert images, result
    assert images[0].mime_type == "image/png"
    data = base64.b64decode(images[0].data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data
