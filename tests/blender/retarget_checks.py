"""The checks of the retargeting acceptance tests, shared by the Blender suite (test_retarget.py)
and the stage suite (tests/python/test_retarget_stage.py): a take that stagecraft retargeted onto
a rig, read back through MCP (`save_motion`, `get_skeleton`, `sample_pose`), compared with the
source take by the reference math of retarget_rigs.py.

`mcp` is a stagecraft_mcp.McpSession; a rig is anything with `name` (the armature) and `roles`
(role -> bone, see retarget_rigs.SEGMENTS).
"""

import json
import math

from retarget_rigs import (
    JOINT_MAP_ROLES,
    LEG_SEGMENTS,
    PROCEDURAL_ROLES,
    SEGMENTS,
    SOMA_ROLES,
    ReferenceFrame,
    angle_degrees,
    direction,
    heading_degrees,
    rest_positions,
    rotate_y,
)
from rigs import forward_kinematics
from stagecraft_mcp import read_take

SOMA, PROCEDURAL = "soma30-walk", "stagecraft-procedural"
SOURCE_ROLES = {SOMA: SOMA_ROLES, PROCEDURAL: PROCEDURAL_ROLES}
SEGMENT_DEGREES, LEG_CONTACT_DEGREES = 2.0, 6.0
EASE_FRAMES = 3
HIPS_METRES, HIPS_FRACTION = 0.02, 0.03
PLANTED_METRES = 0.01
EVERY = 5  # check segments, hips and knees every 5th frame; contacts on every frame


def source_take(mcp, take_id, path):
    """The stored take (its model's skeleton), with its world FK per frame and foot contacts."""
    saved = mcp.tool("save_motion", {"take_id": take_id, "path": str(path)})
    assert saved["format"] == "gltf", saved
    take = read_take(path)
    with open(path, encoding="utf-8") as f:
        sample = json.load(f)["extensions"]["MMCP_motion"]["samples"][0]
    take["contacts"] = sample.get("foot_contacts") or {}
    take["world"] = [
        forward_kinematics(take["skeleton"], take["names"], take["rotations"], take["roots"], t)
        for t in range(take["frames"])
    ]
    return take


def contact_runs(flags):
    """[(first, last)] frame ranges where `flags` holds."""
    runs, start = [], None
    for t, down in enumerate(flags + [False]):
        if down and start is None:
            start = t
        elif not down and start is not None:
            runs.append((start, t - 1))
            start = None
    return runs


def check_retarget(mcp, result, model, rig, take, frame_start):
    """Every check of the module docstring for a take applied to `rig` (`name`, `roles`);
    returns the problems found (strings, with the numbers), so that one failure reports all."""
    source_roles = SOURCE_ROLES[model]
    rig_rest = rest_positions(mcp.tool("get_skeleton", {"armature": rig.name}))
    source_rest = rest_positions(take["skeleton"])
    ref = ReferenceFrame.of(source_rest, source_roles, rig_rest, rig.roles)
    info = result.get("retarget")
    if not isinstance(info, dict):
        return [f"no `retarget` block in the result: {sorted(result)}"]
    problems = []
    # The result counts the mapped joints; map_rig shows the same (deterministic) map.
    joint_map = mcp.tool("map_rig", {"armature": rig.name, "take_id": result["take_id"]})["joint_map"]
    if info.get("mapped_joints") != len(joint_map):
        problems.append(f"retarget.mapped_joints {info.get('mapped_joints')}, map_rig maps {len(joint_map)}")
    for role in JOINT_MAP_ROLES:
        if joint_map.get(source_roles[role]) != rig.roles[role]:
            problems.append(
                f"joint_map[{source_roles[role]}] = {joint_map.get(source_roles[role])}, "
                f"want {rig.roles[role]}"
            )
    if abs(info.get("scale", 0.0) - ref.scale) > 0.01 * ref.scale:
        problems.append(f"retarget.scale {info.get('scale')}, want {ref.scale:.4f}")
    heading_error = (info.get("heading_degrees", 1e9) - ref.heading + 180.0) % 360.0 - 180.0
    if abs(heading_error) > 2.0:
        problems.append(
            f"retarget.heading_degrees {info.get('heading_degrees')}, want {ref.heading:.2f}"
        )
    # Where the rig's hips are at the first frame: above where they stood at rest.
    hips_0 = take["world"][0][source_roles["hips"]]
    want = ref.hips(hips_0, hips_0)
    if "start" not in info:
        problems.append(f"no retarget.start (the rig's hips at the first frame, {want})")
    elif math.dist(info["start"], want) > 0.01:
        problems.append(f"retarget.start {info['start']}, want {[round(c, 3) for c in want]}")
    return problems + check_motion(mcp, model, rig, take, frame_start, ref, rig_rest)


