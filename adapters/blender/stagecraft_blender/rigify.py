"""Rigify control rigs: the deform skeleton out, MMCP motion in through the FK controls.

A rig made by Rigify's "Generate Rig" deforms with its DEF- bones, and those are not meant to
be posed: each copies a tweak or ORG- bone (Copy Transforms, Stretch To), the ORG- bones copy
the FK or IK controls, and any key written on a DEF bone is overridden by those constraints.
So for such a rig

- `animation.get_skeleton` describes the DEF bones (the skeleton the mesh follows), each
  re-parented to the DEF bone of the nearest ORG- ancestor, since Rigify parents DEF bones
  under ORG- or MCH- bones rather than under each other;
- `animation.apply_motion` on DEF joint names switches the limbs to FK (`IK_FK` = 1 on the
  `*_parent` controls) and keys the FK controls (`torso`, `spine_fk*`, `neck`, `head`,
  `shoulder`, `upper_arm_fk`, `forearm_fk`, `hand_fk`, `thigh_fk`, `shin_fk`, `foot_fk`,
  `toe_fk`, and the finger controls) so that the DEF heads land on the MMCP forward
  kinematics.

How a control's pose is found. MMCP rotations are local rotations from a world-aligned rest
(see `methods/animation.py`), so a joint's global MMCP rotation G, taken to armature space,
turns the whole rest pose of everything it carries rigidly. A control that carries joint j is
therefore posed as G_j · rest (in armature space), with its head placed so that the joint it is
pinned to lands on its FK position; its local pose (the keys) is that target seen from its
parent, pose = parent pose · rest offset · local, as Blender composes bones.

Its parent is one of Rigify's MCH bones, some with constraints that blend other controls in
(the spine's half hips/chest rotations, the neck and head following the torso). Rather than
re-deriving each of those, the rig is evaluated in three probe poses of the controls: a control
whose parent pose is always another control's pose times the same matrix (the limbs, the
spine) gets its parent computed from that; the others (`neck`, `head` on the human metarig)
read their parent from a depsgraph evaluation once the controls above them are set. That is
two evaluations per frame on the human metarig (about 6.5 s for 300 frames on its 706-bone
rig, whatever the number of joints in the take), and the first frame is checked against a full
evaluation so a misread rig fails loudly instead of keying a wrong take.

Limb bones that Rigify splits into segments (`DEF-thigh.L`, `DEF-thigh.L.001`) are one FK
control: the control takes the first segment's rotation, aimed at the next joint's FK position
(`DEF-shin.L`), and the in-between segment's rotation is folded into it. That is exact when the
take leaves those segments at identity (what a retargeter mapping humanoid roles does); the
in-between heads are otherwise approximated, and the result lists those joints as folded.
"""

import math
from array import array

import bpy
from mathutils import Matrix, Quaternion, Vector

from .conventions import pos_from_yup, quat_from_yup
from .protocol import scene_error

DEF, ORG = "DEF-", "ORG-"

# (control names, newest first; the DEF joint whose rotation the control carries; the DEF joint
# its head is pinned to; the DEF joint its chain must reach, segments in between folded).
_BODY = [
    (("torso",), "DEF-spine", "DEF-spine.002", None),
    (("spine_fk.001",), "DEF-spine.001", "DEF-spine.002", None),
    (("spine_fk",), "DEF-spine", "DEF-spine.001", None),
    (("spine_fk.002",), "DEF-spine.002", "DEF-spine.002", None),
    (("spine_fk.003",), "DEF-spine.003", "DEF-spine.003", None),
    (("neck",), "DEF-spine.004", "DEF-spine.004", "DEF-spine.006"),
    (("head",), "DEF-spine.006", "DEF-spine.006", None),
]
_LIMB = [
    (("shoulder{}",), "DEF-shoulder{}", "DEF-shoulder{}", None),
    (("upper_arm_fk{}",), "DEF-upper_arm{}", "DEF-upper_arm{}", "DEF-forearm{}"),
    (("forearm_fk{}",), "DEF-forearm{}", "DEF-forearm{}", "DEF-hand{}"),
    (("hand_fk{}",), "DEF-hand{}", "DEF-hand{}", None),
    (("thigh_fk{}",), "DEF-thigh{}", "DEF-thigh{}", "DEF-shin{}"),
    (("shin_fk{}",), "DEF-shin{}", "DEF-shin{}", "DEF-foot{}"),
    (("foot_fk{}",), "DEF-foot{}", "DEF-foot{}", "DEF-toe{}"),
    # Rigify before 2.9x named the FK toe control `toe.L`.
    (("toe_fk{}", "toe{}"), "DEF-toe{}", "DEF-toe{}", None),
]
# The IK/FK switch of each limb: a custom property on the limb's parent control, 1.0 = FK.
_SWITCHES = [("upper_arm_parent{}", "IK_FK"), ("thigh_parent{}", "IK_FK")]
_SIDES = (".L", ".R")
# Finger FK controls share their DEF bone's name (`f_index.01.L` moves `DEF-f_index.01.L`).
# They are optional: a rig whose fingers came from another feature set still takes the body.
_FINGERS = ("thumb", "f_index", "f_middle", "f_ring", "f_pinky")


