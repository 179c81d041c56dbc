"""The take viewer (MCP Apps, docs/viewer.md): what stagecraft serves for it, through the official
`mcp` client, and the view itself in a real browser (Debian's Chromium driven by Playwright),
loaded by a host harness (viewer_host/) that implements the host side of the protocol behind a
sandbox proxy on another origin, and relays the view's calls to a real stagecraft session.

Screenshots are kept in target/test-artifacts/viewer/."""

import contextlib
import functools
import http.server
import json
import math
import os
import subprocess
import threading
from pathlib import Path

import anyio
import pytest
from mcp import MCPError
from playwright.async_api import async_playwright

from conftest import ROOT, free_port
from helpers import mcp_client, png_bytes
from test_readme_claims import sdk_backbones
from test_stage_story import make_character

VIEW_URI = "ui://stagecraft/take-viewer"
APP_MIME = "text/html;profile=mcp-app"
VIEW_TOOLS = {"generate_motion", "preview_motion", "apply_motion"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "target" / "test-artifacts" / "viewer"
HOST_DIR = Path(__file__).resolve().parent / "viewer_host"


def run(main):
    return anyio.run(main)


async def call(client, tool: str, args: dict) -> dict:
    r = await client.call_tool(tool, args)
    assert not r.is_error, f"{tool}({args}): {r.content}"
    sc = r.structured_content
    return sc["result"] if set(sc) == {"result"} else sc


# ---- what the server declares and serves -------------------------------------------------------


def test_tools_declare_the_viewer_and_it_is_served(stagecraft_bin, empty_config):
    async def main():
        async with mcp_client(stagecraft_bin, empty_config) as client:
            tools = (await client.list_tools()).tools
            with_view = {t.name for t in tools if t.meta}
            assert with_view == VIEW_TOOLS, with_view
            for t in tools:
                if t.name in VIEW_TOOLS:
                    # The spec's form, and the deprecated flat key that earlier hosts read.
                    assert t.meta == {"ui": {"resourceUri": VIEW_URI}, "ui/resourceUri": VIEW_URI}, t.meta

            listed = {r.uri: r for r in (await client.list_resources()).resources}
            assert listed[VIEW_URI].mime_type == APP_MIME

            read = (await client.read_resource(VIEW_URI)).contents
            assert len(read) == 1 and read[0].uri == VIEW_URI and read[0].mime_type == APP_MIME
            html = read[0].text
            assert html.startswith("<!DOCTYPE html>") and len(html.encode()) <= 1_500_000
            assert listed[VIEW_URI].size == len(html.encode())
            # No csp: the host's default (no network at all) is what the view is built for.
            assert read[0].meta == {"ui": {"prefersBorder": True}}

            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            assert "take://{take_id}/positions/{sample}" in templates

    run(main)


def test_a_user_skill_can_name_the_viewer(stagecraft_bin, tmp_path):
    """docs/skills.md: `ui_resource` on a user's tool; a view stagecraft does not serve is not announced."""
    skill = tmp_path / "skills" / "studio-takes"
    skill.mkdir(parents=True)
    tool = "  - name: {name}\n    description: Show a take.\n    input_schema: {{type: object, properties: {{take_id: {{type: string}}}}}}\n    call: motion.preview\n    ui_resource: {uri}\n"
    skill.joinpath("SKILL.md").write_text(
        "---\nname: studio-takes\ndescription: Takes, the studio's way.\ntools:\n"
        + tool.format(name="studio_preview", uri=VIEW_URI)
        + tool.format(name="studio_missing_view", uri="ui://studio/missing")
        + "---\n# Studio takes\n"
    )
    config = tmp_path / "stagecraft.toml"
    config.write_text(f'[skills]\npaths = ["{skill.parent}"]\n')
    env = dict(os.environ, STAGECRAFT_CONFIG=str(config), STAGECRAFT_LOG="warn")

    async def main():
        async with mcp_client(stagecraft_bin, env) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert tools["studio_preview"].meta == {"ui": {"resourceUri": VIEW_URI}, "ui/resourceUri": VIEW_URI}
            assert tools["studio_missing_view"].meta is None

    run(main)


def test_positions_resource_is_compact_and_downsamples_long_takes(stagecraft_bin, empty_config):
    async def main():
        async with mcp_client(stagecraft_bin, empty_config) as client:
            ten = await call(client, "generate_motion", {"prompt": "a person walks", "seconds": 10})
            text = (await client.read_resource(f"take://{ten['take_id']}/positions/0")).contents[0].text
            data = json.loads(text)
            joints = len(data["joints"])
            assert (data["frames"], data["frame_step"], joints) == (300, 1, 22), {k: data[k] for k in ("frames", "frame_step")}
            assert len(text.encode()) <= 200_000, f"10 s x 22 joints is {len(text.encode())} bytes"
            assert len(data["positions_mm"]) == 300 * 22 * 3 and "note" not in data
            assert data["parents"][0] == -1 and all(0 <= p < j for j, p in enumerate(data["parents"]) if j)
            # Millimetres, Y-up: the hips stand about a metre high and the walk travels.
            hips_y = data["positions_mm"][1]
            assert 700 < hips_y < 1200, hips_y
            assert set(data["foot_contacts"]) >= {"LeftFoot", "RightFoot"}
            assert all(len(flags) == 300 and set(flags) <= {"0", "1"} for flags in data["foot_contacts"].values())

            long = await call(client, "generate_motion", {"prompt": "a person walks", "seconds": 30})
            data = json.loads((await client.read_resource(f"take://{long['take_id']}/positions/0")).contents[0].text)
            assert data["frame_step"] == 2 and data["frames"] == 450 and data["fps"] == 15, data["frame_step"]
            assert "downsampled" in data["note"], data.get("note")

            many = await call(client, "generate_motion", {"prompt": "a person jumps", "seconds": 1, "num_samples": 16})
            last = json.loads((await client.read_resource(f"take://{many['take_id']}/positions/15")).contents[0].text)
            assert last["sample"] == 15 and last["samples"] == 16
            with pytest.raises(MCPError, match="sample 16 does not exist"):
                await client.read_resource(f"take://{many['take_id']}/positions/16")
            with pytest.raises(MCPError):
                await client.read_resource("take://take_00000000/positions/0")

    run(main)


def test_clients_without_apps_still_get_the_contact_sheet(stagecraft_bin, empty_config):
    async def main():
        async with mcp_client(stagecraft_bin, empty_config) as client:
            gen = await call(client, "generate_motion", {"prompt": "a person waves", "seconds": 2})
            preview = await client.call_tool("preview_motion", {"take_id": gen["take_id"]})
            assert not preview.is_error
            png = png_bytes(preview)
            assert png[1:4] == b"PNG" and len(png) > 5_000
            assert preview.structured_content["take_id"] == gen["take_id"]

    run(main)


# ---- the view in a browser ---------------------------------------------------------------------


@contextlib.contextmanager
def static_server(directory: Path):
    """Serves `directory` on a loopback port of its own (a separate origin); yields the base URL."""
    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# Counts the figure's pixels (the left limbs' blue, the right limbs' orange, and the light theme's
# dark grey of the middle joints, of the viewer's palette); left and right ones also in 16-pixel
# blocks, so that two pictures of the figure can be compared.
FIGURE_PIXELS = """() => {
  const canvas = document.getElementById("view");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const cols = Math.ceil(canvas.width / 16), blocks = new Array(cols * Math.ceil(canvas.height / 16)).fill(0);
  const near = (i, r, g, b) => Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40;
  let left = 0, right = 0, center = 0;
  const columns = new Array(canvas.width).fill(false);
  for (let i = 0; i < data.length; i += 4) {
    const isLeft = near(i, 0x2f, 0x7d, 0xe1), isRight = near(i, 0xe8, 0x74, 0x3b);
    if (near(i, 0x3a, 0x3a, 0x36)) center++;
    if (!isLeft && !isRight) continue;
    if (isLeft) left++; else right++;
    const p = i / 4, x = p % canvas.width, y = Math.floor(p / canvas.width);
    columns[x] = true;
    blocks[Math.floor(y / 16) * cols + Math.floor(x / 16)]++;
  }
  const corner = Array.from(data.slice(0, 3));
  // Separate figures left to right: runs of columns with figure pixels.
  let islands = 0;
  columns.forEach((on, x) => { if (on && !columns[x - 1]) islands++; });
  return { left, right, center, blocks, corner, islands, pixels: canvas.width * canvas.height };
}"""


def difference(a: dict, b: dict) -> int:
    return sum(abs(x - y) for x, y in zip(a["blocks"], b["blocks"]))


async def poll(check, what: str, seconds: float = 15.0):
    """Awaits `check()` until it returns something truthy; fails naming `what` after `seconds`."""
    with anyio.move_on_after(seconds):
        while True:
            value = await check()
            if value:
                return value
            await anyio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


class Browser:
    """One host page with the view inside, its console, and the view's frame."""

    def __init__(self, page, console):
        self.page = page
        self.console = console
        self.view = None

    @classmethod
    async def open(cls, context, client, host_url: str, sandbox_url: str, theme: str, calls: list):
        page = await context.new_page()
        console = []
        page.on("console", lambda m: console.append((m.type, m.text)))

        async def call_tool(name, args):
            r = await client.call_tool(name, args)
            calls.append((name, args, r))
            return r.model_dump(mode="json", by_alias=True, exclude_none=True)

        async def read_resource(uri):
            try:
                r = await client.read_resource(uri)
            except MCPError as e:
                return {"mcpError": {"code": e.code, "message": e.message}}
            return r.model_dump(mode="json", by_alias=True, exclude_none=True)

        await page.expose_function("mcpCallTool", call_tool)
        await page.expose_function("mcpReadResource", read_resource)
        await page.goto(f"{host_url}/host.html?view={VIEW_URI}&sandbox={sandbox_url}/sandbox.html&theme={theme}")
        browser = cls(page, console)

        async def view_frame():
            for frame in page.frames:
                if frame.url == "about:srcdoc" and await frame.evaluate("!!document.getElementById('view')"):
                    return frame
            return None

        browser.view = await poll(view_frame, "the view inside the sandbox proxy")
        await page.evaluate("window.viewInitialized")
        return browser

    async def run_tool(self, name: str, args: dict) -> dict:
        return await self.page.evaluate("([name, args]) => window.runTool(name, args)", [name, args])

    async def figure(self) -> dict:
        """The figure's pixels once the view has drawn what it was last told (it draws on animation frames)."""
        await self.view.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        return await self.view.evaluate(FIGURE_PIXELS)

    async def screenshot(self, name: str) -> None:
        """The view as the user sees it (the frame in the host page), kept in target/test-artifacts/viewer/."""
        await self.page.locator("iframe").screenshot(path=str(ARTIFACTS / name))

    async def text(self, selector: str) -> str:
        return await self.view.locator(selector).text_content()


def test_the_viewer_in_a_browser(stagecraft_bin, empty_config, tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/setup-test-env.sh installs Debian's chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # A rigged character on the stage DCC to apply to (the user story's fixture).
    generated = tmp_path / "generated.glb"
    made = subprocess.run(
        [stagecraft_bin, "generate", "a person stands", "--seconds", "1", "--out", str(generated)],
        env=empty_config, capture_output=True, text=True, timeout=60,
    )
    assert made.returncode == 0, made.stderr
    character = tmp_path / "character.glb"
    make_character(generated, character)

    async def main():
        calls = []
        with static_server(HOST_DIR) as host_url, static_server(HOST_DIR) as sandbox_url:
            assert host_url != sandbox_url, "the sandbox proxy is on another origin than the host"
            async with mcp_client(stagecraft_bin, empty_config) as client, async_playwright() as pw:
                await call(client, "open_file", {"file_path": str(character)})
                chromium = await pw.chromium.launch(executable_path=CHROMIUM)
                context = await chromium.new_context(viewport={"width": 800, "height": 760})
                try:
                    with anyio.fail_after(120):
                        await story(context, client, host_url, sandbox_url, calls, tmp_path)
                finally:
                    await chromium.close()

    run(main)


async def story(context, client, host_url, sandbox_url, calls, tmp_path):
    b = await Browser.open(context, client, host_url, sandbox_url, "light", calls)
    shown = await b.run_tool("generate_motion", {"prompt": "a person walks forward and waves", "seconds": 3, "num_samples": 3})
    take_id = shown["structuredContent"]["take_id"]

    # The figure is drawn, and it moves: the take starts playing by itself.
    first = await poll(lambda: figure_drawn(b), "the figure to be drawn")
    await b.screenshot("viewer-light.png")

    async def moved():
        now = await b.figure()
        return now["left"] + now["right"] > 200 and difference(first, now) > 100

    await poll(moved, "the picture to change while the take plays")
    assert "Pause" == await b.text("#play"), "it is playing"

    # Keyboard: space pauses, Home and arrows step; the readout follows.
    await b.view.locator("#stage").focus()
    await b.view.locator("#stage").press("Space")
    assert "Play" == await b.text("#play")
    await b.view.locator("#stage").press("Home")
    for _ in range(30):
        await b.view.locator("#stage").press("ArrowRight")
    assert (await b.text("#readout")).startswith("frame 30 / 89 · 1.00"), await b.text("#readout")
    paused = await b.figure()
    await anyio.sleep(0.3)
    assert difference(paused, await b.figure()) == 0, "paused is still"

    # Switching samples changes the pose at the same frame.
    await b.view.get_by_role("button", name="Sample 2", exact=True).click()

    async def other_pose():
        now = await b.figure()
        return now if now["left"] + now["right"] > 200 and difference(paused, now) > 50 else None

    sample2 = await other_pose() or await poll(other_pose, "sample 2 to show another pose")
    assert (await b.text("#readout")).startswith("frame 30 /"), "the frame is kept"
    await b.screenshot("viewer-sample-2.png")
    assert sample2["left"] > 50 and sample2["right"] > 50, "both sides of the figure are drawn"

    # Apply to the rig the view found with list_armatures: apply_motion with take_id, armature, sample.
    await poll(lambda: b.view.evaluate("document.getElementById('armature').value === 'Armature'"), "the armature field")
    await b.view.locator("#apply").click()
    await poll(lambda: status_says(b, "Applied sample 2 to Armature"), "the apply to succeed")
    applies = [c for c in await b.page.evaluate("window.fromView") if c.get("method") == "tools/call" and c["params"]["name"] == "apply_motion"]
    assert [a["params"]["arguments"] for a in applies] == [{"take_id": take_id, "armature": "Armature", "sample": 2}], applies
    applied = [r for name, _, r in calls if name == "apply_motion"]
    assert len(applied) == 1 and not applied[0].is_error, applied
    # On the stage DCC the rig now plays sample 2: its pose equals applying sample 2 directly, and
    # differs from sample 0.
    frames = [1, 20, 45, 90]
    pose_args = {"armature": "Armature", "frames": frames, "joint_names": ["mixamorig:Hips", "mixamorig:LeftHand"]}
    from_view = await call(client, "sample_pose", pose_args)
    await call(client, "apply_motion", {"take_id": take_id, "armature": "Armature", "sample": 0})
    pose0 = await call(client, "sample_pose", pose_args)
    await call(client, "apply_motion", {"take_id": take_id, "armature": "Armature", "sample": 2})
    direct = await call(client, "sample_pose", pose_args)
    assert poses_close(from_view, direct), (from_view, direct)
    assert not poses_close(from_view, pose0), "sample 0 and sample 2 put the rig in different poses"

    # Save .glb through save_motion.
    target = tmp_path / "from-viewer.glb"
    await b.view.locator("#save-path").fill(str(target))
    await b.view.locator("#save").click()
    await poll(lambda: status_says(b, "Saved"), "the save to succeed")
    assert target.read_bytes()[:4] == b"glTF"

    # Malformed messages from the host are ignored with a warning, and the picture stays.
    before = await b.figure()
    for junk in ['"not json-rpc"', "{jsonrpc: '2.0', id: 999, result: {}}", "{jsonrpc: '1.0', method: 'x'}",
                 "{jsonrpc: '2.0', method: 'ui/notifications/tool-result', params: 42}"]:
        await b.page.evaluate(f"window.sendRaw({junk})")
    await poll(lambda: warned(b, 4), "a warning for each malformed message")
    after = await b.figure()
    assert after["left"] + after["right"] > 200 and difference(before, after) == 0, "the picture is unharmed"

    # The view reports its size, and the host sized the frame by it.
    sizes = await b.page.evaluate("window.sizes")
    assert sizes and sizes[-1]["height"] > 300, sizes

    # Sixteen samples, side by side.
    await b.run_tool("generate_motion", {"prompt": "a person jumps", "seconds": 1, "num_samples": 16})
    await poll(lambda: b.view.evaluate("document.querySelectorAll('#samples button').length === 16"), "16 sample buttons")
    single = await poll(lambda: figure_drawn(b), "the jump")
    assert single["islands"] <= 3, single["islands"]
    await b.view.locator("#compare").click()

    async def lineup():
        now = await b.figure()
        return now if now["islands"] >= 12 else None

    await poll(lineup, "several figures side by side")
    await b.screenshot("viewer-16-samples.png")

    violations = [text for kind, text in b.console if "Content Security Policy" in text]
    assert not violations, violations

    # Dark theme from the host context: a dark background, the same figure colours.
    dark = await Browser.open(context, client, host_url, sandbox_url, "dark", calls)
    await dark.run_tool("preview_motion", {"take_id": take_id, "sample": 1})
    drawn = await poll(lambda: figure_drawn(dark), "the figure in the dark theme")
    assert sum(drawn["corner"]) / 3 < 80 < sum(first["corner"]) / 3, (drawn["corner"], first["corner"])
    await poll(lambda: pressed_sample(dark, "1"), "preview_motion's sample to be the one shown")
    await dark.screenshot("viewer-dark.png")

    # The host switches to light: the view follows (ui/notifications/host-context-changed).
    await dark.page.evaluate(
        "window.sendRaw({jsonrpc: '2.0', method: 'ui/notifications/host-context-changed', params: {theme: 'light'}})"
    )

    async def light_again():
        now = await dark.figure()
        return sum(now["corner"]) / 3 > 200

    await poll(light_again, "the light theme after host-context-changed")

    # apply_motion's own view: the applied sample, and what it was applied to.
    await dark.run_tool("apply_motion", {"take_id": take_id, "armature": "Armature", "sample": 2})
    await poll(lambda: status_says(dark, "Applied sample 2 to Armature"), "apply_motion's view to say what it applied")
    await poll(lambda: pressed_sample(dark, "2"), "apply_motion's sample to be the one shown")
    await poll(lambda: message_cleared(dark), "the loading message to go (the take was loaded before)")


async def figure_drawn(b: Browser):
    """The figure's pixels, once there are some: a stick figure, not a canvas filled with its colours."""
    now = await b.figure()
    drawn = now["left"] + now["right"]
    assert drawn < 0.15 * now["pixels"], f"{drawn} of {now['pixels']} pixels have the figure's colours"
    return now if drawn > 200 else None


async def status_says(b: Browser, text: str) -> bool:
    status = await b.text("#status")
    assert "error" not in (await b.view.locator("#status").get_attribute("class") or ""), status
    return text in status


async def pressed_sample(b: Browser, sample: str) -> bool:
    pressed = b.view.locator("#samples button[aria-pressed=true]")
    return await pressed.count() == 1 and await pressed.text_content() == sample


async def message_cleared(b: Browser) -> bool:
    return await b.text("#message") == ""


async def warned(b: Browser, at_least: int) -> bool:
    return sum(1 for kind, text in b.console if kind == "warning" and "take viewer: ignored" in text) >= at_least


def poses_close(a: dict, b: dict) -> bool:
    return all(
        math.dist(p, q) < 1e-3 for joint in a for p, q in zip(a[joint], b[joint])
    ) and set(a) == set(b)


def test_the_viewer_draws_one_joint_and_eighty(stagecraft_bin, tmp_path):
    """Skeletons at the edges, from models on the real MMCP reference SDK (sdk_backbones.py)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/setup-test-env.sh installs Debian's chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def main(url):
        config = tmp_path / "stagecraft.toml"
        config.write_text(f'[[motion.backends]]\nname = "sdk"\nurl = "{url}"\n')
        env = dict(os.environ, STAGECRAFT_CONFIG=str(config), STAGECRAFT_LOG="warn")
        with static_server(HOST_DIR) as host_url, static_server(HOST_DIR) as sandbox_url:
            async with mcp_client(stagecraft_bin, env) as client, async_playwright() as pw:
                chromium = await pw.chromium.launch(executable_path=CHROMIUM)
                context = await chromium.new_context(viewport={"width": 800, "height": 760})
                try:
                    with anyio.fail_after(60):
                        b = await Browser.open(context, client, host_url, sandbox_url, "light", [])
                        await b.run_tool("generate_motion", {"prompt": "turn", "seconds": 2, "model": "one_joint"})
                        dot = await poll(lambda: center_drawn(b, 30), "the single joint")
                        assert dot["left"] + dot["right"] == 0, "one joint: no bones"
                        await b.screenshot("viewer-one-joint.png")

                        await b.run_tool("generate_motion", {"prompt": "turn", "seconds": 2, "model": "eighty_joints", "num_samples": 2})
                        fan = await poll(lambda: figure_drawn(b), "the eighty joints")
                        assert fan["left"] > 200 and fan["right"] > 200, "chains on both sides"
                        await b.view.get_by_role("button", name="Sample 1", exact=True).click()

                        async def turned():
                            now = await b.figure()
                            return now if difference(fan, now) > 100 else None

                        await poll(turned, "the other sample of the eighty joints")
                        await b.screenshot("viewer-eighty-joints.png")
                finally:
                    await chromium.close()

    with sdk_backbones(tmp_path) as (url, _):
        run(lambda: main(url))


async def center_drawn(b: Browser, at_least: int):
    now = await b.figure()
    return now if now["center"] >= at_least else None
