"""`stagecraft motion-server` read by the MMCP reference SDK's own client (motionmcp-sdk 0.13.0).

Run:  STAGECRAFT_BIN=target/debug/stagecraft pytest tests/python/test_motion_server_sdk.py
Needs: pip install "motionmcp-sdk[server]==0.13.0" pytest
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import numpy as np
import pytest

client = pytest.importorskip("motionmcp.client", reason="pip install 'motionmcp-sdk[server]==0.13.0'")

BIN = os.environ.get("STAGECRAFT_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="STAGECRAFT_BIN is not set (path to the built stagecraft binary)")

MODEL = "stagecraft-procedural"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [BIN, "motion-server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/capabilities", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                proc.kill()
                pytest.fail(f"motion-server did not come up on {url}: {err}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def caps(server):
    client.clear_capabilities_cache()
    return client.get_capabilities(server, use_cache=False)


@pytest.fixture(scope="module")
def spec(caps):
    model = client.pick_model(caps, MODEL)
    assert model["id"] == MODEL
    return model


def _request(spec, **extra):
    body = {
        "protocol_version": "1.4",
        "model": MODEL,
        "skeleton": spec["canonical_skeleton"],
        "segments": [{"type": "text", "prompt": "a person walks forward", "duration_frames": 90}],
        "options": {"seed": 7},
    }
    body.update(extra)
    return body


def _sample(doc, i=0):
    samples = client.parse_gltf_samples(doc)
    return samples[i], samples


def test_capabilities_are_what_the_sdk_expects(caps, spec):
    assert caps["protocol_version"] == "1.4"
    assert [m["id"] for m in caps["models"]] == [MODEL, "null"]
    assert spec["supports_retargeting"] is True
    assert spec["supports_loop"] is True
    assert set(client.model_supported_segments(spec)) == {"text", "unconditioned", "pose"}
    assert set(spec["supported_constraints"]) == {"root_path", "effector_target", "pose_keyframe"}
    names = [j["name"] for j in spec["canonical_skeleton"]["joints"]]
    assert names[0] == "Hips" and len(names) == 22


def test_text_walk(server, spec):
    doc = client.generate(server, _request(spec))
    s, samples = _sample(doc)
    assert len(samples) == 1
    assert s["num_frames"] == 90 and s["fps"] == pytest.approx(30.0)
    assert s["num_joints"] == 22 and s["joint_names"][0] == "Hips"
    root = s["posed_joints"][:, 0]
    speed = (root[-1, 2] - root[0, 2]) / 3.0
    assert 1.0 < speed < 1.7, speed
    assert np.isfinite(s["local_rot_mats"]).all()
    names = s["joint_names"]
    left, right = s["foot_contacts"][:, names.index("LeftFoot")], s["foot_contacts"][:, names.index("RightFoot")]
    assert left.any() and right.any() and (left != right).any()


def test_unconditioned_and_constraints_only(server, spec):
    doc = client.generate(server, _request(spec, segments=[{"type": "unconditioned", "duration_frames": 30}]))
    s, _ = _sample(doc)
    assert s["num_frames"] == 30
    body = _request(spec, constraints=[{"type": "root_path", "frames": [0, 59], "positions_xz": [[0, 0], [1, 1]]}])
    del body["segments"]
    body["duration_frames"] = 60
    s, _ = _sample(client.generate(server, body))
    end = s["posed_joints"][59, 0]
    assert np.hypot(end[0] - 1.0, end[2] - 1.0) < 0.1


def test_pose_segment(server, spec):
    s, _ = _sample(client.generate(server, _request(spec, segments=[{"type": "pose", "prompt": "sitting on a chair"}])))
    assert s["num_frames"] == 1
    assert s["posed_joints"][0, 0, 1] < 0.7


def test_pose_keyframe_and_root_path(server, spec):
    q = [0.0, 0.0, 0.0871557, 0.9961947]
    body = _request(
        spec,
        constraints=[
            {"type": "root_path", "frames": [0, 45, 89], "positions_xz": [[0, 0], [0.8, 1.2], [2.0, 1.5]]},
            {"type": "pose_keyframe", "frame": 60, "joint_rotations": {"Spine": q}, "fill_mode": "generate"},
        ],
    )
    s, _ = _sample(client.generate(server, body))
    for frame, (x, z) in [(0, (0, 0)), (45, (0.8, 1.2)), (89, (2.0, 1.5))]:
        p = s["posed_joints"][frame, 0]
        assert np.hypot(p[0] - x, p[2] - z) < 0.1, (frame, p)
    spine = s["joint_names"].index("Spine")
    want = client.xyzw_to_rotmat(np.array([q], dtype=np.float32))[0]
    assert np.allclose(s["local_rot_mats"][60, spine], want, atol=1e-3)


def test_effector_target(server, spec):
    body = _request(spec, segments=[{"type": "text", "prompt": "stand", "duration_frames": 60}],
                    constraints=[{"type": "effector_target", "joint": "RightHand", "frames": [30],
                                  "positions": [[-0.3, 1.3, 0.4]]}])
    doc = client.generate(server, body)
    take = client.parse_gltf_samples(doc)[0]
    # The SDK parser gives local transforms; walk them to the hand's world position at frame 30.
    names = take["joint_names"]
    parents = dict(take["hierarchy"])
    world_r, world_p = {}, {}
    for j, name in enumerate(names):
        r = take["local_rot_mats"][30, j]
        t = take["local_translations"][30, j]
        parent = parents.get(name)
        if parent is None:
            world_r[name], world_p[name] = r, t
        else:
            world_p[name] = world_p[parent] + world_r[parent] @ t
            world_r[name] = world_r[parent] @ r
    assert np.linalg.norm(world_p["RightHand"] - np.array([-0.3, 1.3, 0.4])) < 0.05


def test_several_samples_differ(server, spec):
    body = _request(spec, options={"seed": 3, "num_samples": 3})
    _, samples = _sample(client.generate(server, body))
    assert len(samples) == 3
    a, b = samples[0]["local_rot_mats"], samples[1]["local_rot_mats"]
    assert not np.allclose(a, b)
    again = client.parse_gltf_samples(client.generate(server, body))
    assert np.allclose(again[0]["local_rot_mats"], a)


def test_loop(server, spec):
    body = _request(spec, options={"seed": 1, "loop": True})
    s, _ = _sample(client.generate(server, body))
    assert np.allclose(s["local_rot_mats"][0, 1:], s["local_rot_mats"][-1, 1:], atol=1e-3)


def test_batch(server, spec):
    batch = {
        "protocol_version": "1.4",
        "requests": [_request(spec), {**_request(spec), "model": "nope"}],
    }
    out = client.generate(server, batch)
    assert "gltf" in out["results"][0]
    s, _ = _sample(out["results"][0]["gltf"])
    assert s["num_frames"] == 90
    assert out["results"][1]["error"]["code"] == "unknown_model"


def test_errors_reach_the_sdk_client_as_envelopes(server, spec):
    with pytest.raises(client.MmcpError) as err:
        client.generate(server, _request(spec, model="nope"))
    assert err.value.code == "unknown_model"
    bad = _request(spec, constraints=[{"type": "effector_target", "joint": "Spine", "frames": [1], "positions": [[0, 1, 0]]}])
    with pytest.raises(client.MmcpError) as err:
        client.generate(server, bad)
    assert err.value.code == "unknown_joint"
    bad = _request(spec, constraints=[{"type": "ground_height", "points": [[0, 0, 0]]}])
    with pytest.raises(client.MmcpError) as err:
        client.generate(server, bad)
    assert err.value.code == "unsupported_constraint"
    with pytest.raises(client.MmcpError) as err:
        client.generate(server, _request(spec, segments=[{"type": "text", "prompt": "walk", "duration_frames": 9000}]))
    assert err.value.code == "invalid_options"


def test_retargeting_to_another_rig(server, spec):
    skeleton = {"joints": [dict(j) for j in spec["canonical_skeleton"]["joints"]]}
    for j in skeleton["joints"]:
        j["name"] = "mixamorig:" + j["name"]
        if j["parent"]:
            j["parent"] = "mixamorig:" + j["parent"]
    s, _ = _sample(client.generate(server, _request(spec, skeleton=skeleton)))
    assert s["joint_names"][0] == "mixamorig:Hips"
    assert s["posed_joints"][-1, 0, 2] > 2.5


def test_null_model(server, caps):
    null = client.pick_model(caps, "null")
    body = {
        "protocol_version": "1.4",
        "model": "null",
        "skeleton": null["canonical_skeleton"],
        "segments": [{"type": "text", "prompt": "anything", "duration_frames": 4}],
    }
    s, _ = _sample(client.generate(server, body))
    assert np.allclose(s["local_rot_mats"], np.eye(3), atol=1e-6)
