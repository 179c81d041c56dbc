"""animation.*: MMCP skeletons out of armatures, MMCP motion into actions, poses back out.

The rig math (docs/bridge-protocol.md#animationapply_motion). MMCP joint rotations are local rotations from a
world-aligned rest (identity rest rotations, Y-up). Blender pose rotations are expressed in
each bone's rest frame, in armature space. For a joint mapped to bone b:

    R_bone = B^T · (S · R_mmcp · S^T) · B
    B = rot(armature.matrix_world) · rot(bone.matrix_local)

By induction down the chain the posed bone orientation is (product of converted MMCP
rotations) · rest, whatever the bone roll or armature rotation, and the posed heads follow
the MMCP forward kinematics. Conjugating a quaternion by a rotation keeps w and rotates the
vector part, so per joint the whole conversion is one constant 3×3 matrix K = B^T · S acting
on (x, y, z): cheap enough to run per key in plain Python for mocap-sized takes.
"""

import math
from array import array

import bpy
from mathutils import Vector

from .. import rigify
from ..conventions import S, pos_to_yup
from ..protocol import (
    check_number,
    decode_f32,
    get_bool,
    get_int,
    get_number,
    get_str,
    get_str_list,
    invalid,
    scene_error,
)
from .common import find_object
from .scene import scene_fps

# Blender's frame numbers stop here (MAXFRAME).
MAX_FRAME = 1048574
# Enum value of 'LINEAR' in FCurve keyframe interpolation (CONSTANT=0, LINEAR=1, BEZIER=2).
_LINEAR = 1


def _armature(params):
    obj = find_object(get_str(params, "armature", required=True), "armature")
    if obj.type != "ARMATURE":
        raise scene_error(f"{obj.name!r} is a {obj.type.lower()}, not an armature")
    return obj


def _short(name):
    """Drops namespace prefixes: 'mixamorig:Hips' and 'rig|Hips' both become 'Hips'."""
    return name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]


class _BoneIndex:
    """Tolerant joint-name -> bone lookup: exact, then without namespace, then any case."""

    def __init__(self, bones):
        self.exact = {b.name: b for b in bones}
        self.short, self.folded = {}, {}
        for b in bones:
            self.short.setdefault(_short(b.name), b)
            self.folded.setdefault(_short(b.name).casefold(), b)

    def find(self, name):
        return (
            self.exact.get(name)
            or self.short.get(_short(name))
            or self.folded.get(_short(name).casefold())
        )


def _skeleton_bones(arm):
    """Bones emitted as joints with their parents, parents first: a Rigify control rig's DEF
    bones (see rigify.py), else the deform bones when the rig marks some, else all bones."""
    if rigify.is_control_rig(arm):
        parent_of = rigify.deform_parents(arm)
    else:
        parent_of = _deform_parents(arm)
    # Parents first, breadth-first (MMCP requires every parent to come earlier).
    order, frontier = [], [n for n in parent_of if parent_of[n] is None]
    children = {}
    for name, parent in parent_of.items():
        children.setdefault(parent, []).append(name)
    while frontier:
        order.extend(frontier)
        frontier = [c for n in frontier for c in children.get(n, [])]
    return order, parent_of


def _deform_parents(arm):
    bones = list(arm.data.bones)
    deform = [b for b in bones if b.use_deform]
    chosen = set(b.name for b in (deform or bones))
    parent_of = {}
    for b in bones:
        if b.name not in chosen:
            continue
        p = b.parent
        while p is not None and p.name not in chosen:
            p = p.parent  # a control/helper bone in between: skip to the nearest kept ancestor
        parent_of[b.name] = p.name if p is not None else None
    return parent_of


def list_armatures(params, req):
    out = []
    for obj in sorted(bpy.context.scene.objects, key=lambda o: o.name):
        if obj.type == "ARMATURE":
            ad = obj.animation_data
            out.append(
                {
                    "name": obj.name,
                    "joints": len(obj.data.bones),
                    "action": ad.action.name if ad and ad.action else None,
                }
            )
    return out