def _drive_table():
    """[(control names, joint, anchor, aim, required)] for both sides."""
    rows = [row + (True,) for row in _BODY]
    for side in _SIDES:
        for names, joint, anchor, aim in _LIMB:
            rows.append(
                (
                    tuple(n.format(side) for n in names),
                    joint.format(side),
                    anchor.format(side),
                    aim.format(side) if aim else None,
                    True,
                )
            )
        for finger in _FINGERS:
            for k in (1, 2, 3):
                bone = f"{finger}.0{k}{side}"
                rows.append(((bone,), DEF + bone, DEF + bone, None, False))
    return rows


def is_control_rig(arm):
    """A Rigify-generated rig: `rig_id` on the armature data (Rigify writes it for its UI
    script) and the DEF-/ORG- bone layers that come with generation."""
    if not isinstance(arm.data.get("rig_id"), str):
        return False
    names = [b.name for b in arm.data.bones]
    return any(n.startswith(DEF) for n in names) and any(n.startswith(ORG) for n in names)


def names_deform_bones(arm, names):
    """Whether a take addresses the DEF bones (else it keys whatever bones it names)."""
    bones = arm.data.bones
    return any(n.startswith(DEF) and n in bones for n in names)


def deform_parents(arm):
    """{DEF bone: its skeleton parent}: the nearest ancestor that is a DEF bone, or an ORG-
    bone whose DEF twin (ORG-spine -> DEF-spine) is another bone. Rigify parents DEF bones
    under ORG-/MCH- bones, so the plain "nearest deform ancestor" would leave most of them
    as roots."""
    deform = [b for b in arm.data.bones if b.name.startswith(DEF)]
    names = {b.name for b in deform}
    parent_of = {}
    for bone in deform:
        parent = None
        node = bone.parent
        while node is not None and parent is None:
            if node.name in names:
                parent = node.name
            elif node.name.startswith(ORG):
                twin = DEF + node.name[len(ORG) :]
                if twin in names and twin != bone.name:
                    parent = twin
            node = node.parent
        parent_of[bone.name] = parent
    return parent_of


# ---------------------------------------------------------------------------------------
# apply_motion


class Plan:
    """What `solve` found: per-control F-curve channels, ready to be written in bulk."""

    def __init__(self):
        self.channels = []  # (data path, index, group, values)
        self.switches = []  # (data path, group): keyed at 1.0 (FK)
        self.controls = []
        self.joints_applied = []
        self.joints_folded = []
        self.joints_skipped = []
        self.first_frame_error_m = 0.0


def _controls(arm, skeleton):
    """The drive table resolved on this rig: [(pose bone, joint, anchor, aim)].

    A DEF joint the rig has whose control is missing means a Rigify version or feature set
    this adapter does not know: that is an error, not a silently half-applied take."""
    pose = arm.pose.bones
    rows, missing = [], []
    for names, joint, anchor, aim, required in _drive_table():
        if joint not in skeleton:
            continue  # this rig was generated without that part (no toes, no neck...)
        pb = next((pose[n] for n in names if n in pose), None)
        if pb is None and not required:
            continue  # reported in joints_skipped
        if pb is None:
            missing.append({"joint": joint, "control": names[0]})
            continue
        if anchor not in skeleton:
            missing.append({"joint": anchor, "control": None})
            continue
        rows.append((pb, joint, anchor, aim if aim in skeleton else None))
    if missing:
        raise scene_error(
            f"{arm.name!r} looks like a Rigify rig but lacks the FK controls or DEF bones the "
            f"adapter drives (a Rigify version or feature set it does not know); nothing applied",
            details={"missing": missing},
        )
    return rows


