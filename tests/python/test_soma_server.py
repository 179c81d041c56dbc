"""The SOMA30 walk fixture server (tests/fixtures/mmcp/soma_server.py), read with the MMCP SDK's
own client: the skeleton is SOMA30 as the retargeting tests assume, and the walk is physically
consistent (a foot marked in contact stays put, knees bend forward, the character walks +Z)."""

import sys
from pathlib import Path

import numpy as np
import pytest

client = pytest.importorskip("motionmcp.client", reason="motionmcp-sdk[server] is in $PYTHON")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "mmcp"))
import soma_server  # noqa: E402

MODEL = "soma30-walk"
PARENTS = [-1, 0, 1, 2, 3, 4, 5, 6, 6, 6, 3, 10, 11, 12, 13, 13, 3, 16, 17, 18, 19, 19]
PARENTS += [0, 22, 23, 24, 0, 26, 27, 28]


@pytest.fixture(scope="module")
def server():
    with soma_server.running() as url:
        yield url


@pytest.fixture(scope="module")
def spec(server):
    caps = client.get_capabilities(server, use_cache=False)
    model = client.pick_model(caps, MODEL)
    assert model["id"] == MODEL, caps
    return model


def generate(server, spec, seconds=3.0, fps=None, seed=1, samples=1):
    frames = round(seconds * (fps or spec["fps"]))
    body = {
        "protocol_version": "1.4",
        "model": MODEL,
        "skeleton": spec["canonical_skeleton"],
        "segments": [{"type": "text", "prompt": "a person dances", "duration_frames": frames}],
        "options": {"seed": seed, "num_samples": samples},
    }
    if fps:
        body["timing"] = {"fps": fps}
    return client.parse_gltf_samples(client.generate(server, body))


