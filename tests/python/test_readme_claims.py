"""Claims the README makes that no other test checks, each against the real binary: through the
official `mcp` client, the command line, and the MMCP reference SDK as the motion server."""

import asyncio
import base64
import contextlib
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, types

from conftest import free_port
from helpers import config_with_backend, mcp_client, mmcp_server, reference_server
from test_mcp_clients import HttpServer, check_reload, raw_post, skill_text, stdio

HERE = Path(__file__).resolve().parent


# ---- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def sdk_backbones(tmp_path: Path):
    """`sdk_backbones.py` (models `flaky` and `sparse` on the reference SDK); yields (url, count file)."""
    port = free_port()
    count = tmp_path / "flaky-requests"
    argv = [sys.executable, str(HERE / "sdk_backbones.py"), str(port), str(count)]
    with mmcp_server(argv, port, "sdk_backbones.py") as url:
        yield url, count


def accessor(doc: dict, index: int) -> list:
    """The float32 values of one accessor of a glTF with data-URI buffers, grouped per element."""
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    data = base64.b64decode(doc["buffers"][view["buffer"]]["uri"].split(",", 1)[1])
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    flat = struct.unpack_from(f"<{acc['count'] * width}f", data, offset)
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def channel(doc: dict, node_name: str, path: str) -> list:
    node = next(i for i, n in enumerate(doc["nodes"]) if n["name"] == node_name)
    animation = doc["animations"][0]
    for ch in animation["channels"]:
        if ch["target"] == {"node": node, "path": path}:
            return accessor(doc, animation["samplers"][ch["sampler"]]["output"])
    raise AssertionError(f"no {path} channel on {node_name}")


def glb_json(path: Path) -> dict:
    data = path.read_bytes()
    assert data[:4] == b"glTF", "not a GLB"
    length = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + length])