def _switches(arm):
    out = []
    for control, prop in _SWITCHES:
        for side in _SIDES:
            pb = arm.pose.bones.get(control.format(side))
            if pb is not None and prop in pb.keys():
                out.append((pb, prop))
    return out


def _upstream(arm, pb):
    """Names of the bones whose pose reaches pb through its parents and their constraints'
    targets: pb's own pose can only be set once those are evaluated."""
    pose = arm.pose.bones
    seen = set()
    stack = [pb.parent] if pb.parent else []
    while stack:
        node = stack.pop()
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        stack.append(node.parent)
        for con in node.constraints:
            targets = list(getattr(con, "targets", None) or []) + [con]
            for target in targets:
                if getattr(target, "target", None) == arm and getattr(target, "subtarget", ""):
                    stack.append(pose.get(target.subtarget))
    return seen


def _levels(arm, rows):
    """Rows grouped so that every control comes after the keyed controls it depends on."""
    keyed = {pb.name for pb, *_ in rows}
    deps = {pb.name: _upstream(arm, pb) & keyed for pb, *_ in rows}
    level = {}

    def depth(name, trail=()):
        if name not in level:
            if name in trail:
                raise scene_error(f"Rigify controls depend on each other in a cycle: {trail}")
            level[name] = 1 + max((depth(d, trail + (name,)) for d in deps[name]), default=-1)
        return level[name]

    out = []
    for row in rows:
        n = depth(row[0].name)
        while len(out) <= n:
            out.append([])
        out[n].append(row)
    return out


def _global_pose(order, parent_of, columns, rot, root, t, stride, offsets):
    """World (Blender) rotation and position of every DEF joint at frame t (MMCP FK)."""
    rotation, position = {}, {}
    for name in order:
        j = columns.get(name)
        if j is None:
            local = Quaternion()
        else:
            base = t * stride + 4 * j
            xyzw = rot[base : base + 4]
            # A zero quaternion is identity, as the generic path keys it.
            local = quat_from_yup(xyzw) if sum(c * c for c in xyzw) > 1e-12 else Quaternion()
            local.normalize()
        parent = parent_of[name]
        if parent is None:
            rotation[name] = local
            position[name] = pos_from_yup(root[3 * t : 3 * t + 3])
        else:
            rotation[name] = rotation[parent] @ local
            position[name] = position[parent] + rotation[parent] @ offsets[name]
    return rotation, position


def _probe_parents(arm, levels):
    """{control: (K, C)} for the controls whose parent pose is K's pose times a constant C (K a
    keyed control they depend on, or None when the parent does not move at all), found by
    evaluating the rig in three poses of the keyed controls. Their poses are then computed
    without evaluating the rig; the others (None) read their parent from an evaluation."""
    rows = [row for level in levels for row in level]
    level_of = {row[0].name: depth for depth, level in enumerate(levels) for row in level}
    keyed = set(level_of)
    probes = []
    for probe in range(3):
        for i, (pb, *_) in enumerate(rows):
            if probe:
                axis = Vector((math.cos(i + probe), math.sin(2 * i + probe), 0.5)).normalized()
                pb.rotation_quaternion = Quaternion(axis, 0.3 * probe + 0.05 * i)
                pb.location = (0.01 * probe, -0.02 * probe, 0.005 * (i % 5))
        bpy.context.view_layer.update()
        probes.append({pb.name: (pb.matrix.copy(), _parent_pose(pb)) for pb, *_ in rows})
    models = {}
    for pb, *_ in rows:
        upstream = sorted(_upstream(arm, pb) & keyed, key=lambda n: -level_of[n])
        models[pb.name] = None
        for k in [None] + upstream:
            consts = [
                (p[k][0].inverted_safe() if k else Matrix.Identity(4)) @ p[pb.name][1]
                for p in probes
            ]
            if all(_close(consts[0], c) for c in consts[1:]):
                models[pb.name] = (k, consts[0])
                break
    return models


