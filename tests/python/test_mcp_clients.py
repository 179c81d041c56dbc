"""The real stagecraft binary driven by the Python MCP SDK client: stdio in both protocol eras
(legacy `initialize` 2025-11-25 and stateless 2026-07-28), and Streamable HTTP with its security checks."""

import asyncio
import contextlib
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

import anyio
import pytest
from pydantic import TypeAdapter
from mcp import Client, StdioServerParameters, types
from mcp.shared.exceptions import MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import free_port
from helpers import config_with_backend
from slow_mmcp import SlowMmcp

SHIPPED = {"list_dccs", "get_transform", "set_transform", "generate_motion", "apply_motion", "capture_viewport"}


def skill_text(name: str, tool: str, description: str) -> str:
    return (
        f"---\nname: {name}\ndescription: {description}\ntools:\n"
        f"  - name: {tool}\n    description: {description}\n"
        "    input_schema:\n      type: object\n      additionalProperties: false\n"
        "      properties:\n        object_type: {type: string}\n"
        "    call: scene.list_objects\n    read_only: true\n---\n# body\n"
    )


def stdio(bin_path: str, skills: Path, env: dict) -> StdioServerParameters:
    return StdioServerParameters(command=bin_path, args=["serve", "--skills", str(skills)], env=env)


async def check_basics(client: Client) -> None:
    tools = await client.list_tools()
    names = [t.name for t in tools.tools]
    assert SHIPPED <= set(names), names
    assert names == sorted(names)
    assert "execute_script" not in names  # scripts are off by default

    # Validation error naming the field, as a tool result the model can read.
    result = await client.call_tool("set_transform", {"object_name": "Cube", "rotate": [0, "ninety", 0]})
    assert result.is_error
    assert result.structured_content["code"] == "invalid_arguments"
    assert result.structured_content["details"]["errors"][0]["field"] == "rotate[1]"

    # Unknown argument names the argument.
    result = await client.call_tool("get_transform", {"object_name": "Cube", "colour": "red"})
    assert result.is_error
    assert result.structured_content["details"]["errors"][0]["field"] == "colour"

    # A real call: the built-in stage DCC answers.
    result = await client.call_tool("get_scene_info", {})
    assert not result.is_error, result

    # Skill bodies are resources.
    resource = await client.read_resource("skill://motion/SKILL.md")
    assert "generate_motion" in resource.contents[0].text
    await check_skills_extension(client)


class SkillsListRequest(types.Request[dict | None, Literal["skills/list"]]):
    method: Literal["skills/list"] = "skills/list"
    params: dict | None = None


class SkillsGetRequest(types.Request[dict, Literal["skills/get"]]):
    method: Literal["skills/get"] = "skills/get"
    params: dict


async def check_skills_extension(client: Client) -> None:
    """SEP-2640's `skills/list` and `skills/get`, methods outside the core protocol: rmcp answers them
    only while the server declares the extension, so they break silently if the declaration drifts."""
    assert "io.modelcontextprotocol/skills" in (client.server_capabilities.extensions or {})
    answer = TypeAdapter(dict)
    listed = await client.session.send_request(SkillsListRequest(), answer)
    skills = {s["uri"]: s for s in listed["skills"]}
    assert "skill://motion/SKILL.md" in skills, sorted(skills)
    got = await client.session.send_request(SkillsGetRequest(params={"uri": "skill://motion/SKILL.md"}), answer)
    assert got["skill"]["frontmatter"]["name"] == "motion", got
    with pytest.raises(MCPError) as missing:
        await client.session.send_request(SkillsGetRequest(params={"uri": "skill://nope/SKILL.md"}), answer)
    assert missing.value.error.code == -32602


async def wait_for(event: asyncio.Event, what: str) -> None:
    with anyio.fail_after(10):
        await event.wait()
    event.clear()


async def check_reload(client: Client, skills: Path, changed: asyncio.Event) -> None:
    folder = skills / "my-tools"
    folder.mkdir()
    (folder / "SKILL.md").write_text(skill_text("my-tools", "my_list", "first version"))
    await wait_for(changed, "added")
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["my_list"].description == "first version"

    (folder / "SKILL.md").write_text(skill_text("my-tools", "my_list", "second version"))
    await wait_for(changed, "changed")
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["my_list"].description == "second version"

    (folder / "SKILL.md").unlink()
    folder.rmdir()
    await wait_for(changed, "removed")
    tools = {t.name for t in (await client.list_tools()).tools}
    assert "my_list" not in tools