def run(cmd: list, env: dict, cwd: Path | None = None, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


# ---- Security: --allow-origin ---------------------------------------------------------------------


def test_allow_origin_admits_exactly_the_named_browser_origin(stagecraft_bin, empty_config):
    """README Security: a browser Origin that is not loopback (or passed with --allow-origin) gets 403."""
    server = HttpServer(stagecraft_bin, empty_config, ["--allow-origin", "https://app.example.com"])
    try:
        assert raw_post(server.url, {"Origin": "https://app.example.com"}) == 200
        assert raw_post(server.url, {"Origin": f"http://localhost:{server.port}"}) == 200
        assert raw_post(server.url, {"Origin": "https://evil.example.com"}) == 403
        # Exact match: not a prefix, not another scheme or port of the same host.
        assert raw_post(server.url, {"Origin": "https://app.example.com.evil.example"}) == 403
        assert raw_post(server.url, {"Origin": "http://app.example.com"}) == 403
        assert raw_post(server.url, {"Origin": "https://app.example.com:8443"}) == 403
    finally:
        server.stop()


# ---- Prompts --------------------------------------------------------------------------------------


def test_prompts_are_listed_and_name_only_tools_that_exist(stagecraft_bin, empty_config):
    """README Tools: the prompts `animate_rig` and `inspect_scene`."""

    async def main():
        async with mcp_client(stagecraft_bin, empty_config) as client:
            prompts = {p.name: p for p in (await client.list_prompts()).prompts}
            assert set(prompts) == {"animate_rig", "inspect_scene"}
            assert {a.name for a in prompts["animate_rig"].arguments} >= {"armature", "motion", "seconds"}
            tools = {t.name for t in (await client.list_tools()).tools}

            animate = await client.get_prompt("animate_rig", {"armature": "Hero", "motion": "jumps", "seconds": "2"})
            text = animate.messages[0].content.text
            assert "`Hero`" in text and "jumps" in text and "2 seconds" in text
            inspect = await client.get_prompt("inspect_scene", {})
            for message in (text, inspect.messages[0].content.text):
                named = {word.strip(".,;:()`") for word in message.split()}
                called = {w for w in named if "_" in w and w.islower() and w not in ("in_place",)}
                assert called, message
                assert called <= tools, f"the prompt names tools that do not exist: {called - tools}"

            with pytest.raises(Exception, match="unknown prompt"):
                await client.get_prompt("no_such_prompt", {})

            # Argument completion (completion/complete) suggests motions the built-in model knows.
            assert client.server_capabilities.completions is not None
            ref = types.PromptReference(type="ref/prompt", name="animate_rig")
            motions = (await client.complete(ref, {"name": "motion", "value": "walk"})).completion
            assert motions.values and all(v.startswith("walk") for v in motions.values), motions
            seconds = (await client.complete(ref, {"name": "seconds", "value": ""})).completion
            assert "4" in seconds.values
            nothing = await client.complete(types.PromptReference(type="ref/prompt", name="inspect_scene"), {"name": "x", "value": ""})
            assert nothing.completion.values == []

    anyio.run(main)


# ---- Skills: hot reload over HTTP, and watch = false ------------------------------------------------


def test_hot_reload_over_http_in_both_eras(stagecraft_bin, empty_config, tmp_path):
    """README: `watch = true` is hot reload + notifications/tools/list_changed, on HTTP too."""
    skills = tmp_path / "skills"
    skills.mkdir()
    server = HttpServer(stagecraft_bin, empty_config, ["--skills", str(skills)])
    try:

        async def legacy():
            changed = asyncio.Event()

            async def on_message(message):
                if isinstance(message, types.ToolListChangedNotification) or (
                    getattr(message, "method", None) == "notifications/tools/list_changed"
                ):
                    changed.set()

            async with Client(server.url, mode="legacy", message_handler=on_message) as client:
                assert client.protocol_version == "2025-11-25"
                await check_reload(client, skills, changed)

        async def stateless():
            async with Client(server.url, mode="auto") as client:
                assert client.protocol_version == "2026-07-28"
                changed = asyncio.Event()
                async with client.listen(tools_list_changed=True) as subscription:

                    async def pump():
                        async for _event in subscription:
                            changed.set()

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(pump)
                        await check_reload(client, skills, changed)
                        tg.cancel_scope.cancel()

        anyio.run(legacy)
        anyio.run(stateless)
    finally:
        server.stop()


def test_watch_false_keeps_the_tools_as_loaded(stagecraft_bin, tmp_path):
    skills = tmp_path / "skills"
    skills.mkdir()
    config = tmp_path / "stagecraft.toml"
    config.write_text("[skills]\nwatch = false\n")
    env = dict(os.environ, STAGECRAFT_CONFIG=str(config), STAGECRAFT_LOG="warn")

    async def main():
        changed = asyncio.Event()

        async def on_message(message):
            if getattr(message, "method", None) == "notifications/tools/list_changed" or isinstance(
                message, types.ToolListChangedNotification
            ):
                changed.set()

        async with Client(stdio(stagecraft_bin, skills, env), mode="legacy", message_handler=on_message) as client:
            before = {t.name for t in (await client.list_tools()).tools}
            folder = skills / "my-tools"
            folder.mkdir()
            (folder / "SKILL.md").write_text(skill_text("my-tools", "my_list", "added after start"))
            # With watching on, a change is announced 200 ms after the last edit (src/skills/watch.rs).
            await anyio.sleep(3)
            assert not changed.is_set(), "tools/list_changed sent although watch = false"
            after = {t.name for t in (await client.list_tools()).tools}
            assert after == before and "my_list" not in after

    anyio.run(main)


# ---- Configuration discovery order ----------------------------------------------------------------


def test_config_is_found_in_the_documented_order(stagecraft_bin, tmp_path):
    """README Configuration: --config, $STAGECRAFT_CONFIG, ./stagecraft.toml, $XDG_CONFIG_HOME/stagecraft/config.toml.
    Each case puts broken files in every later place: the one found first is the only one read."""
    cwd = tmp_path / "project"
    xdg = tmp_path / "xdg"
    (xdg / "stagecraft").mkdir(parents=True)
    cwd.mkdir()
    places = {
        "flag": tmp_path / "flag.toml",
        "env": tmp_path / "env.toml",
        "cwd": cwd / "stagecraft.toml",
        "xdg": xdg / "stagecraft" / "config.toml",
    }
    order = list(places)
    base = {k: v for k, v in os.environ.items() if k not in ("STAGECRAFT_CONFIG", "XDG_CONFIG_HOME")}
    base["XDG_CONFIG_HOME"] = str(xdg)
    base["STAGECRAFT_LOG"] = "warn"

    for winner in order + [None]:
        for path in places.values():
            path.unlink(missing_ok=True)
        later = order[order.index(winner) + 1 :] if winner else []
        if winner:
            places[winner].write_text("[motion]\nmax_takes = 3\n")
        for name in later:
            places[name].write_text("this is = = not toml\n")
        env = dict(base)
        args = [stagecraft_bin, "doctor"]
        if winner == "flag":
            args[1:1] = ["--config", str(places["flag"])]
        if winner in ("flag", "env"):
            # A broken $STAGECRAFT_CONFIG under a --config must not be read either.
            env["STAGECRAFT_CONFIG"] = str(places["env"])
        out = run(args, env, cwd=cwd)
        config_line = next((l for l in out.stdout.splitlines() if l.startswith("config")), "")
        assert out.returncode == 0, f"{winner}: {out.stdout}{out.stderr}"
        if winner is None:
            assert "none found" in config_line, config_line
        else:
            shown = config_line.split()[1]
            assert (cwd / shown).resolve() == places[winner].resolve(), f"{winner}: {config_line}"


# ---- Motion: max_takes, retries on 504, sparse channels, generate --model/--backend ----------------


def test_max_takes_keeps_the_most_recent_takes(stagecraft_bin, tmp_path):
    """README Configuration: `max_takes` takes are kept in memory, the least recently used goes first."""
    config = tmp_path / "stagecraft.toml"
    config.write_text("[motion]\nmax_takes = 2\n")
    env = dict(os.environ, STAGECRAFT_CONFIG=str(config), STAGECRAFT_LOG="warn")

    async def main():
        async with mcp_client(stagecraft_bin, env) as client:
            ids = []
            for prompt in ("walk", "wave", "jump"):
                result = await client.call_tool("generate_motion", {"prompt": prompt, "seconds": 0.5})
                assert not result.is_error, result
                ids.append(result.structured_content["take_id"])
            listed = {str(r.uri) for r in (await client.list_resources()).resources if str(r.uri).startswith("take://")}
            assert listed == {f"take://{ids[1]}", f"take://{ids[2]}"}
            gone = await client.call_tool("preview_motion", {"take_id": ids[0]})
            assert gone.is_error and gone.structured_content["code"] == "unknown_take", gone
            kept = await client.call_tool("preview_motion", {"take_id": ids[1]})
            assert not kept.is_error, kept

    anyio.run(main)


def test_a_504_from_the_model_is_retried(stagecraft_bin, tmp_path):
    """README Motion models: retries on 429/503/504 (this one: 504 timeout from the reference SDK)."""
    with sdk_backbones(tmp_path) as (url, count):
        env = config_with_backend(tmp_path, url)

        async def main():
            async with mcp_client(stagecraft_bin, env) as client:
                result = await client.call_tool("generate_motion", {"prompt": "stand", "seconds": 0.5, "model": "flaky"})
                assert not result.is_error, result
                assert result.structured_content["model"] == "flaky"

        anyio.run(main)
        assert count.read_text() == "2", "expected one 504 and one successful retry"


def test_sparse_channels_end_to_end_through_mcp(stagecraft_bin, tmp_path):
    """README: sparse keys from a model reach the take as the keys interpolated (slerp), not dropped."""
    saved = tmp_path / "sparse.gltf"
    with sdk_backbones(tmp_path) as (url, _count):
        env = config_with_backend(tmp_path, url)

        async def main():
            async with mcp_client(stagecraft_bin, env) as client:
                result = await client.call_tool("generate_motion", {"prompt": "turn", "seconds": 1, "model": "sparse"})
                assert not result.is_error, result
                take = result.structured_content["take_id"]
                saved_result = await client.call_tool("save_motion", {"take_id": take, "path": str(saved)})
                assert not saved_result.is_error, saved_result

        anyio.run(main)

    doc = json.loads(saved.read_text())
    spine = channel(doc, "Spine", "rotation")
    frames = len(spine)
    assert frames == 30
    mid, last = frames // 2, frames - 1
    rate = 0.001  # sdk_backbones.SPINE_RATE: the dense angle is rate * t**2

    def key_angle(t: int) -> float:
        return rate * t * t

    def expected(t: int) -> float:
        # Rotations about one axis: slerp between two keys is linear in the angle.
        a, b = (0, mid) if t <= mid else (mid, last)
        return key_angle(a) + (key_angle(b) - key_angle(a)) * (t - a) / (b - a)

    for t in (0, 5, mid - 1, mid, mid + 4, last):
        x, y, z, w = spine[t]
        assert abs(x) < 1e-6 and abs(z) < 1e-6
        angle = 2 * math.atan2(y, w)
        assert abs(angle - expected(t)) < 1e-4, (t, angle, expected(t), key_angle(t))
    # Between keys the value is the interpolation, not the dense motion the model started from.
    assert abs(2 * math.atan2(spine[5][1], spine[5][3]) - key_angle(5)) > 0.01

    root = channel(doc, "Hips", "translation")
    assert len(root) == frames
    for t in (0, 10, last):
        assert abs(root[t][2] - 0.04 * t) < 1e-4, (t, root[t])  # keys at 0 and last: a straight line


def test_generate_command_takes_model_and_backend(stagecraft_bin, empty_config, tmp_path):
    """README commands: `stagecraft generate ... [--model ID] [--backend NAME|URL]`."""
    # The built-in models, by id.
    out = tmp_path / "null.glb"
    done = run([stagecraft_bin, "generate", "stand", "--seconds", "1", "--out", str(out), "--model", "null"], empty_config)
    assert done.returncode == 0, done.stderr
    doc = glb_json(out)
    assert doc["extensions"]["MMCP_motion"]["model"] == "null"
    assert len(doc["nodes"]) == 22

    with reference_server() as url:
        # A backend by URL: the reference SDK's null model has its own five-joint skeleton.
        out = tmp_path / "by-url.glb"
        done = run(
            [stagecraft_bin, "generate", "wave", "--seconds", "1", "--out", str(out), "--backend", url, "--model", "null"],
            empty_config,
        )
        assert done.returncode == 0, done.stderr
        doc = glb_json(out)
        assert doc["extensions"]["MMCP_motion"]["model"] == "null"
        assert len(doc["nodes"]) == 5

        # A backend by its name in the config.
        env = config_with_backend(tmp_path, url)
        out = tmp_path / "by-name.glb"
        done = run([stagecraft_bin, "generate", "wave", "--seconds", "1", "--out", str(out), "--backend", "reference"], env)
        assert done.returncode == 0, done.stderr
        assert len(glb_json(out)["nodes"]) == 5

        # An unknown model is refused, not replaced by another one.
        done = run(
            [stagecraft_bin, "generate", "wave", "--seconds", "1", "--out", str(tmp_path / "x.glb"), "--backend", url, "--model", "nope"],
            empty_config,
        )
        assert done.returncode != 0
        assert "nope" in done.stderr
