"""glTF motion responses for the decode comparison, and the Python side of it.

    python benches/decode.py gen DIR                 # write the documents and DIR/manifest.json
    python benches/decode.py time DIR [--quick]      # motionmcp.client's parser on each document
    python benches/decode.py generate URL DIR        # motionmcp.client: POST DIR/request.json, parse

The documents are written by the MMCP SDK's own encoder (`motionmcp.gltf.build_gltf`, what the
reference server sends), from smooth synthetic motion. The Python figure is what
`motionmcp.client.generate()` does with a 200 body: `json.loads`, then `parse_gltf_samples` (the
SDK's parser, motionmcp/client/gltf_parser.py). stagecraft's figure (benches/core.rs) is
`stagecraft::motion::gltf::decode` on the same bytes.
"""

import json
import os
import statistics
import sys
import time

import numpy as np

# name, joints, frames, samples, keyframe step (None: dense), foot contacts
CASES = [
    ("small", 22, 120, 1, None),  # 4 s at 30 fps, one sample: a typical agent request
    ("1MB", 30, 1500, 1, None),  # 50 s, one sample
    ("10MB", 30, 900, 16, None),  # 30 s x 16 samples: the 30-joint estimate of docs/mmcp.md#the-gltf-take, Sizes
    ("several-samples", 22, 300, 8, None),  # 10 s x 8 samples
    ("sparse", 30, 1800, 4, 6),  # 60 s x 4 samples, every joint keyed every 6th frame
]
FOOT = ("J03", "J04", "J07", "J08")


def skeleton(J):
    joints = []
    for j in range(J):
        parent = None if j == 0 else f"J{(j - 1) if j % 5 else 0:02d}"
        joints.append({"name": f"J{j:02d}", "parent": parent,
                       "rest_translation": [0.0, 0.0 if j == 0 else 0.1, 0.0],
                       "rest_rotation": [0.0, 0.0, 0.0, 1.0]})  # fmt: skip
    return {"joints": joints}


def motion(B, T, J, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(T, dtype=np.float32)[None, :, None] / 30.0
    freq = rng.uniform(0.2, 2.0, size=(B, 1, J, 1)).astype(np.float32)
    phase = rng.uniform(0, 6.28, size=(B, 1, J, 1)).astype(np.float32)
    angle = 0.6 * np.sin(freq * t[..., None] + phase)  # (B, T, J, 1)
    axis = rng.normal(size=(B, 1, J, 3)).astype(np.float32)
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    q = np.concatenate([axis * np.sin(angle / 2), np.cos(angle / 2)], axis=-1).astype(np.float32)
    root = np.stack([0.01 * t[..., 0].repeat(B, 0), np.ones((B, T), np.float32),
                     np.zeros((B, T), np.float32)], axis=-1).astype(np.float32)  # fmt: skip
    return q, root


def gen(out):
    from motionmcp.gltf import build_gltf

    os.makedirs(out, exist_ok=True)
    cases = []
    for name, J, T, B, step in CASES:
        sk = skeleton(J)
        names = [j["name"] for j in sk["joints"]]
        q, root = motion(B, T, J, seed=J * T + B)
        keyframes = None
        if step:
            keys = sorted(set(range(0, T, step)) | {T - 1})
            keyframes = {j: {"rotation": keys, "translation": keys} for j in range(J)}
        contacts = {n: (np.sin(np.arange(T)[None, :] / 7.0 + i) > 0).repeat(B, 0)
                    for i, n in enumerate(FOOT) if n in names}  # fmt: skip
        doc = build_gltf(skeleton=sk, joint_names=names, rotations_quat=q, root_translations=root,
                         keyframes=keyframes, fps=30.0, model_id="bench",
                         foot_contacts=contacts)  # fmt: skip
        body = json.dumps(doc, separators=(",", ":")).encode()
        path = f"{name}.gltf"
        with open(os.path.join(out, path), "wb") as f:
            f.write(body)
        cases.append({"name": name, "file": path, "bytes": len(body), "joints": J, "frames": T,
                      "samples": B, "keyed_every": step})  # fmt: skip
        print(f"{name}: {len(body) / 1e6:.2f} MB", file=sys.stderr)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)


def summary(xs, scale):
    xs = sorted(x * scale for x in xs)
    q = statistics.quantiles(xs, n=4) if len(xs) >= 4 else [xs[0], 0, xs[-1]]
    r = lambda v: round(v, 2)  # noqa: E731
    return {"median": r(statistics.median(xs)), "p25": r(q[0]), "p75": r(q[2]), "min": r(xs[0]),
            "max": r(xs[-1]), "n": len(xs)}  # fmt: skip


def time_parse(out, quick):
    from motionmcp.client.gltf_parser import parse_gltf_samples

    with open(os.path.join(out, "manifest.json")) as f:
        cases = json.load(f)["cases"]
    result = {}
    budget = 8e6 if quick else 40e6  # bytes parsed per case
    for case in cases:
        with open(os.path.join(out, case["file"]), "rb") as f:
            body = f.read()
        reps = int(min(200, max(3, budget // len(body))))
        parse_gltf_samples(json.loads(body))  # warm-up
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            samples = parse_gltf_samples(json.loads(body))
            ts.append(time.perf_counter() - t)
        assert len(samples) == case["samples"]
        s = summary(ts, 1e3)
        result[case["name"]] = {"bytes": len(body), "parse_ms": s,
                                "parse_mb_s": round(len(body) / 1e6 / (s["median"] / 1e3), 1)}  # fmt: skip
    return result


def time_generate(url, out, quick):
    from motionmcp.client import generate
    from motionmcp.client.gltf_parser import parse_gltf_samples

    with open(os.path.join(out, "request.json")) as f:
        request = json.load(f)
    n = 5 if quick else 20
    parse_gltf_samples(generate(url, request))
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        samples = parse_gltf_samples(generate(url, request))
        ts.append(time.perf_counter() - t)
    return {"time": summary(ts, 1e3), "frames": int(samples[0]["num_frames"])}


def main():
    cmd = sys.argv[1]
    quick = "--quick" in sys.argv
    if cmd == "gen":
        gen(sys.argv[2])
        return
    if cmd == "time":
        print(json.dumps(time_parse(sys.argv[2], quick), indent=1))
    elif cmd == "generate":
        print(json.dumps(time_generate(sys.argv[2], sys.argv[3], quick), indent=1))


if __name__ == "__main__":
    main()