def get_skeleton(params, req):
    arm = _armature(params)
    bpy.context.view_layer.update()
    order, parent_of = _skeleton_bones(arm)
    roots = [n for n in order if parent_of[n] is None]
    if not order:
        raise scene_error(f"armature {arm.name!r} has no bones")
    if len(roots) > 1:
        raise scene_error(
            f"armature {arm.name!r} has {len(roots)} root bones; an MMCP skeleton needs one",
            details={"roots": roots},
        )
    world = arm.matrix_world
    heads = {n: world @ arm.data.bones[n].head_local for n in order}
    joints = []
    for name in order:
        parent = parent_of[name]
        offset = heads[name] - heads[parent] if parent else heads[name]
        joints.append(
            {
                "name": name,
                "parent": parent,
                "rest_translation": list(pos_to_yup(offset)),
                "rest_rotation": [0.0, 0.0, 0.0, 1.0],
            }
        )
    skeleton = {"joints": joints, "coordinate_system": "right_handed_y_up", "units": "meters"}
    if rigify.is_control_rig(arm):
        # The joints are the DEF bones; apply_motion keys the FK controls that move them.
        skeleton["rig_type"] = "rigify"
    return skeleton


# ---------------------------------------------------------------------------------------
# apply_motion


def _new_action(name, arm):
    """An empty action plus where its F-curves go: slotted (4.4+, required by 5.0) or legacy."""
    action = bpy.data.actions.new(name)
    if hasattr(action, "slots") and hasattr(action, "layers"):
        slot = action.slots.new(id_type="OBJECT", name=arm.name)
        strip = action.layers.new("Layer").strips.new(type="KEYFRAME")
        bag = strip.channelbag(slot, ensure=True)
        return action, slot, bag.fcurves, bag.groups.new
    return action, None, action.fcurves, None


class _Writer:
    def __init__(self, fcurves, new_group):
        self.fcurves = fcurves
        self.new_group = new_group
        self.groups = {}

    def write(self, path, index, group, frames, values):
        if self.new_group is None:  # Blender <= 4.3
            fc = self.fcurves.new(path, index=index, action_group=group)
        else:
            fc = self.fcurves.new(path, index=index)
            if group not in self.groups:
                self.groups[group] = self.new_group(group)
            fc.group = self.groups[group]
        n = len(frames)
        co = array("f", bytes(8 * n))
        co[0::2] = frames
        co[1::2] = values
        points = fc.keyframe_points
        points.add(n)
        points.foreach_set("co", co)
        points.foreach_set("interpolation", array("i", [_LINEAR]) * n)
        fc.update()


def _matrix_rows(m):
    return [tuple(row) for row in m]


def _rotation_channels(rot, j, count, stride, K, degenerate):
    """Bone-space quaternion channels (w, x, y, z) of joint j over all frames.

    A zero quaternion (no rotation at all) is keyed as identity and its frame noted in
    `degenerate`, as the reference stage adapter does."""
    (k00, k01, k02), (k10, k11, k12), (k20, k21, k22) = _matrix_rows(K)
    w_ch, x_ch, y_ch, z_ch = (array("f", bytes(4 * count)) for _ in range(4))
    px = py = pz = 0.0
    pw = 1.0
    for t in range(count):
        base = t * stride + j * 4
        x, y, z, w = rot[base], rot[base + 1], rot[base + 2], rot[base + 3]
        norm = math.sqrt(x * x + y * y + z * z + w * w)
        if norm < 1e-6:
            degenerate.append(t)
            x, y, z, w = 0.0, 0.0, 0.0, 1.0
        else:
            x, y, z, w = x / norm, y / norm, z / norm, w / norm
        # Keep neighbouring keys on the same hemisphere: F-curves interpolate per component.
        if t and x * px + y * py + z * pz + w * pw < 0.0:
            x, y, z, w = -x, -y, -z, -w
        px, py, pz, pw = x, y, z, w
        w_ch[t] = w
        x_ch[t] = k00 * x + k01 * y + k02 * z
        y_ch[t] = k10 * x + k11 * y + k12 * z
        z_ch[t] = k20 * x + k21 * y + k22 * z
    return w_ch, x_ch, y_ch, z_ch


def _location_channels(points, count, A, c):
    """loc = A · p + c for every frame's 3-vector p (flat array, stride 3)."""
    (a00, a01, a02), (a10, a11, a12), (a20, a21, a22) = _matrix_rows(A)
    c0, c1, c2 = c
    chans = [array("f", bytes(4 * count)) for _ in range(3)]
    for t in range(count):
        x, y, z = points[3 * t], points[3 * t + 1], points[3 * t + 2]
        chans[0][t] = a00 * x + a01 * y + a02 * z + c0
        chans[1][t] = a10 * x + a11 * y + a12 * z + c1
        chans[2][t] = a20 * x + a21 * y + a22 * z + c2
    return chans