def test_stdio_legacy_era(stagecraft_bin, empty_config, tmp_path):
    skills = tmp_path / "skills"
    skills.mkdir()

    async def main():
        changed = asyncio.Event()

        async def on_message(message):
            if isinstance(message, types.ServerNotification) and isinstance(
                message, types.ToolListChangedNotification
            ):
                changed.set()
            elif getattr(message, "method", None) == "notifications/tools/list_changed":
                changed.set()

        async with Client(stdio(stagecraft_bin, skills, empty_config), mode="legacy", message_handler=on_message) as client:
            assert client.protocol_version == "2025-11-25"
            assert client.server_info.name == "stagecraft"
            await check_basics(client)
            await check_reload(client, skills, changed)

    anyio.run(main)


def test_stdio_2026_era(stagecraft_bin, empty_config, tmp_path):
    skills = tmp_path / "skills"
    skills.mkdir()

    async def main():
        async with Client(stdio(stagecraft_bin, skills, empty_config), mode="auto") as client:
            assert client.protocol_version == "2026-07-28"
            await check_basics(client)
            changed = asyncio.Event()
            async with client.listen(tools_list_changed=True) as subscription:

                async def pump():
                    async for _event in subscription:
                        changed.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(pump)
                    await check_reload(client, skills, changed)
                    tg.cancel_scope.cancel()

    anyio.run(main)


class HttpServer:
    def __init__(self, bin_path: str, env: dict, extra: list[str] = ()):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [bin_path, "serve", "--http", f"127.0.0.1:{self.port}", *extra],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = ""
        while "MCP on http://" not in line:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"server exited: {self.proc.wait()}")
        self.url = re.search(r"(http://\S+/mcp)", line).group(1)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=10)


def raw_post(url: str, headers: dict) -> int:
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_http_both_eras_and_graceful_shutdown(stagecraft_bin, empty_config):
    server = HttpServer(stagecraft_bin, empty_config)
    try:

        async def main():
            for mode, version in (("legacy", "2025-11-25"), ("auto", "2026-07-28")):
                async with Client(server.url, mode=mode) as client:
                    assert client.protocol_version == version
                    await check_basics(client)

        anyio.run(main)
        # Browsers on other sites must not reach a local server (DNS rebinding, CSRF).
        assert raw_post(server.url, {"Origin": "http://evil.example"}) == 403
        assert raw_post(server.url, {"Host": "evil.example:80"}) == 403
        assert raw_post(server.url, {"Origin": f"http://localhost:{server.port}"}) == 200
    finally:
        # SIGTERM ends the server cleanly.
        assert server.stop() == 0


def posted_method(response) -> str | None:
    """The JSON-RPC method a POST carried, for an httpx response hook (None for other requests)."""
    body = response.request.content
    if response.request.method == "POST" and body:
        return json.loads(body).get("method", "")
    return None


