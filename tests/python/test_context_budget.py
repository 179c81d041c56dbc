"""What the default tools cost every conversation, and that the terse definitions still carry what an
agent needs.

MCP clients (Claude Desktop, Cursor, VS Code) put every listed tool's name, description and input
schema before the model in every conversation, so the default tools share a budget. The how-to lives
in the skill bodies (served as `skill://<skill>/SKILL.md` resources), not in the schemas.
"""

import json
import math
import subprocess

import anyio
import jsonschema
import pytest

from helpers import mcp_client, standing_rig_glb

BUDGET_BYTES = 20_000


def listed_bytes(tool) -> int:
    """The tool as `tools/list` sends it to the model: name, description, input schema, compact JSON."""
    listed = {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
    return len(json.dumps(listed, separators=(",", ":"), ensure_ascii=False).encode())


def list_tools(stagecraft_bin: str, env: dict) -> dict:
    async def main():
        async with mcp_client(stagecraft_bin, env) as client:
            return {t.name: t for t in (await client.list_tools()).tools}

    return anyio.run(main)


def local_refs(schema):
    """Every `$ref` in a schema."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            yield schema["$ref"]
        for value in schema.values():
            yield from local_refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from local_refs(value)


def test_default_tools_fit_the_context_budget(stagecraft_bin, empty_config):
    tools = list_tools(stagecraft_bin, empty_config)
    costs = {name: listed_bytes(tool) for name, tool in tools.items()}
    listing = json.loads(
        subprocess.run(
            [stagecraft_bin, "skills", "list", "--json"], env=empty_config, capture_output=True, check=True
        ).stdout
    )
    default = {t["name"]: t for t in listing["tools"] if not t["hidden"]}
    assert set(costs) == set(default), "tools/list lists the loaded skills' default tools"
    assert "generate_motion" in costs
    reported = {name: t["context_bytes"] for name, t in default.items()}
    assert reported == costs, "`skills list` reports what tools/list really costs"

    total = sum(costs.values())
    breakdown = "\n".join(f"{n:>7} {name}" for name, n in sorted(costs.items(), key=lambda c: -c[1]))
    assert total <= BUDGET_BYTES, (
        f"the {len(costs)} default tools cost {total} bytes of tools/list context, over the budget of "
        f"{BUDGET_BYTES}; move how-to prose into the skill body:\n{breakdown}"
    )


def test_listed_schemas_are_self_contained_json_schemas(stagecraft_bin, empty_config):
    """A client validates arguments with the listed schema alone: it must be valid 2020-12 and every
    `$ref` must point into its own `$defs`."""
    for name, tool in list_tools(stagecraft_bin, empty_config).items():
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        for ref in local_refs(tool.input_schema):
            assert ref.startswith("#/$defs/"), f"{name}: {ref} is not local"
            assert ref.removeprefix("#/$defs/") in tool.input_schema.get("$defs", {}), f"{name}: {ref}"


def test_shared_definitions_keep_their_bounds(stagecraft_bin, empty_config):
    """The bounds generate_motion's schema shares through `$defs` apply wherever they are used."""
    schema = list_tools(stagecraft_bin, empty_config)["generate_motion"].input_schema
    validator = jsonschema.Draft202012Validator(schema)
    pose = {"type": "pose_keyframe", "frame": 0, "joint_rotations": {"Hips": [0, 0, 0, 1]}}
    validator.validate({"prompt": "a person bows", "constraints": [pose]})
    for bad in (
        {"prompt": "a person bows", "constraints": [{**pose, "joint_rotations": {"Hips": [0, 0, 1]}}]},
        {"prompt": "a person bows", "constraints": [{**pose, "root_position": [0, 1]}]},
        {"prompt": "a person bows", "seed": -1},
        {"prompt": "a person bows", "segments": [{"type": "text", "prompt": "waves", "seconds": 1}]},
        {"segments": [{"type": "text", "prompt": "waves", "seconds": 1, "video": {"url": "https://x"}}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(bad)


def pick(tools: dict, *words: str):
    """The one tool whose description holds all `words`, as an agent choosing by description would."""
    found = [t for t in tools.values() if all(w in t.description.lower() for w in words)]
    assert len(found) == 1, f"{words}: {[t.name for t in found]}"
    return found[0]


def test_an_agent_animates_a_rig_from_the_definitions_alone(stagecraft_bin, empty_config, tmp_path):
    """List the tools, pick generate_motion by its description, fill its arguments from its schema,
    apply the walk to a rig and check it with sample_pose, also found by its description."""
    rig = standing_rig_glb(stagecraft_bin, empty_config, tmp_path / "rig.glb")

    async def call(client, tool: str, args: dict):
        r = await client.call_tool(tool, args)
        assert not r.is_error, f"{tool}({args}) failed: {r.structured_content or r.content}"
        return r.structured_content

    async def main():
        async with mcp_client(stagecraft_bin, empty_config) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            await call(client, "open_file", {"file_path": str(rig)})
            armature = (await call(client, "list_armatures", {}))["result"][0]["name"]

            generate = pick(tools, "motion", "prompt", "rig")
            assert generate.name == "generate_motion"
            props = generate.input_schema["properties"]
            (prompt,) = [
                n for n, p in props.items() if "what the character does" in p.get("description", "").lower()
            ]
            assert props["armature"]["type"] == "string", "the rig to apply to is named in the description"
            args = {prompt: "a person walks forward", "armature": armature}
            jsonschema.Draft202012Validator(generate.input_schema).validate(args)
            take = await call(client, generate.name, args)
            assert take["applied"], f"with armature the take is applied: {take}"

            sample = pick(tools, "joint positions")
            assert sample.name == "sample_pose"
            assert set(sample.input_schema["required"]) == {"armature", "frames"}
            first = props["start_frame"]["default"]
            frames = [first, first + take["frames"] - 1]
            args = {"armature": armature, "frames": frames}
            jsonschema.Draft202012Validator(sample.input_schema).validate(args)
            return await call(client, sample.name, args)

    pose = anyio.run(main)
    hips = next(positions for joint, positions in pose.items() if joint.endswith("Hips"))
    start, end = hips
    travel = math.hypot(end[0] - start[0], end[2] - start[2])
    assert travel > 1.0, f"a 4 s walk moves the hips over a metre along the floor: {hips}"


RESULT_BUDGET_BYTES = 1_500


def result_bytes(result) -> int:
    """What a tool result puts into the context: its text content (structured content is the same
    JSON, compact, for the clients that read it instead)."""
    return sum(len(c.text.encode()) for c in result.content if getattr(c, "type", None) == "text")


def test_results_are_lean(stagecraft_bin, empty_config, tmp_path):
    """list_motion_models summarises each model (joint names, not rest transforms) in at most 1.5 KB
    and a generate_motion result applied to a rig fits 1.5 KB; the full skeletons stay one argument
    away."""
    rig = standing_rig_glb(stagecraft_bin, empty_config, tmp_path / "rig.glb")

    async def main():
        async with mcp_client(stagecraft_bin, empty_config) as client:
            listed = await client.call_tool("list_motion_models", {})
            assert not listed.is_error, listed
            models = [m for b in listed.structured_content["backends"] for m in b["models"]]
            assert len(models) >= 2, listed.structured_content
            assert result_bytes(listed) <= RESULT_BUDGET_BYTES * len(models), result_bytes(listed)
            for model in models:
                assert model["joints"] and all(isinstance(j, str) for j in model["joints"]), model
                assert "canonical_skeleton" not in model
            full = await client.call_tool("list_motion_models", {"full": True})
            skeleton = full.structured_content["backends"][0]["models"][0]["canonical_skeleton"]
            assert [j["name"] for j in skeleton["joints"]] == models[0]["joints"]

            await client.call_tool("open_file", {"file_path": str(rig)})
            armature = (await client.call_tool("list_armatures", {})).structured_content["result"][0]["name"]
            for args in (
                {"prompt": "a person walks forward", "seconds": 4},
                {"prompt": "a person walks forward", "seconds": 4, "armature": armature, "num_samples": 3},
            ):
                take = await client.call_tool("generate_motion", args)
                assert not take.is_error, take
                assert result_bytes(take) <= RESULT_BUDGET_BYTES, (result_bytes(take), take.content[0].text[:1600])
                if "armature" in args:
                    assert take.structured_content["applied"], take.structured_content

    anyio.run(main)
