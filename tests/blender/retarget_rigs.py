"""Humanoid rigs of the common conventions, and the reference math of retargeting, for the
retargeting acceptance tests (test_retarget.py).

Every rig is described in character space (metres; x = the character's left, y = up, z = the way
it faces) by a generic `Layout` of proportions, then named and organised as its convention does
(Mixamo, UE5 Mannequin, Rigify deform bones, SMPL, VRM, opaque `bn_NN`), turned into Blender
bones in its own armature space (Y-up centimetres for an FBX-imported Mixamo rig, Z-up facing
-Y for the others) and placed with an object transform. `blend_rigs()` lists them for
`rigs.build_blend`. Bone rolls are pseudo-random: nothing about a bone's local axes can be relied on.

The reference math (`ReferenceFrame`, `direction`, `angle_degrees`, ...) is plain Python written
from the retargeting contract, independent of the Rust implementation: heading H = the rig's
facing about +Y from +Z, s = rig hip height / source hip height (the hip joints above the
floor), every mapped segment of the rig along H * the source's segment, the hips on the scaled,
turned source path starting where the rig stands.
"""

import math
from dataclasses import dataclass, field

from rigs import _euler_xyz

# ---------------------------------------------------------------------------------------
# Character-space layout


# SOMA30's legs (and the built-in model's): 0.82 m from the hip joints to the ankles, the ankles
# 0.08 m above the floor, the hips 0.05 m above the hip joints. The rigs keep these ratios to
# their own leg length, whatever their other proportions (size, torso, arms, thigh to shin, hip
# width, feet), so that the hips and the hip joints give the same scale and, scaled by it, the
# source's stance leg is exactly as long as the rig's: the contract's bounds (legs within 6
# degrees during a contact, feet within 1 cm) can then all hold. A rig whose legs were 3 % longer
# for its hip height needs about 13 degrees of knee bend to keep its feet planted; `long_legs()`
# is one such rig, for what can be asked of it (knees bend forward, feet stay).
SOMA_LEG = 0.82
ANKLE_PER_LEG = 0.08 / SOMA_LEG
DROP_PER_LEG = 0.05 / SOMA_LEG


