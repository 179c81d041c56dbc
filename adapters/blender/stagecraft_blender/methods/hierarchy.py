"""hierarchy.*: parents and children; reparenting keeps the world transform by default."""

import bpy

from ..protocol import get_bool, get_str, get_str_list, invalid, scene_error
from .common import (
    check_no_cycle,
    find_object,
    link_to_scene,
    object_param,
    scene_object,
    scene_objects,
    set_parent_keep_world,
    update,
)


def _children(obj):
    in_scene = bpy.context.scene.objects
    return sorted((c for c in obj.children if c.name in in_scene), key=lambda o: o.name)


def _roots():
    return [o for o in scene_objects() if o.parent is None]


def _node(obj):
    return {"object": scene_object(obj), "children": [_node(c) for c in _children(obj)]}


def get_hierarchy(params, req):
    return [_node(o) for o in _roots()]


def get_children(params, req):
    name = get_str(params, "object_name")
    objs = _roots() if name is None else _children(find_object(name))
    return [scene_object(o) for o in objs]


def get_parent(params, req):
    obj = object_param(params)
    return obj.parent.name if obj.parent else None


def group_objects(params, req):
    names = get_str_list(params, "object_names")
    if not names:
        raise invalid("object_names must name at least one object")
    members = [find_object(n, "object_names") for n in names]
    group_name = get_str(params, "group_name", required=True)
    parent_name = get_str(params, "parent")
    parent = find_object(parent_name, "parent") if parent_name else None
    group = bpy.data.objects.new(group_name, None)
    link_to_scene(group)
    if parent is not None:
        group.parent = parent
        group.matrix_parent_inverse.identity()
    update()
    for obj in members:
        check_no_cycle(obj, group)
        set_parent_keep_world(obj, group)
    return scene_object(group)


def ungroup(params, req):
    group = object_param(params, "group_name")
    if group.type != "EMPTY":
        raise scene_error(f"{group.name!r} is a {group.type.lower()}, not a group (an empty)")
    children = _children(group)
    for child in children:
        set_parent_keep_world(child, group.parent)
    bpy.data.objects.remove(group, do_unlink=True)
    return [c.name for c in children]


def reparent(params, req):
    obj = object_param(params)
    parent_name = get_str(params, "new_parent")
    preserve = get_bool(params, "preserve_world_transform", True)
    parent = find_object(parent_name, "new_parent") if parent_name else None
    check_no_cycle(obj, parent)
    if preserve:
        set_parent_keep_world(obj, parent)
    else:
        obj.parent = parent
        obj.matrix_parent_inverse.identity()
        update()
    return scene_object(obj)


METHODS = {
    "hierarchy.get_hierarchy": get_hierarchy,
    "hierarchy.get_children": get_children,
    "hierarchy.get_parent": get_parent,
    "hierarchy.group_objects": group_objects,
    "hierarchy.ungroup": ungroup,
    "hierarchy.reparent": reparent,
}