def _motion_params(params):
    fps = get_number(params, "fps", required=True)
    if not 0.001 <= fps <= 1000:
        raise invalid(f"parameter 'fps' must be between 0.001 and 1000, got {fps}")
    names = get_str_list(params, "joint_names")
    if not names:
        raise invalid("parameter 'joint_names' must not be empty")
    if len(set(names)) != len(names):
        raise invalid("parameter 'joint_names' has duplicates")
    if "rotations" not in params or "root_positions" not in params:
        raise invalid("parameters 'rotations' and 'root_positions' are required")
    rot, shape = decode_f32(params["rotations"], "rotations", [None, len(names), 4])
    frames = shape[0]
    if frames < 1:
        raise invalid("'rotations' must hold at least one frame")
    root, _ = decode_f32(params["root_positions"], "root_positions", [frames, 3])
    translations = params.get("joint_translations") or {}
    if not isinstance(translations, dict):
        raise invalid("parameter 'joint_translations' must be an object {joint: F32Array}")
    decoded = {}
    for name, value in translations.items():
        if name not in names:
            raise invalid(f"joint_translations names {name!r}, which is not in joint_names")
        decoded[name] = decode_f32(value, f"joint_translations.{name}", [frames, 3])[0]
    start = get_int(params, "start_frame", 1)
    if start < -MAX_FRAME or start + frames - 1 > MAX_FRAME:
        raise invalid(f"the take would end past Blender's last frame ({MAX_FRAME})")
    return fps, names, rot, frames, root, decoded, start


def apply_motion(params, req):
    arm = _armature(params)
    fps, names, rot, count, root, translations, start = _motion_params(params)
    in_place = get_bool(params, "in_place")
    action_name = (get_str(params, "action_name", allow_empty=True) or "").strip()
    action_name = action_name or f"{arm.name}_motion"
    if in_place and count:
        root = array("f", root)
        x0, z0 = root[0], root[2]
        for t in range(count):
            root[3 * t], root[3 * t + 2] = x0, z0  # keep the height, drop the travel
    bpy.context.view_layer.update()
    _warn_non_uniform_scale(arm, req)
    # Take frame i is scene frame start + i, and the scene plays at the take's rate (what the
    # reference stage adapter does): no resampling, and sample_pose frames line up with FK.
    frames = array("f", (float(start + t) for t in range(count)))
    if rigify.is_control_rig(arm) and rigify.names_deform_bones(arm, names):
        take = (names, rot, count, root, translations, frames, fps)
        return _apply_rigify(arm, take, action_name, req)

    index = _BoneIndex(arm.pose.bones)
    matched, skipped, used = [], [], set()
    for j, name in enumerate(names):
        pb = index.find(name)
        if pb is None or pb.name in used:
            skipped.append(name)
            continue
        used.add(pb.name)
        matched.append((j, name, pb))
    if not matched:
        raise scene_error(
            f"none of the {len(names)} joints matches a bone of {arm.name!r}",
            details={"joints_skipped": skipped, "bones": [b.name for b in arm.pose.bones][:200]},
        )

    if skipped:
        req.log("warning", f"{arm.name}: no bones for joints {skipped}; they were skipped")
    world = arm.matrix_world.copy()
    world_rot = world.to_quaternion().to_matrix()
    world_inv = world.inverted_safe()
    world_inv3 = world_inv.to_3x3()
    stride = len(names) * 4
    locked, degenerate = [], []

    def write(writer):
        for step, (j, name, pb) in enumerate(matched):
            req.check_cancelled()
            if step % 10 == 0:
                req.progress(step, len(matched), f"keying {pb.name}")
            bone = pb.bone
            rest = bone.matrix_local.to_3x3()
            rest.normalize()
            K = (world_rot @ rest).transposed() @ S
            channels = _rotation_channels(rot, j, count, stride, K, degenerate)
            path = pb.path_from_id("rotation_quaternion")
            for i, values in enumerate(channels):
                writer.write(path, i, pb.name, frames, values)
            pb.rotation_mode = "QUATERNION"

            head = Vector(bone.head_local)
            if j == 0 or (name in translations and bone.parent is None):
                # World position of the joint -> armature space -> bone rest frame.
                points = root if j == 0 else translations[name]
                A = rest.transposed() @ world_inv3 @ S
                c = rest.transposed() @ (world_inv.translation - head)
            elif name in translations:
                # Parent-relative MMCP offset: location = rest^T · (W^-1 S t - (h - h_parent)).
                points = translations[name]
                A = rest.transposed() @ world_inv3 @ S
                c = -(rest.transposed() @ (head - Vector(bone.parent.head_local)))
            else:
                continue
            if bone.use_connect:
                # Blender ignores pose location on connected bones: say so instead.
                locked.append(name)
                continue
            loc_path = pb.path_from_id("location")
            for i, values in enumerate(_location_channels(points, count, A, c)):
                writer.write(loc_path, i, pb.name, frames, values)

    action = _write_take(arm, action_name, write)
    if degenerate:
        req.log("warning", f"{len(degenerate)} zero quaternions were keyed as identity")
    _show_take(fps, frames)
    req.progress(len(matched), len(matched), "done")
    driven = {pb.name for _, _, pb in matched}
    return {
        "action": action.name,
        "frame_start": int(frames[0]),
        "frame_end": int(frames[-1]),
        # Rig names, in take order (a take's "Hips" applied to "mixamorig:Hips" says the latter).
        "joints_applied": [pb.name for _, _, pb in matched],
        "joints_skipped": skipped,
        "translations_ignored": locked,
        "bones_not_driven": [b.name for b in arm.pose.bones if b.name not in driven],
    }