@dataclass
class Layout:
    """Proportions of a humanoid in its rest pose (metres). `arm_down`: degrees the arms hang
    below horizontal (0 = T-pose, 45 = A-pose). The toes are the lowest joints, at y = 0; the
    ankle height and the hips' height above the hip joints follow the leg length as in SOMA30
    unless given."""

    pelvis_width: float = 0.09
    thigh: float = 0.44
    shin: float = 0.42
    ankle: float = None
    drop: float = None
    toe_length: float = 0.13
    spine: list = field(default_factory=lambda: [0.11, 0.12, 0.13])
    neck: list = field(default_factory=lambda: [0.16])
    head: float = 0.2
    clavicle: tuple = (0.03, 0.11)  # clavicle head: out (x), up (y) from the chest joint
    clavicle_length: float = 0.14
    upper_arm: float = 0.28
    forearm: float = 0.26
    hand: float = 0.18
    arm_down: float = 0.0

    @property
    def ankle_height(self):
        return self.ankle if self.ankle is not None else ANKLE_PER_LEG * (self.thigh + self.shin)

    @property
    def hip_drop(self):
        """How far the hips sit above the hip joints."""
        return self.drop if self.drop is not None else DROP_PER_LEG * (self.thigh + self.shin)

    @property
    def hip_height(self):
        return self.ankle_height + self.thigh + self.shin + self.hip_drop

    def points(self):
        """{key: position} of every joint head: hips, spine0.. (the last is the chest), neck0..
        (`neck`: lengths from the chest up), head, head_end and,
        for side L / R: shoulder, upper_arm, forearm, hand, hand_end, thumb, index, thigh, shin,
        foot, toe, toe_end."""
        p = {"hips": (0.0, self.hip_height, 0.0)}
        top = p["hips"]
        for i, length in enumerate(self.spine):
            top = p[f"spine{i}"] = _add(top, (0.0, length, -0.01 if i == 0 else 0.005))
        chest = top
        for i, length in enumerate(self.neck):
            top = p[f"neck{i}"] = _add(top, (0.0, length, 0.005))
        p["head"] = _add(top, (0.0, 0.09, 0.01))
        p["head_end"] = _add(p["head"], (0.0, self.head, 0.01))
        down = math.radians(self.arm_down)
        ankle = self.ankle_height
        knee = ankle + self.shin
        hip_y = self.hip_height - self.hip_drop
        for side, sx in (("L", 1.0), ("R", -1.0)):
            arm = (sx * math.cos(down), -math.sin(down), 0.0)
            p[f"shoulder_{side}"] = _add(chest, (sx * self.clavicle[0], self.clavicle[1], 0.0))
            p[f"upper_arm_{side}"] = _add(
                p[f"shoulder_{side}"], (sx * self.clavicle_length, 0.01, -0.01)
            )
            p[f"forearm_{side}"] = _add(
                p[f"upper_arm_{side}"], _mul(arm, self.upper_arm), (0, 0, -0.01)
            )
            p[f"hand_{side}"] = _add(p[f"forearm_{side}"], _mul(arm, self.forearm), (0, 0, 0.01))
            p[f"hand_end_{side}"] = _add(p[f"hand_{side}"], _mul(arm, self.hand))
            p[f"thumb_{side}"] = _add(p[f"hand_{side}"], _mul(arm, 0.03), (0.0, -0.01, 0.03))
            p[f"index_{side}"] = _add(p[f"hand_{side}"], _mul(arm, 0.09), (0.0, 0.0, 0.02))
            p[f"thigh_{side}"] = (sx * self.pelvis_width, hip_y, 0.0)
            p[f"shin_{side}"] = (sx * self.pelvis_width, knee, 0.015)  # knees a little forward
            p[f"foot_{side}"] = (sx * self.pelvis_width, ankle, 0.0)
            p[f"toe_{side}"] = (sx * self.pelvis_width, 0.0, self.toe_length)
            p[f"toe_end_{side}"] = (sx * self.pelvis_width, 0.0, self.toe_length + 0.06)
        return p


def _add(*vectors):
    return tuple(sum(c) for c in zip(*vectors))


def _mul(v, k):
    return tuple(c * k for c in v)


