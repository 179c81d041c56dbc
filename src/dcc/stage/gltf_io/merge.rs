//! Adding one loaded glTF scene to another (`scene.import_file` of a .glb or .gltf): the other
//! document's data appended, every index moved past what was there.

use gj::validation::USize64;
use gltf_json as gj;
use serde_json::Value;

use crate::dcc::stage::scene::{NodeId, Scene, Skin};
use crate::gltf_buffers::bin_buffer;

/// Moves a glTF index by `base`: the position its array had when the other document's were
/// appended. An index that was out of range stays out of range (saturating), never wraps onto a
/// real entry.
fn shifted<T>(index: gj::Index<T>, base: usize) -> gj::Index<T> {
    gj::Index::new(moved(index.value() as u32, base))
}

fn moved(index: u32, base: usize) -> u32 {
    index.saturating_add(u32::try_from(base).unwrap_or(u32::MAX))
}

/// Adds a loaded glTF scene (`gltf_io::load`) to `scene`: its data is appended to the scene's
/// document with every index moved past what was there (buffer views, accessors, images, samplers,
/// textures, materials, meshes, cameras, lights), and its nodes, skins and actions join the scene's
/// under names made unique. Material extensions' own textures are not remapped (the stage keeps
/// no such extension data).
pub fn merge(scene: &mut Scene, other: Scene) {
    let Scene {
        nodes,
        skins,
        actions,
        active_action,
        doc: from,
        bin,
        frames,
        ..
    } = other;
    let into = &mut scene.doc;

    // Binary data: one buffer, the other document's bytes after ours (4-byte aligned).
    while !scene.bin.len().is_multiple_of(4) {
        scene.bin.push(0);
    }
    let byte_base = scene.bin.len() as u64;
    scene.bin.extend_from_slice(&bin);
    into.buffers = vec![bin_buffer(scene.bin.len())];

    let views = into.buffer_views.len();
    let accessors = into.accessors.len();
    let images = into.images.len();
    let samplers = into.samplers.len();
    let textures = into.textures.len();
    let materials = into.materials.len();
    let meshes = into.meshes.len();
    let cameras = into.cameras.len();
    for mut view in from.buffer_views {
        view.buffer = gj::Index::new(0);
        view.byte_offset = Some(USize64(byte_base + view.byte_offset.map_or(0, |o| o.0)));
        into.buffer_views.push(view);
    }
    for mut accessor in from.accessors {
        accessor.buffer_view = accessor.buffer_view.map(|v| shifted(v, views));
        if let Some(sparse) = &mut accessor.sparse {
            sparse.indices.buffer_view = shifted(sparse.indices.buffer_view, views);
            sparse.values.buffer_view = shifted(sparse.values.buffer_view, views);
        }
        into.accessors.push(accessor);
    }
    for mut image in from.images {
        image.buffer_view = image.buffer_view.map(|v| shifted(v, views));
        into.images.push(image);
    }
    into.samplers.extend(from.samplers);
    for mut texture in from.textures {
        texture.source = shifted(texture.source, images);
        texture.sampler = texture.sampler.map(|s| shifted(s, samplers));
        into.textures.push(texture);
    }
    for mut material in from.materials {
        let pbr = &mut material.pbr_metallic_roughness;
        for info in [
            &mut pbr.base_color_texture,
            &mut pbr.metallic_roughness_texture,
            &mut material.emissive_texture,
        ]
        .into_iter()
        .flatten()
        {
            info.index = shifted(info.index, textures);
        }
        if let Some(normal) = &mut material.normal_texture {
            normal.index = shifted(normal.index, textures);
        }
        if let Some(occlusion) = &mut material.occlusion_texture {
            occlusion.index = shifted(occlusion.index, textures);
        }
        into.materials.push(material);
    }
    for mut mesh in from.meshes {
        for primitive in &mut mesh.primitives {
            for accessor in primitive.attributes.values_mut() {
                *accessor = shifted(*accessor, accessors);
            }
            primitive.indices = primitive.indices.map(|i| shifted(i, accessors));
            primitive.material = primitive.material.map(|m| shifted(m, materials));
            for target in primitive.targets.iter_mut().flatten() {
                for slot in [
                    &mut target.positions,
                    &mut target.normals,
                    &mut target.tangents,
                ] {
                    *slot = slot.map(|a| shifted(a, accessors));
                }
            }
        }
        into.meshes.push(mesh);
    }
    into.cameras.extend(from.cameras);
    for name in from.extensions_used {
        if !into.extensions_used.contains(&name) {
            into.extensions_used.push(name);
        }
    }
    for name in from.extensions_required {
        if !into.extensions_required.contains(&name) {
            into.extensions_required.push(name);
        }
    }
    let lights = append_lights(into, from.extensions.as_ref());

    // Nodes under unique names, then their links; skins and actions follow the new ids.
    let skin_base = scene.skins.len();
    let mut ids: Vec<Option<NodeId>> = vec![None; nodes.len()];
    for (old, node) in nodes.iter().enumerate() {
        let Some(node) = node else { continue };
        let mut copy = node.clone();
        copy.children.clear();
        copy.mesh = copy.mesh.map(|m| moved(m, meshes));
        copy.camera = copy.camera.map(|c| moved(c, cameras));
        copy.skin = copy.skin.map(|s| s + skin_base);
        if let Some(light) = copy
            .extensions
            .get_mut("KHR_lights_punctual")
            .and_then(|l| l.get_mut("light"))
            && let Some(index) = light.as_u64()
        {
            *light = Value::from(index.saturating_add(lights as u64));
        }
        ids[old] = Some(scene.add(copy, None));
    }
    let id = |old: NodeId| ids.get(old).copied().flatten();
    for (old, node) in nodes.iter().enumerate() {
        let (Some(node), Some(parent)) = (node, id(old)) else {
            continue;
        };
        for child in node.children.iter().filter_map(|c| id(*c)) {
            scene.node_mut(child).parent = Some(parent);
            scene.node_mut(parent).children.push(child);
        }
    }
    for skin in skins {
        scene.skins.push(Skin {
            name: skin.name,
            joints: skin.joints.into_iter().filter_map(id).collect(),
            skeleton: skin.skeleton.and_then(id),
            inverse_bind_matrices: skin.inverse_bind_matrices.map(|a| moved(a, accessors)),
        });
    }
    let action_base = scene.actions.len();
    for mut action in actions {
        action
            .channels
            .retain_mut(|channel| match id(channel.node) {
                Some(node) => {
                    channel.node = node;
                    true
                }
                None => false,
            });
        scene.actions.push(action);
    }
    for (arm, action) in active_action {
        if let Some(arm) = id(arm) {
            scene.active_action.insert(arm, action + action_base);
        }
    }
    scene.frames.end = scene.frames.end.max(frames.end);
}

/// Appends the other document's `KHR_lights_punctual` lights to ours; returns where they start.
fn append_lights(into: &mut gj::Root, from: Option<&gj::extensions::root::Root>) -> usize {
    let theirs = from
        .and_then(|e| e.others.get("KHR_lights_punctual"))
        .and_then(|l| l.get("lights"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if theirs.is_empty() {
        return 0;
    }
    let ours = into
        .extensions
        .get_or_insert_with(Default::default)
        .others
        .entry("KHR_lights_punctual")
        .or_insert_with(|| serde_json::json!({"lights": []}));
    match ours.get_mut("lights").and_then(Value::as_array_mut) {
        Some(list) => {
            let base = list.len();
            list.extend(theirs);
            base
        }
        None => {
            *ours = serde_json::json!({"lights": theirs});
            0
        }
    }
}
