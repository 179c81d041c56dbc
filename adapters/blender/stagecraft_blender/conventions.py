"""Coordinate conventions, converted at the adapter boundary.

Bridge object transforms: Y-up, centimetres, Euler XYZ in degrees (world space).
MMCP skeletons and motion: Y-up, metres, quaternions [x, y, z, w].
Blender: Z-up, metres, radians, quaternions (w, x, y, z).

The basis change S maps bridge/MMCP axes to Blender axes: +X -> +X, +Y -> +Z, +Z -> -Y
(docs/mmcp.md#axes-and-applying-a-take). It is a proper rotation (90 degrees about X), so rotations convert by
conjugation, R_blender = S R_yup S^T, which on a quaternion permutes the vector part the
same way positions are permuted.
"""

import math

from mathutils import Euler, Matrix, Quaternion, Vector

CM_PER_M = 100.0

# Columns are the images of the Y-up basis vectors in Blender axes.
S = Matrix(((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0)))


def pos_to_yup(v):
    """Blender (x, y, z) -> Y-up (x, z, -y); same units."""
    return (v[0], v[2], -v[1])


def pos_from_yup(v):
    """Y-up (x, y, z) -> Blender (x, -z, y); same units."""
    return Vector((v[0], -v[2], v[1]))


def quat_to_yup(q):
    """Blender Quaternion -> MMCP [x, y, z, w]."""
    return [q.x, q.z, -q.y, q.w]


def quat_from_yup(xyzw):
    """MMCP [x, y, z, w] -> Blender Quaternion (w, x, y, z)."""
    x, y, z, w = xyzw
    return Quaternion((w, x, -z, y))


def world_to_bridge(matrix_world):
    """A Blender world matrix -> bridge ObjectTransform (Y-up, cm, Euler XYZ degrees)."""
    loc, rot, scale = matrix_world.decompose()
    rot_yup = Quaternion((rot.w, rot.x, rot.z, -rot.y))
    euler = rot_yup.to_euler("XYZ")
    return {
        "translate": [c * CM_PER_M for c in pos_to_yup(loc)],
        "rotate": [math.degrees(a) for a in euler],
        # S^T diag(sx, sy, sz) S = diag(sx, sz, sy): the Y-up axes see Blender's Z and Y scale.
        "scale": [scale[0], scale[2], scale[1]],
    }


def bridge_to_world(translate, rotate, scale):
    """Bridge translate (cm) / rotate (deg, XYZ) / scale, all Y-up -> a Blender world matrix."""
    loc = pos_from_yup([c / CM_PER_M for c in translate])
    q = Euler([math.radians(a) for a in rotate], "XYZ").to_quaternion()
    rot = Quaternion((q.w, q.x, -q.z, q.y))
    return Matrix.LocRotScale(loc, rot, Vector((scale[0], scale[2], scale[1])))


def bbox_to_bridge(points):
    """World-space Blender points -> BoundingBox {min, max} in Y-up centimetres."""
    conv = [pos_to_yup(p) for p in points]
    lo = [min(p[i] for p in conv) * CM_PER_M for i in range(3)]
    hi = [max(p[i] for p in conv) * CM_PER_M for i in range(3)]
    return {"min": lo, "max": hi}