def _lerp(a, b, t):
    return tuple(x + (y - x) * t for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------
# Rigs: (name, parent, head, tail) in character space, plus what the tests expect of them


@dataclass
class Rig:
    name: str
    bones: list  # (bone, parent, head, tail) in character space
    armature_axes: str  # "y_up" (FBX import: Y-up inside the armature) or "z_up" (faces -Y)
    unit: float  # metres per armature unit (0.01: centimetres)
    location: tuple
    rotation: tuple  # object Euler XYZ, degrees
    scale: float
    heading: float  # the facing this placement gives, degrees about +Y from +Z (MMCP)
    convention: str  # what `retarget.conventions.rig` should name
    roles: dict  # role -> bone: "hips", "neck", "head", "shoulder_L", "upper_arm_L", ...

    def blender_bones(self):
        """BUILD_RIG tuples: (name, parent, head, tail, roll, connected) in armature space."""
        out = []
        heads = {b[0]: b[2] for b in self.bones}
        tails = {b[0]: b[3] for b in self.bones}
        for i, (name, parent, head, tail) in enumerate(self.bones):
            connected = parent is not None and _close(tails[parent], heads[name])
            roll = (i * 137.0 + 41.5) % 360.0 - 180.0  # pseudo-random, never a multiple of 90
            out.append((name, parent, self._armature(head), self._armature(tail), roll, connected))
        return out

    def _armature(self, p):
        x, y, z = (c / self.unit for c in p)
        return (x, y, z) if self.armature_axes == "y_up" else (x, -z, y)

    def world_rest(self):
        """{bone: head position} in MMCP world coordinates (Y-up metres), as the placement puts
        it: world = location + R (scale * armature point), Blender (x, y, z) -> MMCP (x, z, -y)."""
        rot = _euler_xyz(self.rotation)
        out = {}
        for name, _, head, _ in self.bones:
            a = [c * self.scale for c in self._armature(head)]
            w = [self.location[r] + sum(rot[r][c] * a[c] for c in range(3)) for r in range(3)]
            out[name] = (w[0], w[2], -w[1])
        return out


def _close(a, b, eps=1e-9):
    return all(abs(x - y) < eps for x, y in zip(a, b))


SIDES = (("L", "Left", "left"), ("R", "Right", "right"))


def _chain(bones, names, points, keys, parent, last_tail=None):
    """Appends a chain of bones named `names` with heads at points[keys]; each tail is the next
    head; the last tail is `last_tail` (a point key or position)."""
    for i, (name, key) in enumerate(zip(names, keys)):
        if i + 1 < len(keys):
            tail = points[keys[i + 1]]
        else:
            tail = points[last_tail] if isinstance(last_tail, str) else last_tail
        bones.append((name, parent, points[key], tail))
        parent = name
    return parent


def mixamo(name="MixamoRig", layout=None, location=(-3.0, 0.0, 0.0), turn=0.0):
    """Mixamo as FBX import makes it: `mixamorig:` names, centimetres under an object scaled 0.01
    and turned 90 degrees about X (then `turn` about Z); longer legs and a shorter torso than
    SOMA; T-pose; fingers."""
    lay = layout or Layout(
        thigh=0.48,
        shin=0.46,
        spine=[0.09, 0.1, 0.11],
        neck=[0.13],
        upper_arm=0.27,
        forearm=0.25,
    )
    p = lay.points()
    m = "mixamorig:"
    bones = []
    _chain(bones, [m + "Hips"], p, ["hips"], None, "spine0")
    chest = _chain(
        bones,
        [m + "Spine", m + "Spine1", m + "Spine2"],
        p,
        ["spine0", "spine1", "spine2"],
        m + "Hips",
        "neck0",
    )
    _chain(
        bones,
        [m + "Neck", m + "Head", m + "HeadTop_End"],
        p,
        ["neck0", "head", "head_end"],
        chest,
        _add(p["head_end"], (0, 0.05, 0)),
    )
    for s, side, _ in SIDES:
        hand = _chain(
            bones,
            [m + f"{side}Shoulder", m + f"{side}Arm", m + f"{side}ForeArm", m + f"{side}Hand"],
            p,
            [f"shoulder_{s}", f"upper_arm_{s}", f"forearm_{s}", f"hand_{s}"],
            chest,
            f"hand_end_{s}",
        )
        for finger, key in (("Thumb", "thumb"), ("Index", "index"), ("Middle", "hand_end")):
            base = (
                p[f"{key}_{s}"]
                if key != "hand_end"
                else _lerp(p[f"hand_{s}"], p[f"hand_end_{s}"], 0.5)
            )
            step = _mul(_sub(p[f"hand_end_{s}"], p[f"hand_{s}"]), 0.15)
            parent = hand
            for k in range(1, 4):
                head = _add(base, _mul(step, k - 1))
                bones.append((m + f"{side}Hand{finger}{k}", parent, head, _add(head, step)))
                parent = m + f"{side}Hand{finger}{k}"
        _chain(
            bones,
            [
                m + f"{side}UpLeg",
                m + f"{side}Leg",
                m + f"{side}Foot",
                m + f"{side}ToeBase",
                m + f"{side}Toe_End",
            ],
            p,
            [f"thigh_{s}", f"shin_{s}", f"foot_{s}", f"toe_{s}", f"toe_end_{s}"],
            m + "Hips",
            _add(p[f"toe_end_{s}"], (0, 0, 0.03)),
        )
    roles = _roles(
        m + "Hips",
        m + "Neck",
        m + "Head",
        {
            s: [
                m + f"{side}{b}"
                for b in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")
            ]
            for s, side, _ in SIDES
        },
    )
    return Rig(name, bones, "y_up", 0.01, location, (90.0, 0.0, turn), 0.01, turn, "mixamo", roles)


def long_legs():
    """A Mixamo rig whose legs are long for its hip height (low ankles, hips high above the
    thighs): scaled by the hip height, the source's stance leg is shorter than its own, so keeping
    the feet planted needs knee bend the source does not have. Turned -90 degrees."""
    layout = Layout(thigh=0.48, shin=0.46, ankle=0.06, drop=0.1, spine=[0.08, 0.09, 0.1])
    return mixamo("LongLegs", layout, (0.0, 6.0, 0.0), -90.0)


def _sub(a, b):
    return tuple(x - y for x, y in zip(a, b))


def _roles(hips, neck, head, sides):
    """The role table from per-side lists [shoulder, upper_arm, forearm, hand, thigh, shin,
    foot, toe]."""
    roles = {"hips": hips, "neck": neck, "head": head}
    for s, names in sides.items():
        for role, name in zip(
            ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe"), names
        ):
            roles[f"{role}_{s}"] = name
    return roles


def unreal():
    """UE5 Mannequin names, A-pose (arms 45 degrees down), a `root` on the floor, twist and IK
    bones; the object turned 90 degrees about Z and standing at (3, -2, 0)."""
    lay = Layout(
        thigh=0.43,
        shin=0.42,
        spine=[0.08, 0.07, 0.07, 0.07, 0.08],
        neck=[0.07, 0.06],
        arm_down=45.0,
        upper_arm=0.29,
        forearm=0.25,
    )
    p = lay.points()
    bones = [("root", None, (0.0, 0.0, 0.0), (0.0, 0.0, -0.2))]
    _chain(bones, ["pelvis"], p, ["hips"], "root", "spine0")
    spine = [f"spine_0{i}" for i in range(1, 6)]
    chest = _chain(bones, spine, p, [f"spine{i}" for i in range(5)], "pelvis", "neck0")
    _chain(bones, ["neck_01", "neck_02", "head"], p, ["neck0", "neck1", "head"], chest, "head_end")
    for s, _, _ in SIDES:
        x = s.lower()
        hand = _chain(
            bones,
            [f"clavicle_{x}", f"upperarm_{x}", f"lowerarm_{x}", f"hand_{x}"],
            p,
            [f"shoulder_{s}", f"upper_arm_{s}", f"forearm_{s}", f"hand_{s}"],
            chest,
            f"hand_end_{s}",
        )
        bones.append(
            (
                f"index_01_{x}",
                hand,
                p[f"index_{s}"],
                _add(p[f"index_{s}"], _mul(_sub(p[f"hand_end_{s}"], p[f"hand_{s}"]), 0.3)),
            )
        )
        bones.append(
            (f"thumb_01_{x}", hand, p[f"thumb_{s}"], _add(p[f"thumb_{s}"], (0.0, -0.01, 0.04)))
        )
        for limb, a, b in (("upperarm", "upper_arm", "forearm"), ("lowerarm", "forearm", "hand")):
            for k, t in ((1, 0.33), (2, 0.66)):
                head = _lerp(p[f"{a}_{s}"], p[f"{b}_{s}"], t)
                tail = _lerp(p[f"{a}_{s}"], p[f"{b}_{s}"], t + 0.2)
                bones.append((f"{limb}_twist_0{k}_{x}", f"{limb}_{x}", head, tail))
        _chain(
            bones,
            [f"thigh_{x}", f"calf_{x}", f"foot_{x}", f"ball_{x}"],
            p,
            [f"thigh_{s}", f"shin_{s}", f"foot_{s}", f"toe_{s}"],
            "pelvis",
            f"toe_end_{s}",
        )
        for limb, a, b in (("thigh", "thigh", "shin"), ("calf", "shin", "foot")):
            bones.append(
                (
                    f"{limb}_twist_01_{x}",
                    f"{limb}_{x}",
                    _lerp(p[f"{a}_{s}"], p[f"{b}_{s}"], 0.5),
                    _lerp(p[f"{a}_{s}"], p[f"{b}_{s}"], 0.7),
                )
            )
    bones.append(("ik_foot_root", "root", (0.0, 0.0, 0.0), (0.0, 0.1, 0.0)))
    bones.append(("ik_hand_root", "root", (0.0, 0.0, 0.0), (0.0, 0.0, 0.1)))
    for s, _, _ in SIDES:
        x = s.lower()
        bones.append(
            (f"ik_foot_{x}", "ik_foot_root", p[f"foot_{s}"], _add(p[f"foot_{s}"], (0, 0, 0.1)))
        )
        bones.append(
            (f"ik_hand_{x}", "ik_hand_root", p[f"hand_{s}"], _add(p[f"hand_{s}"], (0, 0.1, 0)))
        )
    roles = _roles(
        "pelvis",
        "neck_01",
        "head",
        {
            s: [
                f"{b}_{s.lower()}"
                for b in (
                    "clavicle",
                    "upperarm",
                    "lowerarm",
                    "hand",
                    "thigh",
                    "calf",
                    "foot",
                    "ball",
                )
            ]
            for s, _, _ in SIDES
        },
    )
    return Rig(
        "UE5Mannequin",
        bones,
        "z_up",
        1.0,
        (3.0, -2.0, 0.0),
        (0.0, 0.0, 90.0),
        1.0,
        90.0,
        "ue",
        roles,
    )


def rigify():
    """Rigify deform bones (a deform-only armature, not a generated control rig): the spine
    DEF-spine .. DEF-spine.006 (hips to head), limbs in two twist segments each (`.001`),
    DEF-pelvis.L/R; slightly bent elbows, arms 30 degrees down; turned -30 degrees about Z."""
    lay = Layout(thigh=0.45, shin=0.43, spine=[0.12, 0.12, 0.13], neck=[0.1, 0.07], arm_down=30.0)
    p = lay.points()
    names = ["DEF-spine"] + [f"DEF-spine.00{i}" for i in range(1, 7)]
    keys = ["hips", "spine0", "spine1", "spine2", "neck0", "neck1", "head"]
    bones = []
    _chain(bones, names, p, keys, None, "head_end")
    chest = "DEF-spine.003"
    for s, _, _ in SIDES:
        bones.append(
            (f"DEF-pelvis.{s}", "DEF-spine", p["hips"], _add(p[f"thigh_{s}"], (0.0, 0.12, -0.08)))
        )
        bones.append((f"DEF-shoulder.{s}", chest, p[f"shoulder_{s}"], p[f"upper_arm_{s}"]))
        parent = f"DEF-shoulder.{s}"
        for limb, a, b in (
            ("upper_arm", "upper_arm", "forearm"),
            ("forearm", "forearm", "hand"),
            ("thigh", "thigh", "shin"),
            ("shin", "shin", "foot"),
        ):
            if limb == "thigh":
                parent = "DEF-spine"
            mid = _lerp(p[f"{a}_{s}"], p[f"{b}_{s}"], 0.5)
            bones.append((f"DEF-{limb}.{s}", parent, p[f"{a}_{s}"], mid))
            bones.append((f"DEF-{limb}.{s}.001", f"DEF-{limb}.{s}", mid, p[f"{b}_{s}"]))
            parent = f"DEF-{limb}.{s}.001"
            if limb == "forearm":
                bones.append((f"DEF-hand.{s}", parent, p[f"hand_{s}"], p[f"hand_end_{s}"]))
                bones.append(
                    (
                        f"DEF-f_index.01.{s}",
                        f"DEF-hand.{s}",
                        p[f"index_{s}"],
                        _lerp(p[f"index_{s}"], p[f"hand_end_{s}"], 0.4),
                    )
                )
                bones.append(
                    (
                        f"DEF-thumb.01.{s}",
                        f"DEF-hand.{s}",
                        p[f"thumb_{s}"],
                        _add(p[f"thumb_{s}"], (0.0, -0.01, 0.04)),
                    )
                )
            if limb == "shin":
                bones.append((f"DEF-foot.{s}", parent, p[f"foot_{s}"], p[f"toe_{s}"]))
                bones.append((f"DEF-toe.{s}", f"DEF-foot.{s}", p[f"toe_{s}"], p[f"toe_end_{s}"]))
    roles = _roles(
        "DEF-spine",
        "DEF-spine.004",
        "DEF-spine.006",
        {
            s: [
                f"DEF-{b}.{s}"
                for b in (
                    "shoulder",
                    "upper_arm",
                    "forearm",
                    "hand",
                    "thigh",
                    "shin",
                    "foot",
                    "toe",
                )
            ]
            for s, _, _ in SIDES
        },
    )
    return Rig(
        "RigifyDeform",
        bones,
        "z_up",
        1.0,
        (-1.5, 1.0, 0.0),
        (0.0, 0.0, -30.0),
        1.0,
        -30.0,
        "rigify",
        roles,
    )


def smpl():
    """SMPL joint names (pelvis, left_hip = the thigh, left_knee, left_ankle, left_foot = the toes,
    spine1..3, neck, head, left_collar, left_shoulder = the upper arm, left_elbow, left_wrist,
    left_hand), a Y-up armature turned 90 degrees about X then 150 about Z."""
    lay = Layout(
        pelvis_width=0.07,
        thigh=0.38,
        shin=0.41,
        spine=[0.11, 0.14, 0.06],
        neck=[0.21],
        arm_down=8.0,
        upper_arm=0.26,
        forearm=0.25,
    )
    p = lay.points()
    bones = []
    _chain(bones, ["pelvis"], p, ["hips"], None, "spine0")
    chest = _chain(
        bones, ["spine1", "spine2", "spine3"], p, ["spine0", "spine1", "spine2"], "pelvis", "neck0"
    )
    _chain(bones, ["neck", "head"], p, ["neck0", "head"], chest, "head_end")
    for s, _, side in SIDES:
        _chain(
            bones,
            [
                f"{side}_collar",
                f"{side}_shoulder",
                f"{side}_elbow",
                f"{side}_wrist",
                f"{side}_hand",
            ],
            p,
            [f"shoulder_{s}", f"upper_arm_{s}", f"forearm_{s}", f"hand_{s}", f"index_{s}"],
            chest,
            f"hand_end_{s}",
        )
        _chain(
            bones,
            [f"{side}_hip", f"{side}_knee", f"{side}_ankle", f"{side}_foot"],
            p,
            [f"thigh_{s}", f"shin_{s}", f"foot_{s}", f"toe_{s}"],
            "pelvis",
            f"toe_end_{s}",
        )
    roles = _roles(
        "pelvis",
        "neck",
        "head",
        {
            s: [
                f"{side}_{b}"
                for b in ("collar", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "foot")
            ]
            for s, _, side in SIDES
        },
    )
    return Rig(
        "SmplBody",
        bones,
        "y_up",
        1.0,
        (0.0, -3.0, 0.0),
        (90.0, 0.0, 150.0),
        1.0,
        150.0,
        "smpl",
        roles,
    )


def vrm():
    """VRM humanoid bones as VRoid exports them (J_Bip_C_Hips, J_Bip_L_UpperLeg, ...): a short
    anime proportion (big head, short torso), T-pose, turned 45 degrees about Z."""
    lay = Layout(
        pelvis_width=0.08,
        thigh=0.36,
        shin=0.35,
        toe_length=0.1,
        spine=[0.08, 0.09, 0.08],
        neck=[0.08],
        head=0.26,
        upper_arm=0.21,
        forearm=0.19,
        hand=0.14,
        clavicle_length=0.09,
    )
    p = lay.points()
    b = "J_Bip_"
    bones = []
    _chain(bones, [b + "C_Hips"], p, ["hips"], None, "spine0")
    chest = _chain(
        bones,
        [b + "C_Spine", b + "C_Chest", b + "C_UpperChest"],
        p,
        ["spine0", "spine1", "spine2"],
        b + "C_Hips",
        "neck0",
    )
    _chain(bones, [b + "C_Neck", b + "C_Head"], p, ["neck0", "head"], chest, "head_end")
    bones.append(
        (
            "J_Adj_L_FaceEye",
            b + "C_Head",
            _add(p["head"], (0.03, 0.08, 0.08)),
            _add(p["head"], (0.03, 0.08, 0.1)),
        )
    )
    for s, _, _ in SIDES:
        hand = _chain(
            bones,
            [b + f"{s}_Shoulder", b + f"{s}_UpperArm", b + f"{s}_LowerArm", b + f"{s}_Hand"],
            p,
            [f"shoulder_{s}", f"upper_arm_{s}", f"forearm_{s}", f"hand_{s}"],
            chest,
            f"hand_end_{s}",
        )
        bones.append(
            (
                b + f"{s}_Index1",
                hand,
                p[f"index_{s}"],
                _lerp(p[f"index_{s}"], p[f"hand_end_{s}"], 0.4),
            )
        )
        bones.append(
            (b + f"{s}_Thumb1", hand, p[f"thumb_{s}"], _add(p[f"thumb_{s}"], (0.0, -0.01, 0.03)))
        )
        _chain(
            bones,
            [b + f"{s}_UpperLeg", b + f"{s}_LowerLeg", b + f"{s}_Foot", b + f"{s}_ToeBase"],
            p,
            [f"thigh_{s}", f"shin_{s}", f"foot_{s}", f"toe_{s}"],
            b + "C_Hips",
            f"toe_end_{s}",
        )
    roles = _roles(
        b + "C_Hips",
        b + "C_Neck",
        b + "C_Head",
        {
            s: [
                b + f"{s}_{n}"
                for n in (
                    "Shoulder",
                    "UpperArm",
                    "LowerArm",
                    "Hand",
                    "UpperLeg",
                    "LowerLeg",
                    "Foot",
                    "ToeBase",
                )
            ]
            for s, _, _ in SIDES
        },
    )
    return Rig(
        "VrmModel", bones, "z_up", 1.0, (1.0, 1.5, 0.0), (0.0, 0.0, 45.0), 1.0, 45.0, "vrm", roles
    )


def opaque():
    """The Mixamo rig's topology with names that say nothing (bn_00, bn_01, ... in Mixamo's
    order), Z-up metres, child-sized (object scale 0.6), turned 180 degrees about Z."""
    source = mixamo()
    rename = {bone[0]: f"bn_{i:02d}" for i, bone in enumerate(source.bones)}
    bones = [(rename[n], rename.get(parent), h, t) for n, parent, h, t in source.bones]
    roles = {role: rename[bone] for role, bone in source.roles.items()}
    return Rig(
        "OpaqueRig",
        bones,
        "z_up",
        1.0,
        (-2.0, 3.0, 0.0),
        (0.0, 0.0, 180.0),
        0.6,
        180.0,
        "topology",
        roles,
    )


RIGS = {rig.name: rig for rig in (mixamo(), unreal(), rigify(), smpl(), vrm(), opaque())}
LONG_LEGS = long_legs()  # not in RIGS: its legs cannot follow the source's within 6 degrees

# Not humanoids: a tail of five bones, and a single bone.
TAIL_BONES = [
    (
        f"tail_{i}",
        f"tail_{i - 1}" if i else None,
        (0.0, 0.3 * i, 0.5),
        (0.0, 0.3 * (i + 1), 0.5),
        10.0 * i,
        bool(i),
    )
    for i in range(5)
]
STICK_BONES = [("stick", None, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 30.0, False)]


def blend_rigs():
    """`rigs.build_blend` entries for every rig of RIGS, LONG_LEGS and the two that are not
    humanoids."""
    rigs = [
        (rig.name, rig.blender_bones(), rig.location, rig.rotation, (rig.scale,) * 3)
        for rig in [*RIGS.values(), LONG_LEGS]
    ]
    rigs.append(("Tail", TAIL_BONES, (5.0, 5.0, 0.0), (0.0, 0.0, 0.0), (1.0,) * 3))
    rigs.append(("Stick", STICK_BONES, (6.0, 5.0, 0.0), (0.0, 0.0, 0.0), (1.0,) * 3))
    return rigs


# ---------------------------------------------------------------------------------------
# Source skeletons: the same roles on the models' skeletons

SOMA_ROLES = _roles(
    "Hips",
    "Neck1",
    "Head",
    {
        s: [
            f"{side}{b}"
            for b in ("Shoulder", "Arm", "ForeArm", "Hand", "Leg", "Shin", "Foot", "ToeBase")
        ]
        for s, side, _ in SIDES
    },
)
PROCEDURAL_ROLES = _roles(
    "Hips",
    "Neck",
    "Head",
    {
        s: [
            f"{side}{b}"
            for b in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")
        ]
        for s, side, _ in SIDES
    },
)

# The segments checked: (name, from role, to role). A segment runs between joint heads, so
# twist bones in between do not matter.
SEGMENTS = [("torso", "hips", "neck"), ("neck", "neck", "head")]
for _s in ("L", "R"):
    SEGMENTS += [
        (f"clavicle_{_s}", f"shoulder_{_s}", f"upper_arm_{_s}"),
        (f"upper_arm_{_s}", f"upper_arm_{_s}", f"forearm_{_s}"),
        (f"forearm_{_s}", f"forearm_{_s}", f"hand_{_s}"),
        (f"thigh_{_s}", f"thigh_{_s}", f"shin_{_s}"),
        (f"shin_{_s}", f"shin_{_s}", f"foot_{_s}"),
        (f"foot_{_s}", f"foot_{_s}", f"toe_{_s}"),
    ]
LEG_SEGMENTS = {n for n, _, _ in SEGMENTS if n.split("_")[0] in ("thigh", "shin", "foot")}
JOINT_MAP_ROLES = ["hips", "head"] + [
    f"{r}_{s}"
    for s in ("L", "R")
    for r in ("upper_arm", "forearm", "hand", "thigh", "shin", "foot")
]

# ---------------------------------------------------------------------------------------
# Reference math (MMCP coordinates: Y-up metres)


def rest_positions(skeleton):
    """{joint: world rest position} of an MMCP skeleton (world-aligned offsets, parents first)."""
    out = {}
    for joint in skeleton["joints"]:
        parent = joint["parent"]
        base = out[parent] if parent is not None else (0.0, 0.0, 0.0)
        out[joint["name"]] = _add(base, joint["rest_translation"])
    return out


def heading_degrees(rest, roles):
    """The facing of a skeleton in its rest pose, degrees about +Y from +Z: forward is the
    character's left (left thigh minus right thigh) crossed with up."""
    lx, _, lz = _sub(rest[roles["thigh_L"]], rest[roles["thigh_R"]])
    # (lx, 0, lz) x (0, 1, 0) = (-lz, 0, lx)
    return math.degrees(math.atan2(-lz, lx))


def rotate_y(v, degrees):
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return (c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2])