def _parent_pose(pb):
    return pb.parent.matrix.copy() if pb.parent else Matrix.Identity(4)


def _close(a, b, eps=1e-5):
    return all(abs(a[r][c] - b[r][c]) < eps for r in range(4) for c in range(4))


def _rest_offset(pb):
    """The bone's rest matrix relative to its parent's: pose = parent pose · this · basis."""
    bone = pb.bone
    if bone.parent is None:
        return bone.matrix_local.copy()
    return bone.parent.matrix_local.inverted_safe() @ bone.matrix_local


def solve(arm, order, parent_of, names, rot, root, count, req):
    """Finds the FK control poses that put the DEF joints on the MMCP FK, frame by frame."""
    skeleton = set(order)
    rows = _controls(arm, skeleton)
    if order[0] != names[0]:
        raise scene_error(
            f"joint 0 of joint_names takes root_positions and must be the rig's root "
            f"{order[0]!r}, got {names[0]!r}"
        )
    plan = Plan()
    columns = {n: j for j, n in enumerate(names) if n in skeleton}
    carried = {joint for _, joint, _, _ in rows}
    folded = set()
    for pb, joint, anchor, aim in rows:
        node = parent_of.get(aim) if aim else None
        while node is not None and node != joint:
            folded.add(node)
            node = parent_of.get(node)
    plan.joints_applied = [n for n in names if n in carried]
    plan.joints_folded = [n for n in names if n in folded]
    plan.joints_skipped = [n for n in names if n not in carried and n not in folded]
    plan.controls = [pb.name for pb, *_ in rows]

    world = arm.matrix_world.copy()
    world_inv = world.inverted_safe()
    world_quat = world.to_quaternion()
    world_quat_inv = world_quat.inverted()
    bones = arm.data.bones
    heads = {n: Vector(bones[n].head_local) for n in order}
    offsets = {
        n: (world @ heads[n]) - (world @ heads[parent_of[n]])
        for n in order
        if parent_of[n] is not None
    }
    levels = _levels(arm, rows)
    rest = {pb.name: pb.bone.matrix_local.to_quaternion() for pb, *_ in rows}
    rest_offset = {pb.name: _rest_offset(pb) for pb, *_ in rows}

    ad = arm.animation_data or arm.animation_data_create()
    previous = (ad.action, getattr(ad, "action_slot", None))
    saved = {pb.name: (pb.rotation_mode, pb.matrix_basis.copy()) for pb, *_ in rows}
    switches = _switches(arm)
    saved_switches = [(pb, prop, pb[prop]) for pb, prop in switches]
    quats = {pb.name: [array_f(count) for _ in range(4)] for pb, *_ in rows}
    locs = {pb.name: [array_f(count) for _ in range(3)] for pb, *_ in rows}
    # The take's own pose must not be overridden by the previous action while solving.
    ad.action = None
    try:
        for pb, prop in switches:
            pb[prop] = 1.0
        for pb, *_ in rows:
            pb.rotation_mode = "QUATERNION"
        models = _probe_parents(arm, levels)
        for pb, *_ in rows:
            pb.matrix_basis = saved[pb.name][1]
        bpy.context.view_layer.update()
        stride = 4 * len(names)
        for t in range(count):
            if t % 20 == 0:
                req.check_cancelled()
                req.progress(t, count, "solving Rigify controls")
            rotation, position = _global_pose(
                order, parent_of, columns, rot, root, t, stride, offsets
            )
            posed = {}  # control -> its armature-space pose this frame
            dirty = False
            for level in levels:
                if dirty and any(models[pb.name] is None for pb, *_ in level):
                    bpy.context.view_layer.update()
                    dirty = False
                for pb, joint, anchor, aim in level:
                    # The joint's rotation, in armature space, turns the control's rest.
                    turn = world_quat_inv @ rotation[joint] @ world_quat
                    anchor_at = world_inv @ position[anchor]
                    if aim is not None:
                        reach = world_inv @ position[aim] - anchor_at
                        turn = _aimed(turn, heads[aim] - heads[anchor], reach)
                    head = anchor_at + turn @ (pb.bone.head_local - heads[anchor])
                    target = Matrix.LocRotScale(head, turn @ rest[pb.name], None)
                    model = models[pb.name]
                    if model is None:
                        parent = _parent_pose(pb)
                    else:
                        k, const = model
                        parent = posed[k] @ const if k else const
                    base = parent @ rest_offset[pb.name]
                    loc, q, _ = (base.inverted_safe() @ target).decompose()
                    if pb.bone.use_connect:
                        loc = Vector()  # a connected bone's location does nothing in Blender
                    posed[pb.name] = base @ Matrix.LocRotScale(loc, q, None)
                    pb.location, pb.rotation_quaternion = loc, q
                    dirty = True
                    qs, ls = quats[pb.name], locs[pb.name]
                    # Neighbouring keys on one hemisphere: F-curves interpolate per component.
                    before = Quaternion([qs[i][t - 1] for i in range(4)]) if t else q
                    if q.dot(before) < 0:
                        q = -q
                    qs[0][t], qs[1][t], qs[2][t], qs[3][t] = q.w, q.x, q.y, q.z
                    ls[0][t], ls[1][t], ls[2][t] = loc
            if t == 0:
                _check_first_frame(arm, rows, posed)
                plan.first_frame_error_m = _head_error(arm, carried, position, world)
    except BaseException:
        for pb, prop, value in saved_switches:
            pb[prop] = value
        for pb, *_ in rows:
            pb.rotation_mode, pb.matrix_basis = saved[pb.name]
        raise
    finally:
        ad.action = previous[0]
        if previous[1] is not None and previous[0] is not None:
            ad.action_slot = previous[1]

    for pb, *_ in rows:
        rot_path = pb.path_from_id("rotation_quaternion")
        for i, values in enumerate(quats[pb.name]):
            plan.channels.append((rot_path, i, pb.name, values))
        if not pb.bone.use_connect:
            loc_path = pb.path_from_id("location")
            for i, values in enumerate(locs[pb.name]):
                plan.channels.append((loc_path, i, pb.name, values))
    plan.switches = [(pb.path_from_id(f'["{prop}"]'), pb.name) for pb, prop in switches]
    return plan