def world_positions(motion):
    """[T, J, 3] world joint positions: forward kinematics of the parsed take."""
    rots, offsets = motion["local_rot_mats"], motion["local_translations"]
    names = motion["joint_names"]
    index = {n: i for i, n in enumerate(names)}
    parents = [index[p] if p is not None else -1 for _, p in motion["hierarchy"]]
    T, J = rots.shape[:2]
    world_rot, pos = np.zeros((T, J, 3, 3)), np.zeros((T, J, 3))
    for j in range(J):
        p = parents[j]
        if p < 0:
            world_rot[:, j], pos[:, j] = rots[:, j], offsets[:, j]
        else:
            world_rot[:, j] = world_rot[:, p] @ rots[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", world_rot[:, p], offsets[:, j])
    return pos, index


def test_capabilities_are_soma30_in_t_pose(spec):
    assert spec["supports_retargeting"] is False
    assert spec["predicted_contact_joints"] == ["LeftFoot", "RightFoot"]
    joints = spec["canonical_skeleton"]["joints"]
    names = [j["name"] for j in joints]
    assert names == soma_server.NAMES and len(names) == 30
    assert [names.index(j["parent"]) if j["parent"] else -1 for j in joints] == PARENTS
    world = {}
    for j in joints:
        base = world[j["parent"]] if j["parent"] else np.zeros(3)
        world[j["name"]] = base + np.asarray(j["rest_translation"])
    assert min(p[1] for p in world.values()) == pytest.approx(0.0, abs=1e-6), "lowest joint y"
    assert world["LeftArm"][0] > 0.1 and world["RightArm"][0] < -0.1, "the left is +X"
    assert world["LeftToeBase"][2] > world["LeftFoot"][2] + 0.1, "the feet point +Z"
    # T-pose: the arms are horizontal, the legs straight down.
    arm = world["LeftHand"] - world["LeftArm"]
    assert abs(arm[1]) < 0.02 * np.linalg.norm(arm), arm
    leg = world["LeftFoot"] - world["LeftLeg"]
    assert abs(leg[0]) + abs(leg[2]) < 0.02 * np.linalg.norm(leg), leg


def test_walk_plants_the_contact_feet_and_bends_the_knees_forward(server, spec):
    (motion,) = generate(server, spec, seconds=3.0)
    assert motion["num_frames"] == 90 and motion["fps"] == pytest.approx(30.0)
    pos, index = world_positions(motion)
    contacts = motion["foot_contacts"]
    hips = pos[:, index["Hips"]]
    assert hips[-1, 2] - hips[0, 2] > 2.5, f"walks forward (+Z): {hips[0]} -> {hips[-1]}"
    assert np.abs(hips[:, 0]).max() < 0.02, "straight along +Z"
    assert np.ptp(hips[:, 1]) > 0.03, "the hips bob"

    for foot in ("LeftFoot", "RightFoot"):
        j = index[foot]
        down = contacts[:, j]
        assert 0.3 < down.mean() < 0.7, f"{foot} in contact {down.mean():.0%} of the time"
        runs = 0
        for t in range(1, 90):
            if down[t] and down[t - 1]:
                slide = np.abs(pos[t, j] - pos[t - 1, j]).max()
                assert slide < 1e-3, f"{foot} slides {slide:.4f} m at frame {t} in contact"
            runs += bool(down[t] and not down[t - 1])
        assert runs >= 2, f"{foot}: {runs} contacts begun in 3 s"
        # In contact on the ground (the ankle's rest height); in swing never below it.
        assert np.allclose(pos[down, j, 1], 0.08, atol=2e-3), pos[down, j, 1]
        assert pos[~down, j, 1].min() > 0.08 - 2e-3
        assert pos[~down, j, 1].max() > 0.14, "the swing foot lifts"
    assert (contacts[:, index["LeftFoot"]] | contacts[:, index["RightFoot"]]).all()

    for side in ("Left", "Right"):
        hip, knee, ankle = (pos[:, index[side + p]] for p in ("Leg", "Shin", "Foot"))
        line = (ankle - hip) / np.linalg.norm(ankle - hip, axis=1, keepdims=True)
        bend = (knee - hip) - np.sum((knee - hip) * line, axis=1, keepdims=True) * line
        assert bend[:, 2].min() > -2e-3, f"{side} knee bends backward by {bend[:, 2].min()}"
        assert bend[:, 2].max() > 0.1, f"{side} knee never bends: {bend[:, 2].max()}"
        thigh = knee - hip
        pitch = np.degrees(np.arctan2(thigh[:, 2], -thigh[:, 1]))
        assert (
            pitch.max() > 15 and pitch.min() < -15
        ), f"{side} thigh swing {pitch.min(), pitch.max()}"
    hand = pos[:, index["LeftHand"], 2] - hips[:, 2]
    assert np.ptp(hand) > 0.15, "the arms swing"
    assert (pos[:, index["LeftHand"], 1] < pos[:, index["LeftArm"], 1] - 0.3).all(), "arms hang"


def test_seed_fps_and_samples(server, spec):
    a = generate(server, spec, seconds=2.0, seed=4)[0]
    b = generate(server, spec, seconds=2.0, seed=4)[0]
    c = generate(server, spec, seconds=2.0, seed=5)[0]
    assert np.array_equal(a["local_rot_mats"], b["local_rot_mats"]), "not deterministic"
    assert not np.allclose(a["local_rot_mats"], c["local_rot_mats"]), "the seed changes nothing"
    (slow,) = generate(server, spec, seconds=2.0, fps=24.0)
    assert slow["num_frames"] == 48 and slow["fps"] == pytest.approx(24.0)
    pos, index = world_positions(slow)
    assert pos[-1, index["Hips"], 2] - pos[0, index["Hips"], 2] > 1.6, "same speed at 24 fps"
    two = generate(server, spec, seconds=1.0, samples=2)
    assert len(two) == 2 and not np.allclose(two[0]["local_rot_mats"], two[1]["local_rot_mats"])