@contextlib.asynccontextmanager
async def watched_client(url: str, on_response):
    """A 2026-07-28 client over HTTP that shows every HTTP answer to `on_response` first."""
    http = create_mcp_http_client()
    http.event_hooks["response"].append(on_response)
    async with http, Client(streamable_http_client(url, http_client=http), mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        yield client


def test_http_answers_plain_json_unless_the_call_streams(stagecraft_bin, tmp_path):
    """A request that sends nothing before its answer gets `application/json`, not a one-event SSE
    stream; a call that reports progress while a slow model works streams it (SSE). rmcp serves
    JSON to stateless requests: the 2026-07-28 era; legacy (2025-11-25) sessions keep SSE."""
    answers: list[tuple[str, str]] = []

    async def on_response(response):
        if method := posted_method(response):
            answers.append((method, response.headers.get("content-type", "").split(";")[0]))

    with SlowMmcp(delay=2.0) as backend:
        server = HttpServer(stagecraft_bin, config_with_backend(tmp_path, backend.url))
        try:

            async def main():
                async with watched_client(server.url, on_response) as client:
                    await client.list_tools()
                    assert not (await client.call_tool("get_scene_info", {})).is_error
                    steps = []

                    async def progress(value, total, message):
                        steps.append(value)

                    result = await client.call_tool(
                        "generate_motion", {"prompt": "walk", "seconds": 4 / 30}, progress_callback=progress
                    )
                    assert not result.is_error, result
                    assert steps, "the slow model's call reported progress"

            anyio.run(main)
        finally:
            server.stop()
    assert ("tools/list", "application/json") in answers, answers
    calls = [kind for method, kind in answers if method == "tools/call"]
    assert calls == ["application/json", "text/event-stream"], answers


def test_listings_say_how_long_a_client_may_keep_them(stagecraft_bin, empty_config):
    """2026-07-28 results carry SEP-2549 cache hints (docs/architecture.md#caching): the registry's
    listings may be kept 10 s, the resource list (takes come and go) not at all; the Python client
    honours them, so a second tools/list within the TTL costs no round trip."""
    answers: list[tuple[str, dict]] = []

    async def on_response(response):
        if method := posted_method(response):
            await response.aread()
            if response.headers.get("content-type", "").startswith("application/json"):
                answers.append((method, response.json().get("result", {})))

    server = HttpServer(stagecraft_bin, empty_config)
    try:

        async def main():
            async with watched_client(server.url, on_response) as client:
                first = await client.list_tools()
                again = await client.list_tools()
                assert [t.name for t in again.tools] == [t.name for t in first.tools]
                await client.list_tools(cache_mode="refresh")
                await client.list_resources()
                await client.list_resource_templates()
                await client.list_prompts()
                await client.read_resource("skill://motion/SKILL.md")

        anyio.run(main)
    finally:
        server.stop()
    hints = {}
    for method, result in answers:
        hints.setdefault(method, []).append((result.get("ttlMs"), result.get("cacheScope")))
    assert hints["tools/list"] == [(10_000, "private")] * 2, "the cached second list sent no request"
    assert hints["resources/list"] == [(0, "private")]
    assert hints["resources/templates/list"] == [(10_000, "private")]
    assert hints["prompts/list"] == [(10_000, "private")]
    assert hints["resources/read"] == [(10_000, "private")]


def test_each_tool_call_is_a_span_in_the_log(stagecraft_bin, empty_config):
    """One call can be followed through the log: every line logged inside it carries
    `tool_call{call_id=N tool=NAME dcc=NAME}`, and its end says how long it took and whether it failed."""
    server = HttpServer(stagecraft_bin, dict(empty_config, STAGECRAFT_LOG="info"))
    try:

        async def main():
            async with Client(server.url, mode="legacy") as client:
                assert not (await client.call_tool("get_scene_info", {})).is_error
                assert (await client.call_tool("get_transform", {"object_name": "NoSuchObject"})).is_error

        anyio.run(main)
    finally:
        server.stop()
    log = server.proc.stderr.read()
    ends = re.findall(r"tool_call\{call_id=(\d+) tool=(\w+) dcc=(\w+)\}.*tool call finished elapsed_ms=\d+ is_error=(\w+)", log)
    assert [(tool, dcc, failed) for _, tool, dcc, failed in ends] == [
        ("get_scene_info", "default", "false"),
        ("get_transform", "default", "true"),
    ], log
    assert len({call_id for call_id, *_ in ends}) == 2, ends


def test_http_bearer_token(stagecraft_bin, empty_config):
    env = dict(empty_config, STAGECRAFT_TEST_TOKEN="s3cret-token")
    server = HttpServer(stagecraft_bin, env, ["--token-env", "STAGECRAFT_TEST_TOKEN"])
    try:
        assert raw_post(server.url, {}) == 401
        assert raw_post(server.url, {"Authorization": "Bearer wrong"}) == 401
        assert raw_post(server.url, {"Authorization": "Bearer s3cret-token"}) == 200

        async def main():
            http = create_mcp_http_client(headers={"Authorization": "Bearer s3cret-token"})
            async with http, Client(streamable_http_client(server.url, http_client=http), mode="auto") as client:
                tools = await client.list_tools()
                assert SHIPPED <= {t.name for t in tools.tools}

        anyio.run(main)
    finally:
        server.stop()


def test_token_env_must_be_set(stagecraft_bin, empty_config):
    env = {k: v for k, v in empty_config.items() if k != "NOPE_NOT_SET"}
    proc = subprocess.run(
        [stagecraft_bin, "serve", "--http", "127.0.0.1:0", "--token-env", "NOPE_NOT_SET"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 1
    assert "NOPE_NOT_SET" in proc.stderr


def test_stdio_exits_on_eof(stagecraft_bin, empty_config):
    proc = subprocess.run(
        [stagecraft_bin, "serve"], input="", env=empty_config, capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 0
    assert proc.stdout == ""  # nothing but MCP on stdout


def test_malformed_json_rpc_gets_an_error_and_server_survives(stagecraft_bin, empty_config):
    lines = [
        "this is not json",
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_transform","arguments":"oops"}}',
        '{"jsonrpc":"2.0","id":3,"method":"tools/list"}',
    ]
    proc = subprocess.run(
        [stagecraft_bin, "serve"],
        input="\n".join(lines) + "\n",
        env=empty_config,
        capture_output=True,
        text=True,
        timeout=20,
    )
    import json

    answers = {m.get("id"): m for m in map(json.loads, proc.stdout.splitlines())}
    assert "result" in answers[1]
    assert "error" in answers[2] or answers[2].get("result", {}).get("isError")
    assert len(answers[3]["result"]["tools"]) >= 37


def test_oversized_requests_are_refused_and_the_server_survives(stagecraft_bin, empty_config):
    import json

    huge = '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_transform","arguments":{"object_name":"' + "x" * (17 * 1024 * 1024) + '"}}}'
    lines = [
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        huge,
        '{"jsonrpc":"2.0","id":3,"method":"tools/list"}',
    ]
    proc = subprocess.run(
        [stagecraft_bin, "serve"], input="\n".join(lines) + "\n", env=empty_config, capture_output=True, text=True, timeout=60
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    by_id = {a.get("id"): a for a in answers}
    # The oversized request is answered (a client waiting on id 9 must not hang), with an error.
    assert by_id[9]["error"]["code"] == -32600, by_id.get(9)
    assert "16 MiB" in by_id[9]["error"]["message"]
    assert len(by_id[3]["result"]["tools"]) >= 37

    server = HttpServer(stagecraft_bin, empty_config)
    try:
        request = urllib.request.Request(
            server.url,
            data=huge.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        )
        try:
            urllib.request.urlopen(request, timeout=30)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 413
        assert raw_post(server.url, {}) == 200
    finally:
        server.stop()


def test_a_new_take_is_announced_as_a_resource(stagecraft_bin, empty_config, tmp_path):
    skills = tmp_path / "skills"
    skills.mkdir()

    async def main():
        changed = asyncio.Event()

        async def on_message(message):
            if getattr(message, "method", None) == "notifications/resources/list_changed" or isinstance(
                message, types.ResourceListChangedNotification
            ):
                changed.set()

        async with Client(stdio(stagecraft_bin, skills, empty_config), mode="legacy", message_handler=on_message) as client:
            result = await client.call_tool("generate_motion", {"prompt": "a person waves", "seconds": 1})
            assert not result.is_error, result
            take_id = result.structured_content["take_id"]
            await wait_for(changed, "take announced")
            resources = await client.list_resources()
            assert f"take://{take_id}" in {str(r.uri) for r in resources.resources}

    anyio.run(main)


def test_schema_defaults_fill_arguments(stagecraft_bin, empty_config):
    """The example skill's `list_cameras` fixes `object_type` through a schema default."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "skills"

    async def main():
        async with Client(stdio(stagecraft_bin, examples, empty_config), mode="legacy") as client:
            for kind, name in (("camera", "Cam"), ("cube", "Box")):
                made = await client.call_tool("create_object", {"object_type": kind, "name": name})
                assert not made.is_error, made
            cameras = await client.call_tool("list_cameras", {})
            assert not cameras.is_error, cameras
            names = [o["name"] for o in cameras.structured_content["result"]]
            assert names == ["Cam"], cameras.structured_content

    anyio.run(main)


def test_generate_motion_honours_fps(stagecraft_bin, empty_config, tmp_path):
    skills = tmp_path / "skills"
    skills.mkdir()

    async def main():
        async with Client(stdio(stagecraft_bin, skills, empty_config), mode="legacy") as client:
            take = await client.call_tool("generate_motion", {"prompt": "walk", "seconds": 1, "fps": 24})
            assert not take.is_error, take
            assert take.structured_content["fps"] == 24
            assert take.structured_content["frames"] == 24

    anyio.run(main)