def hip_height(rest, roles):
    """The hip joints' (thigh heads') height above the lowest rest joint: where the legs begin,
    the same place in every convention, unlike the hips bone (main's choice, in
    src/motion/retarget/transfer.rs `hip_height`)."""
    joints = (rest[roles["thigh_L"]][1] + rest[roles["thigh_R"]][1]) / 2
    return joints - min(p[1] for p in rest.values())


def direction(a, b):
    d = _sub(b, a)
    n = math.sqrt(sum(c * c for c in d))
    return tuple(c / n for c in d)


def angle_degrees(u, v):
    dot = sum(a * b for a, b in zip(u, v))
    return math.degrees(math.acos(max(-1.0, min(1.0, dot))))


@dataclass
class ReferenceFrame:
    """How a source skeleton's motion lands on a rig: heading, scale, start, grounds."""

    heading: float
    scale: float
    start: tuple  # the rig's hips rest position
    ground_rig: float
    ground_source: float

    @classmethod
    def of(cls, source_rest, source_roles, rig_rest, rig_roles):
        return cls(
            heading=heading_degrees(rig_rest, rig_roles)
            - heading_degrees(source_rest, source_roles),
            scale=hip_height(rig_rest, rig_roles) / hip_height(source_rest, source_roles),
            start=rig_rest[rig_roles["hips"]],
            ground_rig=min(p[1] for p in rig_rest.values()),
            ground_source=min(p[1] for p in source_rest.values()),
        )

    def hips(self, source_hips, source_hips_0):
        """Where the rig's hips should be when the source's are at `source_hips`."""
        dx, _, dz = rotate_y(_sub(source_hips, source_hips_0), self.heading)
        y = self.ground_rig + self.scale * (source_hips[1] - self.ground_source)
        return (self.start[0] + self.scale * dx, y, self.start[2] + self.scale * dz)

    def forward(self):
        return rotate_y((0.0, 0.0, 1.0), self.heading)
