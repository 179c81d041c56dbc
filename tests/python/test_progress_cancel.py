"""MCP progress and cancellation, end to end: a real client, stagecraft, and a slow MMCP backend."""

import anyio

from helpers import config_with_backend, mcp_client
from slow_mmcp import SlowMmcp

# The fixture answers 4 frames; at the reference model's 30 fps that is 4/30 s.
FOUR_FRAMES = 4 / 30


def test_progress_arrives_while_waiting(stagecraft_bin, tmp_path):
    with SlowMmcp(delay=3.0) as backend:
        env = config_with_backend(tmp_path, backend.url)

        async def main():
            progress = []

            async def on_progress(value, total, message):
                progress.append((value, total, message))

            async with mcp_client(stagecraft_bin, env) as client:
                result = await client.call_tool(
                    "generate_motion", {"prompt": "walk", "seconds": FOUR_FRAMES}, progress_callback=on_progress
                )
                assert not result.is_error, result
                assert result.structured_content["frames"] == 4
            assert len(progress) >= 2, progress
            values = [p[0] for p in progress]
            assert values == sorted(values) and len(set(values)) == len(values), "progress must increase"

        anyio.run(main)
        assert backend.completed == 1


def test_cancelling_a_call_cancels_the_backend_request(stagecraft_bin, tmp_path):
    with SlowMmcp(delay=30.0) as backend:
        env = config_with_backend(tmp_path, backend.url)

        async def main():
            async with mcp_client(stagecraft_bin, env) as client:
                with anyio.move_on_after(1.5) as scope:
                    await client.call_tool("generate_motion", {"prompt": "walk", "seconds": FOUR_FRAMES})
                assert scope.cancelled_caught
                # stagecraft drops the HTTP request: the backend sees the hang-up long before its 30 s.
                with anyio.fail_after(10):
                    while backend.hangups == 0:
                        await anyio.sleep(0.1)
                # The server is still usable.
                listed = await client.call_tool("list_motion_models", {})
                assert not listed.is_error, listed

        anyio.run(main)
        assert backend.completed == 0