def check_motion(mcp, model, rig, take, frame_start, ref, rig_rest):
    """The geometric checks: segments, hips, contacts, knees (see check_retarget)."""
    source_roles = SOURCE_ROLES[model]
    problems = []
    bones = sorted(set(rig.roles.values()))
    frames = list(range(take["frames"]))
    pose = mcp.tool(
        "sample_pose",
        {"armature": rig.name, "frames": [frame_start + t for t in frames], "joint_names": bones},
    )
    src = take["world"]
    contact_side = {"L": [False] * len(frames), "R": [False] * len(frames)}
    for joint, flags in take["contacts"].items():
        for s in ("L", "R"):
            if joint in (source_roles[f"foot_{s}"], source_roles[f"toe_{s}"]):
                contact_side[s] = [a or b for a, b in zip(contact_side[s], flags)]
    # The foot IK eases in and out over EASE_FRAMES frames around each contact (docs/retargeting.md,
    # "Feet"): those frames are the leg's contact frames too.
    for s in ("L", "R"):
        down = contact_side[s]
        contact_side[s] = [
            any(down[max(0, t - EASE_FRAMES) : t + EASE_FRAMES + 1]) for t in range(len(down))
        ]

    # Segments.
    worst = {}
    for t in frames[::EVERY]:
        for name, a, b in SEGMENTS:
            want = rotate_y(
                direction(src[t][source_roles[a]], src[t][source_roles[b]]), ref.heading
            )
            got = direction(pose[rig.roles[a]][t], pose[rig.roles[b]][t])
            error = angle_degrees(got, want)
            side = name[-1]
            bound = SEGMENT_DEGREES
            if name in LEG_SEGMENTS and contact_side[side][t]:
                bound = LEG_CONTACT_DEGREES
            if error > bound and error > worst.get(name, (0.0,))[0]:
                worst[name] = (error, t, bound)
    for name, (error, t, bound) in sorted(worst.items()):
        problems.append(
            f"segment {name}: {error:.1f} degrees off at take frame {t} (bound {bound})"
        )

    # Hips.
    hips_src, hips_rig = source_roles["hips"], rig.roles["hips"]
    worst_hips = None
    for t in frames[::EVERY]:
        want = ref.hips(src[t][hips_src], src[0][hips_src])
        got = pose[hips_rig][t]
        travelled = math.hypot(want[0] - ref.start[0], want[2] - ref.start[2])
        error = math.dist(got, want)
        if error > HIPS_METRES + HIPS_FRACTION * travelled and (
            not worst_hips or error > worst_hips[0]
        ):
            worst_hips = (error, t, got, want)
    if worst_hips:
        error, t, got, want = worst_hips
        problems.append(
            f"hips {error * 100:.1f} cm off at take frame {t}: {[round(c, 3) for c in got]}, "
            f"want {[round(c, 3) for c in want]}"
        )

    # Contacts.
    if not take["contacts"]:
        problems.append("the stored take has no foot_contacts")
    for joint, flags in take["contacts"].items():
        role = next((r for r, n in source_roles.items() if n == joint), None)
        if role is None:
            continue
        bone = rig.roles[role]
        for first, last in contact_runs(list(flags)):
            anchor = pose[bone][first]
            slid = max(math.dist(pose[bone][t], anchor) for t in range(first, last + 1))
            source_slid = max(
                math.dist(src[t][joint], src[first][joint]) for t in range(first, last + 1)
            )
            if slid > PLANTED_METRES:
                problems.append(
                    f"{bone} ({joint} in contact, frames {first}-{last}) slides "
                    f"{slid * 100:.1f} cm (the source's {joint}: {source_slid * 100:.1f} cm)"
                )

    # Knees forward.
    forward = rotate_y((0.0, 0.0, 1.0), heading_degrees(rig_rest, rig.roles))
    for s in ("L", "R"):
        most = 0.0
        for t in frames[::EVERY]:
            hip, knee, ankle = (pose[rig.roles[f"{r}_{s}"]][t] for r in ("thigh", "shin", "foot"))
            line = direction(hip, ankle)
            rel = [k - h for k, h in zip(knee, hip)]
            along = sum(r * u for r, u in zip(rel, line))
            bend = [r - along * u for r, u in zip(rel, line)]
            size = math.sqrt(sum(c * c for c in bend))
            most = max(most, size)
            if size > 0.01 and sum(b * f for b, f in zip(bend, forward)) < 0:
                problems.append(f"knee {s} bends backward by {size * 100:.1f} cm at take frame {t}")
                break
        if most < 0.03:
            problems.append(
                f"knee {s} never bends (at most {most * 100:.1f} cm off the hip-ankle line)"
            )
    return problems


def assert_retargeted(mcp, result, model, rig, tmp_path, canonical=None):
    """The take of `result` (generate_motion or apply_motion) passes check_retarget on `rig`;
    `canonical`: the model's joint names, which the stored take must keep."""
    take = source_take(mcp, result["take_id"], tmp_path / "source.gltf")
    if canonical:
        assert (
            take["names"] == canonical
        ), f"the stored take left the model's skeleton: {take['names']}"
    assert all(n in take["names"] for n in SOURCE_ROLES[model].values()), take["names"]
    # generate_motion nests what the DCC did under `applied`; apply_motion returns it flat.
    frame_start = (result["applied"]["result"] if "applied" in result else result)["frame_start"]
    problems = check_retarget(mcp, result, model, rig, take, frame_start)
    assert not problems, f"{model} on {rig.name}:\n  " + "\n  ".join(problems)