def _aimed(turn, rest_dir, want_dir):
    """turn, swung so that the rest direction rest_dir ends along want_dir: a control spanning
    several DEF segments reaches the joint after the last one (segment rotations folded)."""
    posed_dir = turn @ rest_dir
    if posed_dir.length < 1e-9 or want_dir.length < 1e-9:
        return turn
    return posed_dir.rotation_difference(want_dir) @ turn


def _head_error(arm, joints, position, world):
    """The largest distance (world metres) between an evaluated DEF head and its FK position:
    what the user's other controls (posed tweaks, say) leave of the match, on one frame."""
    pose = arm.pose.bones
    return max((((world @ pose[j].head) - position[j]).length for j in joints), default=0.0)


def _check_first_frame(arm, rows, posed):
    """The poses computed without evaluating the rig are what Blender evaluates: checked once,
    on the first frame, so a rig whose parenting the probes misread fails loudly."""
    bpy.context.view_layer.update()
    wrong = [pb.name for pb, *_ in rows if not _close(pb.matrix, posed[pb.name], 1e-4)]
    if wrong:
        raise scene_error(
            f"{arm.name!r}: the Rigify controls {wrong} do not follow their parents the way "
            "the adapter computed; nothing applied",
            details={"controls": wrong},
        )


def folded_angle(names, folded, rot, count):
    """The largest local rotation (degrees) the take gives a folded segment joint."""
    stride = 4 * len(names)
    worst = 0.0
    for name in folded:
        j = names.index(name)
        for t in range(count):
            w = abs(rot[t * stride + 4 * j + 3])
            n = math.sqrt(sum(c * c for c in rot[t * stride + 4 * j : t * stride + 4 * j + 4]))
            if n > 1e-6:
                worst = max(worst, math.degrees(2 * math.acos(min(1.0, w / n))))
    return worst


def array_f(count):
    return array("f", bytes(4 * count))
