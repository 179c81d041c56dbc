//! New objects on the stage (`scene.create_object`): empties, primitives, lights, cameras and a
//! small armature.

use glam::{Mat4, Quat, Vec3};
use serde_json::{Value, json};

use super::scene::{self, Kind, Node, NodeId, Scene};
use super::{StageAdapter, finite3, gltf_io};
use crate::dcc::DccFailure;
use crate::dcc::types::*;

impl StageAdapter {
    pub(super) fn create(scene: &mut Scene, p: &CreateObjectParams) -> Result<NodeId, DccFailure> {
        let parent = p.parent.as_deref().map(|n| scene.find(n)).transpose()?;
        let translate = p
            .translate
            .map(|t| finite3("translate", t))
            .transpose()?
            .unwrap_or(Vec3::ZERO)
            / 100.0;
        let name = if p.name.trim().is_empty() {
            p.object_type.clone()
        } else {
            p.name.clone()
        };
        let id = match p.object_type.as_str() {
            "empty" => scene.add(Node::new(name, Kind::Empty), parent),
            "cube" => {
                let (pos, nor, idx) = cube_mesh();
                let mesh = gltf_io::push_mesh(scene, &name, &pos, &nor, &idx);
                let mut node = Node::new(name, Kind::Mesh);
                node.mesh = Some(mesh);
                scene.add(node, parent)
            }
            "sphere" => {
                let (pos, nor, idx) = sphere_mesh(24, 16);
                let mesh = gltf_io::push_mesh(scene, &name, &pos, &nor, &idx);
                let mut node = Node::new(name, Kind::Mesh);
                node.mesh = Some(mesh);
                scene.add(node, parent)
            }
            "camera" => {
                let camera = scene.doc.push(gltf_json::Camera {
                    name: Some(name.clone()),
                    orthographic: None,
                    perspective: Some(gltf_json::camera::Perspective {
                        aspect_ratio: None,
                        yfov: 0.6,
                        zfar: None,
                        znear: 0.05,
                        extensions: None,
                        extras: None,
                    }),
                    type_: gltf_json::validation::Checked::Valid(
                        gltf_json::camera::Type::Perspective,
                    ),
                    extensions: None,
                    extras: None,
                });
                let mut node = Node::new(name, Kind::Camera);
                node.camera = Some(camera.value() as u32);
                scene.add(node, parent)
            }
            "light" => {
                let light = add_point_light(scene, &name);
                let mut node = Node::new(name, Kind::Light);
                node.extensions
                    .insert("KHR_lights_punctual".into(), json!({"light": light}));
                scene.add(node, parent)
            }
            "armature" => create_armature(scene, &name, parent)?,
            other => {
                return Err(DccFailure::invalid(format!(
                    "object_type {other:?} is not one of empty, cube, sphere, camera, light, armature"
                )));
            }
        };
        let (s, r, _) = scene.world(id).to_scale_rotation_translation();
        scene.set_world(id, Mat4::from_scale_rotation_translation(s, r, translate))?;
        scene.modified = true;
        Ok(id)
    }
}

fn add_point_light(scene: &mut Scene, name: &str) -> usize {
    let ext = scene.doc.extensions.get_or_insert_with(Default::default);
    let lights = ext
        .others
        .entry("KHR_lights_punctual")
        .or_insert_with(|| json!({"lights": []}));
    let index = match lights.get_mut("lights").and_then(Value::as_array_mut) {
        Some(list) => {
            list.push(json!({"name": name, "type": "point", "intensity": 100.0, "color": [1.0, 1.0, 1.0]}));
            list.len() - 1
        }
        None => {
            *lights = json!({"lights": [{"name": name, "type": "point", "intensity": 100.0}]});
            0
        }
    };
    if !scene
        .doc
        .extensions_used
        .iter()
        .any(|e| e == "KHR_lights_punctual")
    {
        scene.doc.extensions_used.push("KHR_lights_punctual".into());
    }
    index
}

/// A small three-joint armature (`NAME:Root` → `NAME:Spine` → `NAME:Head`) whose joints have
/// non-identity rest rotations, like bones in most DCCs; 1 m tall.
fn create_armature(
    scene: &mut Scene,
    name: &str,
    parent: Option<NodeId>,
) -> Result<NodeId, DccFailure> {
    let arm = scene.add(Node::new(name.to_string(), Kind::Armature), parent);
    let arm_name = scene.node(arm).name.clone();
    let rest: [(&str, Vec3, Quat); 3] = [
        (
            "Root",
            Vec3::new(0.0, 0.5, 0.0),
            Quat::from_rotation_z(90f32.to_radians()),
        ),
        (
            "Spine",
            Vec3::new(0.0, 0.8, 0.05),
            Quat::from_rotation_z(80f32.to_radians()) * Quat::from_rotation_x(0.3),
        ),
        ("Head", Vec3::new(0.0, 1.0, 0.0), Quat::from_rotation_y(0.5)),
    ];
    let mut joints = Vec::new();
    let mut up = arm;
    for (joint, pos, rot) in rest {
        let id = scene.add(
            Node::new(format!("{arm_name}:{joint}"), Kind::Joint),
            Some(up),
        );
        let base = scene.world(arm);
        scene.set_world(id, base * Mat4::from_rotation_translation(rot, pos))?;
        joints.push(id);
        up = id;
    }
    scene.skins.push(scene::Skin {
        name: Some(arm_name),
        joints: joints.clone(),
        skeleton: joints.first().copied(),
        inverse_bind_matrices: None,
    });
    Ok(arm)
}

fn cube_mesh() -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let mut pos = Vec::new();
    let mut nor = Vec::new();
    let mut idx = Vec::new();
    let faces: [(Vec3, Vec3, Vec3); 6] = [
        (Vec3::X, Vec3::Y, Vec3::Z),
        (Vec3::NEG_X, Vec3::Z, Vec3::Y),
        (Vec3::Y, Vec3::Z, Vec3::X),
        (Vec3::NEG_Y, Vec3::X, Vec3::Z),
        (Vec3::Z, Vec3::X, Vec3::Y),
        (Vec3::NEG_Z, Vec3::Y, Vec3::X),
    ];
    for (n, u, v) in faces {
        let base = (pos.len() / 3) as u32;
        for (a, b) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            let p = n + u * a + v * b;
            pos.extend_from_slice(&p.to_array());
            nor.extend_from_slice(&n.to_array());
        }
        // Counter-clockwise seen from outside.
        if u.cross(v).dot(n) > 0.0 {
            idx.extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
        } else {
            idx.extend_from_slice(&[base, base + 2, base + 1, base, base + 3, base + 2]);
        }
    }
    (pos, nor, idx)
}

fn sphere_mesh(segments: u32, rings: u32) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let mut pos = Vec::new();
    let mut idx = Vec::new();
    for r in 0..=rings {
        let phi = std::f32::consts::PI * r as f32 / rings as f32;
        for s in 0..=segments {
            let theta = std::f32::consts::TAU * s as f32 / segments as f32;
            pos.extend_from_slice(&[phi.sin() * theta.cos(), phi.cos(), phi.sin() * theta.sin()]);
        }
    }
    let row = segments + 1;
    for r in 0..rings {
        for s in 0..segments {
            let a = r * row + s;
            let b = a + row;
            idx.extend_from_slice(&[a, a + 1, b, a + 1, b + 1, b]);
        }
    }
    let nor = pos.clone();
    (pos, nor, idx)
}
