//! A bridge method name + JSON params → the typed trait method → JSON result.
//!
//! This is the one place that knows which trait serves which method. Parameters are deserialised
//! into the method's typed struct (a wrong type is `INVALID_INPUT` naming the field), so adapters
//! only ever see well-typed input.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::DccFailure;
use super::adapter::DccAdapter;
use crate::call::CallContext;

fn params<T: DeserializeOwned>(method: &str, params: Value) -> Result<T, DccFailure> {
    // `null` and a missing object mean "no parameters".
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params
    };
    serde_json::from_value(params)
        .map_err(|e| DccFailure::invalid(format!("{method}: invalid params: {e}")))
}

fn out<T: Serialize>(value: T) -> Result<Value, DccFailure> {
    serde_json::to_value(value)
        .map_err(|e| DccFailure::internal(format!("cannot encode result: {e}")))
}

fn missing(method: &str) -> DccFailure {
    DccFailure::unsupported(method)
}

/// Whether `adapter` offers the trait that serves `method` (see `route`).
pub fn has_trait_for(adapter: &dyn DccAdapter, method: &str) -> bool {
    match method.split_once('.').map(|(area, _)| area) {
        Some("dcc") => true,
        Some("scene") => adapter.as_scene_manager().is_some(),
        Some("transform") => adapter.as_transform().is_some(),
        Some("hierarchy") => adapter.as_hierarchy().is_some(),
        Some("render") => adapter.as_render_capture().is_some(),
        Some("script") => adapter.as_script_engine().is_some(),
        Some("animation") => adapter.as_animation().is_some(),
        _ => false,
    }
}

/// Calls `method` on `adapter`. Unknown methods are `UNSUPPORTED`.
pub async fn route(
    adapter: &dyn DccAdapter,
    method: &str,
    p: Value,
    call: &CallContext,
) -> Result<Value, DccFailure> {
    let m = method;
    match method.split_once('.').map(|(area, _)| area) {
        Some("dcc") => match m {
            "dcc.hello" => out(adapter.hello(call).await?),
            "dcc.ping" => out(adapter.ping(call).await?),
            _ => Err(missing(m)),
        },
        Some("scene") => {
            let s = adapter.as_scene_manager().ok_or_else(|| missing(m))?;
            match m {
                "scene.get_scene_info" => out(s.get_scene_info(call).await?),
                "scene.list_objects" => out(s.list_objects(params(m, p)?, call).await?),
                "scene.create_object" => out(s.create_object(params(m, p)?, call).await?),
                "scene.delete_objects" => out(s.delete_objects(params(m, p)?, call).await?),
                "scene.get_selection" => out(s.get_selection(call).await?),
                "scene.set_selection" => out(s.set_selection(params(m, p)?, call).await?),
                "scene.select_by_type" => out(s.select_by_type(params(m, p)?, call).await?),
                "scene.set_visibility" => out(s.set_visibility(params(m, p)?, call).await?),
                "scene.new_scene" => out(s.new_scene(params(m, p)?, call).await?),
                "scene.open_file" => out(s.open_file(params(m, p)?, call).await?),
                "scene.save_file" => out(s.save_file(params(m, p)?, call).await?),
                "scene.export_file" => out(s.export_file(params(m, p)?, call).await?),
                "scene.import_file" => out(s.import_file(params(m, p)?, call).await?),
                _ => Err(missing(m)),
            }
        }
        Some("transform") => {
            let t = adapter.as_transform().ok_or_else(|| missing(m))?;
            match m {
                "transform.get_transform" => out(t.get_transform(params(m, p)?, call).await?),
                "transform.set_transform" => out(t.set_transform(params(m, p)?, call).await?),
                "transform.get_bounding_box" => {
                    out(t.get_bounding_box(params(m, p)?, call).await?)
                }
                "transform.rename_object" => out(t.rename_object(params(m, p)?, call).await?),
                _ => Err(missing(m)),
            }
        }
        Some("hierarchy") => {
            let h = adapter.as_hierarchy().ok_or_else(|| missing(m))?;
            match m {
                "hierarchy.get_hierarchy" => out(h.get_hierarchy(call).await?),
                "hierarchy.get_children" => out(h.get_children(params(m, p)?, call).await?),
                "hierarchy.get_parent" => out(h.get_parent(params(m, p)?, call).await?),
                "hierarchy.group_objects" => out(h.group_objects(params(m, p)?, call).await?),
                "hierarchy.ungroup" => out(h.ungroup(params(m, p)?, call).await?),
                "hierarchy.reparent" => out(h.reparent(params(m, p)?, call).await?),
                _ => Err(missing(m)),
            }
        }
        Some("render") => {
            let r = adapter.as_render_capture().ok_or_else(|| missing(m))?;
            match m {
                "render.capture_viewport" => out(r.capture_viewport(params(m, p)?, call).await?),
                "render.render_scene" => out(r.render_scene(params(m, p)?, call).await?),
                "render.get_render_settings" => out(r.get_render_settings(call).await?),
                "render.set_render_settings" => {
                    out(r.set_render_settings(params(m, p)?, call).await?)
                }
                _ => Err(missing(m)),
            }
        }
        Some("script") => {
            let s = adapter.as_script_engine().ok_or_else(|| missing(m))?;
            match m {
                "script.execute" => out(s.execute(params(m, p)?, call).await?),
                "script.supported_languages" => out(s.supported_languages(call).await?),
                _ => Err(missing(m)),
            }
        }
        Some("animation") => {
            let a = adapter.as_animation().ok_or_else(|| missing(m))?;
            match m {
                "animation.list_armatures" => out(a.list_armatures(call).await?),
                "animation.get_skeleton" => out(a.get_skeleton(params(m, p)?, call).await?),
                "animation.apply_motion" => out(a.apply_motion(params(m, p)?, call).await?),
                "animation.sample_pose" => out(a.sample_pose(params(m, p)?, call).await?),
                "animation.get_frame_range" => out(a.get_frame_range(call).await?),
                "animation.set_frame_range" => out(a.set_frame_range(params(m, p)?, call).await?),
                _ => Err(missing(m)),
            }
        }
        _ => Err(missing(m)),
    }
}
