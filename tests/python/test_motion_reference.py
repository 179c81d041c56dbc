"""generate_motion and friends through a real MCP client, against the MMCP SDK's reference server."""

import anyio

from helpers import config_with_backend, mcp_client, png_bytes, reference_server, validate_gltf


def test_reference_server_end_to_end(stagecraft_bin, tmp_path):
    with reference_server() as url:
        env = config_with_backend(tmp_path, url)

        async def main():
            async with mcp_client(stagecraft_bin, env) as client:
                models = await client.call_tool("list_motion_models", {})
                assert not models.is_error, models
                listed = models.structured_content
                text = str(listed)
                assert "null" in text and "Hips" in text
                full = await client.call_tool("list_motion_models", {"full": True})
                assert "canonical_skeleton" in str(full.structured_content)

                take = await client.call_tool("generate_motion", {"prompt": "a person walks", "seconds": 1})
                assert not take.is_error, take
                result = take.structured_content
                assert result["model"] == "null"
                assert result["frames"] == 30
                assert abs(result["fps"] - 30.0) < 1e-6
                take_id = result["take_id"]

                # The take is a resource.
                resource = await client.read_resource(f"take://{take_id}")
                assert take_id in resource.contents[0].text

                for name in ("walk.glb", "walk.gltf"):
                    saved = await client.call_tool("save_motion", {"take_id": take_id, "path": str(tmp_path / name)})
                    assert not saved.is_error, saved
                    report = validate_gltf(tmp_path / name)
                    assert report["issues"]["numErrors"] == 0, report["issues"]

                preview = await client.call_tool("preview_motion", {"take_id": take_id})
                assert not preview.is_error, preview
                png_bytes(preview)

                # Every error code the reference server produces for what an agent can send.
                cases = [
                    ({"prompt": "walk", "seconds": 1, "model": "no-such-model"}, "unknown_model", "no-such-model"),
                    (
                        {
                            "prompt": "walk",
                            "seconds": 1,
                            "constraints": [
                                {"type": "pose_keyframe", "frame": 0, "joint_rotations": {"NoSuchJoint": [0, 0, 0, 1]}}
                            ],
                        },
                        "unknown_joint",
                        "NoSuchJoint",
                    ),
                    (
                        {
                            "prompt": "walk",
                            "seconds": 1,
                            "constraints": [{"type": "root_path", "frames": [500], "positions_xz": [[0, 1]]}],
                        },
                        "frame_out_of_range",
                        "500",
                    ),
                    (
                        {"prompt": "walk", "seconds": 1, "constraints": [{"type": "ground_height", "points": [[0, 0, 0]]}]},
                        "unsupported_constraint",
                        "ground_height",
                    ),
                    ({"prompt": "walk", "seconds": 45}, "invalid_options", ""),
                    ({"prompt": "walk", "seconds": 1, "loop": True}, "invalid_options", "loop"),
                ]
                for args, code, mention in cases:
                    failed = await client.call_tool("generate_motion", args)
                    assert failed.is_error, (args, failed)
                    error = failed.structured_content
                    assert error["code"] == code, (args, error)
                    assert mention in str(error), (args, error)
                    assert error.get("hint"), error

                # The server is still fine after all that.
                again = await client.call_tool("generate_motion", {"prompt": "idle", "seconds": 0.5})
                assert not again.is_error, again

        anyio.run(main)