def _apply_rigify(arm, take, action_name, req):
    """A take on a Rigify control rig's DEF joints, keyed on its FK controls (rigify.py)."""
    names, rot, count, root, translations, frames, fps = take
    order, parent_of = _skeleton_bones(arm)
    plan = rigify.solve(arm, order, parent_of, names, rot, root, count, req)

    def write(writer):
        for path, index, group, values in plan.channels:
            writer.write(path, index, group, frames, values)
        for path, group in plan.switches:
            writer.write(path, 0, group, frames[:1], array("f", [1.0]))

    action = _write_take(arm, action_name, write)
    _show_take(fps, frames)
    if plan.joints_skipped:
        req.log(
            "warning",
            f"{arm.name}: no FK control drives joints {plan.joints_skipped}; they were skipped",
        )
    if plan.first_frame_error_m > 1e-3:
        req.log(
            "warning",
            f"{arm.name}: DEF joints end {plan.first_frame_error_m:.4f} m off the take on its "
            "first frame (posed tweak controls? turned segment joints?)",
        )
    bent = rigify.folded_angle(names, plan.joints_folded, rot, count)
    if bent > 0.5:
        req.log(
            "warning",
            f"{arm.name}: segment joints {plan.joints_folded} turn up to {bent:.1f} degrees in "
            "the take; their limb's one FK control moves them, so their heads are approximate",
        )
    req.progress(count, count, "done")
    return {
        "action": action.name,
        "frame_start": int(frames[0]),
        "frame_end": int(frames[-1]),
        "rig_type": "rigify",
        "joints_applied": plan.joints_applied,
        "joints_folded": plan.joints_folded,
        "joints_skipped": plan.joints_skipped,
        "controls_keyed": plan.controls,
        "fk_switches": [group for _, group in plan.switches],
        # Measured on the evaluated rig: how far the carried DEF joints are from the take.
        "first_frame_error_m": plan.first_frame_error_m,
        # DEF bones follow their controls: a per-joint translation has nowhere to go.
        "translations_ignored": [n for n in names if n in translations],
    }


def _warn_non_uniform_scale(arm, req):
    scale = arm.matrix_world.to_scale()
    if max(scale) - min(scale) > 1e-4 * max(scale):
        # Bones cannot shear: under a non-uniform object scale no pose reproduces the take.
        req.log("warning", f"{arm.name} has a non-uniform scale {tuple(scale)}: approximate")


