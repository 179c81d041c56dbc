//! Where objects are: the transform and hierarchy methods of the stage. Values cross the bridge in
//! its conventions (world space, centimetres, Euler XYZ degrees) and are glTF inside.

use async_trait::async_trait;
use glam::{Mat4, Vec3};

use super::scene::{Kind, Node, NodeId, Scene, scene_error};
use super::{StageAdapter, anim, clean, cm, deg_to_quat, finite3, quat_to_deg, render};
use crate::call::CallContext;
use crate::dcc::DccFailure;
use crate::dcc::adapter::*;
use crate::dcc::types::*;

impl StageAdapter {
    fn transform_of(scene: &Scene, id: NodeId) -> ObjectTransform {
        let (s, r, t) = scene.world(id).to_scale_rotation_translation();
        ObjectTransform {
            translate: cm(t),
            rotate: quat_to_deg(r),
            scale: [s.x, s.y, s.z].map(|c| clean(c as f64)),
        }
    }

    fn bbox(scene: &Scene, id: NodeId) -> BoundingBox {
        let mut posed = anim::Posed::new(scene, render::current_overrides(scene));
        let mut min = Vec3::splat(f32::INFINITY);
        let mut max = Vec3::splat(f32::NEG_INFINITY);
        let mut ids = vec![id];
        if scene.node(id).kind != Kind::Mesh {
            ids.extend(scene.descendants(id));
        }
        for n in ids {
            let p = posed.world(n).w_axis.truncate();
            let tris = render::world_triangles(scene, n, &mut posed);
            if tris.is_empty() {
                min = min.min(p);
                max = max.max(p);
            }
            for v in tris.iter().flatten() {
                min = min.min(*v);
                max = max.max(*v);
            }
        }
        BoundingBox {
            min: cm(min),
            max: cm(max),
        }
    }
}

#[async_trait]
impl Transform for StageAdapter {
    async fn get_transform(
        &self,
        p: ObjectNameParams,
        _call: &CallContext,
    ) -> DccResult<ObjectTransform> {
        let scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        Ok(Self::transform_of(&scene, id))
    }

    async fn set_transform(
        &self,
        p: SetTransformParams,
        _call: &CallContext,
    ) -> DccResult<ObjectTransform> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        let (s, r, t) = scene.world(id).to_scale_rotation_translation();
        let t = match p.translate {
            Some(v) => finite3("translate", v)? / 100.0,
            None => t,
        };
        let r = match p.rotate {
            Some(v) => deg_to_quat(finite3("rotate", v)?.to_array().map(f64::from)),
            None => r,
        };
        let s = match p.scale {
            Some(v) => {
                let s = finite3("scale", v)?;
                if s.abs().min_element() < 1e-9 {
                    return Err(DccFailure::invalid(format!(
                        "scale must not be zero, got {v:?}"
                    )));
                }
                s
            }
            None => s,
        };
        scene.set_world(id, Mat4::from_scale_rotation_translation(s, r, t))?;
        scene.modified = true;
        Ok(Self::transform_of(&scene, id))
    }

    async fn get_bounding_box(
        &self,
        p: ObjectNameParams,
        _call: &CallContext,
    ) -> DccResult<BoundingBox> {
        self.blocking(move |scene| {
            let id = scene.find(&p.object_name)?;
            Ok(Self::bbox(scene, id))
        })
        .await
    }

    async fn rename_object(&self, p: RenameParams, _call: &CallContext) -> DccResult<String> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.old_name)?;
        let name = scene.rename(id, &p.new_name)?;
        scene.modified = true;
        Ok(name)
    }
}

#[async_trait]
impl Hierarchy for StageAdapter {
    async fn get_hierarchy(&self, _call: &CallContext) -> DccResult<Vec<SceneNode>> {
        let scene = self.lock().await;
        fn tree(scene: &Scene, id: NodeId) -> SceneNode {
            SceneNode {
                object: scene.object(id),
                children: scene
                    .node(id)
                    .children
                    .iter()
                    .map(|c| tree(scene, *c))
                    .collect(),
            }
        }
        Ok(scene.roots().into_iter().map(|r| tree(&scene, r)).collect())
    }

    async fn get_children(
        &self,
        p: OptionalObjectParams,
        _call: &CallContext,
    ) -> DccResult<Vec<SceneObject>> {
        let scene = self.lock().await;
        let ids = match p.object_name.as_deref() {
            None => scene.roots(),
            Some(name) => scene.node(scene.find(name)?).children.clone(),
        };
        Ok(ids.into_iter().map(|i| scene.object(i)).collect())
    }

    async fn get_parent(
        &self,
        p: ObjectNameParams,
        _call: &CallContext,
    ) -> DccResult<Option<String>> {
        let scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        Ok(scene.node(id).parent.map(|p| scene.node(p).name.clone()))
    }

    async fn group_objects(&self, p: GroupParams, _call: &CallContext) -> DccResult<SceneObject> {
        let mut scene = self.lock().await;
        if p.object_names.is_empty() {
            return Err(DccFailure::invalid(
                "object_names must name at least one object",
            ));
        }
        let ids = Self::find_all(&scene, &p.object_names)?;
        let parent = p.parent.as_deref().map(|n| scene.find(n)).transpose()?;
        if let Some(par) = parent
            && let Some(bad) = ids
                .iter()
                .find(|i| **i == par || scene.is_ancestor(**i, par))
        {
            return Err(scene_error(format!(
                "cannot group {:?} under {:?}: that would make a cycle",
                scene.node(*bad).name,
                scene.node(par).name
            )));
        }
        let group = scene.add(Node::new(p.group_name.clone(), Kind::Empty), parent);
        for id in ids {
            scene.reparent(id, Some(group), true)?;
        }
        scene.modified = true;
        Ok(scene.object(group))
    }

    async fn ungroup(&self, p: UngroupParams, _call: &CallContext) -> DccResult<Vec<String>> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.group_name)?;
        if scene.node(id).kind != Kind::Empty {
            return Err(scene_error(format!(
                "{:?} is a {}, not a group (an empty)",
                p.group_name,
                scene.node(id).kind.as_str()
            )));
        }
        let children = scene.node(id).children.clone();
        let names = children
            .iter()
            .map(|c| scene.node(*c).name.clone())
            .collect();
        scene.remove(id)?;
        scene.modified = true;
        Ok(names)
    }

    async fn reparent(&self, p: ReparentParams, _call: &CallContext) -> DccResult<SceneObject> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        let parent = p.new_parent.as_deref().map(|n| scene.find(n)).transpose()?;
        scene.reparent(id, parent, p.preserve_world_transform)?;
        scene.modified = true;
        Ok(scene.object(id))
    }
}
