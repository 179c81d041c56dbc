"""Two MMCP models served by the real reference SDK (motionmcp-sdk), for behaviours its `null`
model never shows. Run: python sdk_backbones.py PORT COUNT_FILE

- `flaky`: answers its first request with `504 timeout` (a retryable MMCP error), then a rest
  pose; COUNT_FILE holds the number of generate requests it received.
- `sparse`: answers with sparse 1.4 channels: the Spine's rotation keyed only at frames 0, T/2 and
  T-1, the root's translation only at 0 and T-1. The dense motion it starts from turns the Spine
  by `SPINE_RATE * t**2` radians about +Y (t in frames), so a reader that interpolates the keys and
  one that invents the dense values give different answers between keys.
- `one_joint` and `eighty_joints`: skeletons at the edges of what the take viewer draws (one joint;
  a root with eight chains of ten, the left four named `Left...`, the right four `Right...`), turning
  and travelling so that every frame differs.
"""

import sys
from pathlib import Path

import numpy as np
from motionmcp import Backbone, GenerateRequest, ModelSpec, MotionResult, serve
from motionmcp.errors import ProtocolError
from motionmcp.schemas import Joint, Skeleton

SPINE_RATE = 0.001

SKELETON = Skeleton(
    joints=[
        Joint(name="Hips", parent=None, rest_translation=(0, 0.95, 0), rest_rotation=(0, 0, 0, 1)),
        Joint(name="Spine", parent="Hips", rest_translation=(0, 0.2, 0), rest_rotation=(0, 0, 0, 1)),
        Joint(name="Head", parent="Spine", rest_translation=(0, 0.5, 0), rest_rotation=(0, 0, 0, 1)),
    ]
)


def rest_pose(req: GenerateRequest):
    samples = req.options.num_samples if req.options else 1
    frames, joints = req.total_frames, len(req.skeleton.joints)
    rotations = np.zeros((samples, frames, joints, 4), np.float32)
    rotations[..., 3] = 1
    root = np.zeros((samples, frames, 3), np.float32)
    root[..., 1] = 0.95
    return rotations, root


class Flaky(Backbone):
    model_id = "flaky"

    def __init__(self, count_file: Path):
        self.count_file = count_file
        self.count = 0

    def capabilities(self):
        return ModelSpec(id="flaky", fps=30.0, canonical_skeleton=SKELETON)

    def generate(self, req: GenerateRequest):
        self.count += 1
        self.count_file.write_text(str(self.count))
        if self.count == 1:
            raise ProtocolError("timeout", "the model took too long this time")
        rotations, root = rest_pose(req)
        return MotionResult(rotations=rotations, root_translations=root)


class Sparse(Backbone):
    model_id = "sparse"

    def capabilities(self):
        return ModelSpec(id="sparse", fps=30.0, canonical_skeleton=SKELETON)

    def generate(self, req: GenerateRequest):
        rotations, root = rest_pose(req)
        frames = req.total_frames
        angle = SPINE_RATE * np.arange(frames, dtype=np.float32) ** 2
        rotations[:, :, 1, 1] = np.sin(angle / 2)
        rotations[:, :, 1, 3] = np.cos(angle / 2)
        root[..., 2] = np.arange(frames, dtype=np.float32) * 0.04
        keys = {1: {"rotation": [0, frames // 2, frames - 1]}, 0: {"translation": [0, frames - 1]}}
        return MotionResult(rotations=rotations, root_translations=root, keyframes=keys)


def fan_skeleton() -> Skeleton:
    """A root and eight chains of ten joints fanning out around it: 81 joints would be one too many,
    so the last chain has nine (80 in all)."""
    joints = [Joint(name="Root", parent=None, rest_translation=(0, 1.0, 0), rest_rotation=(0, 0, 0, 1))]
    for chain in range(8):
        side = "Left" if chain < 4 else "Right"
        angle = (chain + 0.5) * np.pi / 4
        step = (0.08 * float(np.sin(angle)), 0.04, 0.08 * float(np.cos(angle)))
        parent = "Root"
        for k in range(10 if chain < 7 else 9):
            name = f"{side}Chain{chain}_{k}"
            joints.append(Joint(name=name, parent=parent, rest_translation=step, rest_rotation=(0, 0, 0, 1)))
            parent = name
    return Skeleton(joints=joints)


class Turning(Backbone):
    """The root turns about +Y and walks along +Z; every other joint bends a little about X."""

    def __init__(self, model_id: str, skeleton: Skeleton):
        self.model_id = model_id
        self.skeleton = skeleton

    def capabilities(self):
        return ModelSpec(id=self.model_id, fps=30.0, canonical_skeleton=self.skeleton)

    def generate(self, req: GenerateRequest):
        rotations, root = rest_pose(req)
        t = np.arange(req.total_frames, dtype=np.float32)
        for sample in range(rotations.shape[0]):
            yaw = 0.05 * t * (sample + 1)
            rotations[sample, :, 0, 1] = np.sin(yaw / 2)
            rotations[sample, :, 0, 3] = np.cos(yaw / 2)
            bend = 0.15 * np.sin(0.2 * t + sample)
            rotations[sample, :, 1:, 0] = np.sin(bend / 2)[:, None]
            rotations[sample, :, 1:, 3] = np.cos(bend / 2)[:, None]
        root[..., 1] = 1.0
        root[..., 2] = t * 0.03
        return MotionResult(rotations=rotations, root_translations=root)


if __name__ == "__main__":
    one = Skeleton(joints=[Joint(name="Root", parent=None, rest_translation=(0, 1.0, 0), rest_rotation=(0, 0, 0, 1))])
    models = [Flaky(Path(sys.argv[2])), Sparse(), Turning("one_joint", one), Turning("eighty_joints", fan_skeleton())]
    serve(models, host="127.0.0.1", port=int(sys.argv[1]))