def _write_take(arm, action_name, write):
    """A new action filled by write(writer), made arm's action under action_name.

    An earlier take of the same name is replaced; the previous action, if nothing else uses
    it, keeps a fake user (never lose the user's own animation silently)."""
    ad = arm.animation_data or arm.animation_data_create()
    previous = ad.action
    action, slot, fcurves, new_group = _new_action(action_name + ".stagecraft_tmp", arm)
    try:
        write(_Writer(fcurves, new_group))
    except BaseException:
        bpy.data.actions.remove(action)
        raise
    ad.action = action
    if slot is not None:
        ad.action_slot = slot
    stale = bpy.data.actions.get(action_name)
    if stale is not None and stale.users == 0:
        if stale == previous:
            previous = None
        bpy.data.actions.remove(stale)  # replacing an earlier take of the same name
    action.name = action_name
    if previous is not None and previous.users == 0:
        previous.use_fake_user = True
    return action


def _show_take(fps, frames):
    """The scene plays the take: its fps, a frame range covering it, re-evaluated."""
    scene = bpy.context.scene
    _set_fps(scene, fps)
    scene.frame_end = max(scene.frame_end, int(frames[-1]))
    scene.frame_start = min(scene.frame_start, int(frames[0]))
    scene.frame_set(scene.frame_current)


def sample_pose(params, req):
    arm = _armature(params)
    frames = params.get("frames")
    if not isinstance(frames, list) or not frames:
        raise invalid("parameter 'frames' must be a non-empty array of frame numbers")
    frames = [check_number(f, f"frames[{i}]") for i, f in enumerate(frames)]
    wanted = get_str_list(params, "joint_names", required=False)
    index = _BoneIndex(arm.pose.bones)
    if wanted is None:
        order, _ = _skeleton_bones(arm)
        pairs = [(n, n) for n in order]
    else:
        missing = [n for n in wanted if index.find(n) is None]
        if missing:
            raise scene_error(
                f"armature {arm.name!r} has no bones for joints {missing}",
                details={"missing": missing},
            )
        pairs = [(n, index.find(n).name) for n in wanted]
    scene = bpy.context.scene
    current = (scene.frame_current, scene.frame_subframe)
    out = {joint: [] for joint, _ in pairs}
    try:
        for f in frames:
            whole = math.floor(f)
            scene.frame_set(int(whole), subframe=f - whole)
            # Read the evaluated pose: that is what renders and exports see.
            evaluated = arm.evaluated_get(bpy.context.evaluated_depsgraph_get())
            world = evaluated.matrix_world
            for joint, bone in pairs:
                out[joint].append(list(pos_to_yup(world @ evaluated.pose.bones[bone].head)))
    finally:
        scene.frame_set(current[0], subframe=current[1])
    return out


# ---------------------------------------------------------------------------------------
# frame range


def _set_fps(scene, fps):
    # Blender stores fps as an integer over a base: 29.97 = 30 / 1.001.
    whole = max(1, round(fps))
    scene.render.fps, scene.render.fps_base = whole, whole / fps


def _frame_range():
    scene = bpy.context.scene
    return {
        "start": scene.frame_start,
        "end": scene.frame_end,
        "fps": scene_fps(scene),
        "current": scene.frame_current,
    }


def get_frame_range(params, req):
    return _frame_range()


def set_frame_range(params, req):
    scene = bpy.context.scene
    start = get_number(params, "start")
    end = get_number(params, "end")
    fps = get_number(params, "fps")
    current = get_number(params, "current")
    new_start = int(start) if start is not None else scene.frame_start
    new_end = int(end) if end is not None else scene.frame_end
    if new_start > new_end:
        raise invalid(f"start ({new_start}) must not be after end ({new_end})")
    if fps is not None:
        if not 0.001 <= fps <= 1000:
            raise invalid(f"parameter 'fps' must be between 0.001 and 1000, got {fps}")
        _set_fps(scene, fps)
    # Order matters: Blender clamps end to >= start on assignment.
    scene.frame_end = max(new_end, scene.frame_start)
    scene.frame_start = new_start
    scene.frame_end = new_end
    if current is not None:
        scene.frame_set(int(current))
    return _frame_range()


METHODS = {
    "animation.list_armatures": list_armatures,
    "animation.get_skeleton": get_skeleton,
    "animation.apply_motion": apply_motion,
    "animation.sample_pose": sample_pose,
    "animation.get_frame_range": get_frame_range,
    "animation.set_frame_range": set_frame_range,
}
