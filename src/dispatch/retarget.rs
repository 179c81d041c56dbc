//! Where a take meets a rig of another skeleton: reading the rig, mapping it (`map_rig`), turning
//! scene-space constraints into the model's frame, and reporting what was mapped
//! (docs/retargeting.md). The math is `motion::retarget`; this file only fetches and reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use glam::Vec3;
use serde::Deserialize;
use serde_json::{Value, json};

use super::motion::{dcc_error, motion_error, parse_args, with_take};
use super::{Dispatcher, ToolError, ToolErrorCode, ToolOutput};
use crate::call::CallContext;
use crate::motion::millis;
use crate::motion::retarget::{self, Frame, Mapping, RetargetError, TransferReport};
use crate::motion::store::TakeInfo;
use crate::motion::take::{Skeleton, Take};
use crate::skeleton;

/// `retarget` argument of generate_motion and apply_motion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Mode {
    /// Map by humanoid roles and carry the motion over (the default).
    #[default]
    Auto,
    /// Joints matched by name only, the take applied as it is.
    Names,
}

/// The retargeting arguments shared by generate_motion, apply_motion and map_rig.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RetargetArgs {
    #[serde(default)]
    pub retarget: Mode,
    #[serde(default)]
    pub bone_map: BTreeMap<String, String>,
}

/// Reads `armature` from the DCC as an MMCP skeleton; a failure names `take_id` (the take is kept).
pub(super) async fn rig_skeleton(
    dispatcher: &Dispatcher,
    dcc: Option<&str>,
    armature: &str,
    take_id: Option<&str>,
    ctx: &CallContext,
) -> Result<Skeleton, ToolError> {
    let v = dispatcher
        .dccs
        .call(
            dcc,
            "animation.get_skeleton",
            json!({"armature": armature}),
            ctx,
        )
        .await
        .map_err(|f| {
            dcc_error(
                f,
                "Check the armature name with list_armatures (and the dcc with list_dccs).",
                take_id,
            )
        })?;
    let bad = |m: String| {
        ToolError::new(
            ToolErrorCode::BadResponse,
            format!("animation.get_skeleton: {m}"),
        )
        .with_hint("The DCC adapter returned an unusable skeleton; check the armature.")
    };
    let mut wire: skeleton::Skeleton =
        serde_json::from_value(v).map_err(|e| bad(format!("not a skeleton: {e}")))?;
    // The rig may go on to a retargeting model as it is, and stagecraft always sends identity rest
    // rotations (docs/mmcp.md#skeleton). Adapters report identity (docs/bridge-protocol.md, the
    // get_skeleton paragraph of #animationapply_motion); this keeps one that does not from leaking
    // its own rest rotations into a request.
    for joint in &mut wire.joints {
        joint.rest_rotation = skeleton::IDENTITY_ROTATION;
    }
    Skeleton::from_wire(&wire).map_err(|e| bad(e.to_string()))
}

/// Maps `take` onto `rig`, as the agent sees a failure.
pub(super) fn map(
    take: &Skeleton,
    rig: &Skeleton,
    args: &RetargetArgs,
    placement: retarget::Placement,
) -> Result<Mapping, ToolError> {
    let options = retarget::Options {
        bone_map: args.bone_map.clone(),
        placement,
    };
    retarget::map(take, rig, &options).map_err(retarget_error)
}

pub(super) fn retarget_error(e: RetargetError) -> ToolError {
    let hint = "Pair the take's joints with the rig's bones by hand with bone_map \
                ({take joint: rig bone}; map_rig shows the automatic pairs), or pass retarget: \"names\" \
                to match joints by name only.";
    match &e {
        RetargetError::UnknownNames {
            take_joints,
            rig_bones,
        } => ToolError::new(ToolErrorCode::InvalidArguments, e.to_string())
            .with_hint("Use the take's joint names (list_motion_models or the take) as keys and the rig's bone names (get_skeleton) as values.")
            .with_details(json!({"unknown_take_joints": take_joints, "unknown_rig_bones": rig_bones})),
        RetargetError::Take(retarget::RoleError::NotHumanoid { missing })
        | RetargetError::Rig(retarget::RoleError::NotHumanoid { missing }) => {
            let side = if matches!(e, RetargetError::Take(_)) { "take" } else { "rig" };
            ToolError::new(ToolErrorCode::NotHumanoid, e.to_string())
                .with_hint(hint)
                .with_details(json!({"skeleton": side, "missing": missing}))
        }
        RetargetError::BadTake(_) => ToolError::new(ToolErrorCode::BadResponse, e.to_string()),
    }
}

/// The map as tool results report it.
pub(super) fn report(m: &Mapping, transfer: Option<&TransferReport>) -> Value {
    let mut out = json!({
        "mode": "auto",
        "unmapped_joints": m.unmapped_joints,
        "unmapped_bones": m.unmapped_bones,
        "blended_bones": m.blended_bones,
        "conventions": {"take": m.take_conventions, "rig": m.rig_conventions},
        "scale": millis(m.frame.scale),
        "heading_degrees": (m.frame.turn_degrees() * 10.0).round() / 10.0,
        "warnings": m.warnings,
    });
    // The map itself is map_rig's answer; a generate or apply result, which every conversation
    // reads, only counts it (the same mapping, since it is deterministic).
    match transfer {
        None => out["joint_map"] = json!(m.joint_map),
        Some(_) => out["mapped_joints"] = json!(m.joint_map.len()),
    }
    if let Some(t) = transfer {
        out["feet"] = json!({
            "contacts": t.contacts,
            "planted_frames": t.planted_frames,
            "unreachable_frames": t.unreachable_frames,
            "hips_lowered_frames": t.hips_lowered_frames,
        });
    }
    out
}

/// `take` mapped onto `rig` and carried over ([`map`], then [`transfer`]); errors name the take.
pub(super) async fn onto_rig(
    dispatcher: &Dispatcher,
    take: Arc<Take>,
    take_id: &str,
    rig: &Skeleton,
    args: &RetargetArgs,
    armature: &str,
    placement: retarget::Placement,
) -> Result<(Arc<Take>, Value), ToolError> {
    let m = map(&take.skeleton, rig, args, placement).map_err(|e| with_take(e, take_id))?;
    transfer(dispatcher, m, take, take_id, armature, placement)
        .await
        .map_err(|e| with_take(e, take_id))
}

/// The take carried over to the rig and kept as a take of its own (`rig_take_id`: save_motion writes
/// the rig's animation, preview_motion shows it), with the report the agent sees. The transfer is
/// CPU work proportional to frames × joints × samples: it runs on the blocking pool, not on an async
/// worker.
pub(super) async fn transfer(
    dispatcher: &Dispatcher,
    m: Mapping,
    take: Arc<Take>,
    take_id: &str,
    armature: &str,
    placement: retarget::Placement,
) -> Result<(Arc<Take>, Value), ToolError> {
    let (out, rep) = tokio::task::spawn_blocking(move || {
        let (out, t) = m.apply(&take, placement)?;
        let mut rep = report(&m, Some(&t));
        if let Some(s) = out.samples.first()
            && out.num_frames > 0
        {
            let hips = out.world_positions(s, 0)[m.rig_hips()];
            rep["start"] = json!(hips.to_array().map(millis));
        }
        Ok::<_, RetargetError>((out, rep))
    })
    .await
    .map_err(|e| {
        ToolError::new(
            ToolErrorCode::InternalError,
            format!("retargeting stopped: {e}"),
        )
    })?
    .map_err(retarget_error)?;
    let mut rep = rep;
    let info = TakeInfo {
        backend: "retarget".into(),
        prompt: Some(format!("{take_id} on {armature}")),
        seed: None,
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let id = dispatcher.motion.insert_take(out, info);
    let stored = dispatcher.motion.take(&id).map_err(motion_error)?;
    rep["rig_take_id"] = json!(id);
    Ok((stored, rep))
}

/// True when a constraint gives positions, so the take must keep the scene's frame.
pub(super) fn has_scene_positions(constraints: Option<&[Value]>) -> bool {
    constraints.unwrap_or_default().iter().any(|c| {
        matches!(
            c.get("type").and_then(Value::as_str),
            Some("root_path" | "effector_target")
        ) || c.get("root_position").is_some()
    })
}

/// Turns the positions and headings of MMCP constraints from the rig's scene into the model's frame
/// (docs/retargeting.md, "Placement"). Unknown shapes are left as they are: the model's checks name
/// them.
pub(super) fn constraints_to_model(constraints: &mut [Value], frame: &Frame) {
    let point3 = |v: &Value| -> Option<Vec3> {
        let a = v.as_array()?;
        Some(Vec3::new(
            a.first()?.as_f64()? as f32,
            a.get(1)?.as_f64()? as f32,
            a.get(2)?.as_f64()? as f32,
        ))
    };
    let to_json = |p: Vec3| json!([p.x, p.y, p.z]);
    let turn = -frame.turn_degrees().to_radians();
    for c in constraints {
        match c.get("type").and_then(Value::as_str) {
            Some("root_path") => {
                if let Some(points) = c.get_mut("positions_xz").and_then(Value::as_array_mut) {
                    for p in points {
                        let a = p.as_array();
                        let xz = a.and_then(|a| Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?)));
                        if let Some((x, z)) = xz {
                            let m =
                                frame.to_model(Vec3::new(x as f32, frame.rig_anchor.y, z as f32));
                            *p = json!([m.x, m.z]);
                        }
                    }
                }
                if let Some(hs) = c.get_mut("heading_radians").and_then(Value::as_array_mut) {
                    for h in hs {
                        if let Some(v) = h.as_f64() {
                            *h = json!(v as f32 + turn);
                        }
                    }
                }
            }
            Some("effector_target") => {
                if let Some(points) = c.get_mut("positions").and_then(Value::as_array_mut) {
                    for p in points {
                        if let Some(v) = point3(p) {
                            *p = to_json(frame.to_model(v));
                        }
                    }
                }
            }
            Some("pose_keyframe") => {
                if let Some(p) = c.get_mut("root_position")
                    && let Some(v) = point3(p)
                {
                    *p = to_json(frame.to_model(v));
                }
            }
            _ => {}
        }
    }
}

#[derive(Deserialize)]
struct MapRigArgs {
    armature: String,
    #[serde(default)]
    dcc: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    take_id: Option<String>,
    #[serde(default)]
    bone_map: BTreeMap<String, String>,
}

/// `map_rig`: the joint map between a take (or a model's skeleton) and a rig, applying nothing.
pub(super) async fn map_rig(
    dispatcher: &Dispatcher,
    args: Value,
    ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    let a: MapRigArgs = parse_args(args)?;
    let (source, label) = match &a.take_id {
        Some(id) => {
            let take = dispatcher.motion.take(id).map_err(motion_error)?;
            (take.skeleton.clone(), json!({"take_id": id}))
        }
        None => {
            let choice = dispatcher
                .motion
                .resolve(a.backend.as_deref(), a.model.as_deref())
                .await
                .map_err(motion_error)?;
            let skeleton = Skeleton::from_wire(&choice.spec.canonical_skeleton).map_err(|e| {
                ToolError::new(
                    ToolErrorCode::BadResponse,
                    format!("the model's canonical skeleton: {e}"),
                )
            })?;
            (
                skeleton,
                json!({"backend": choice.backend, "model": choice.spec.id}),
            )
        }
    };
    let rig = rig_skeleton(
        dispatcher,
        a.dcc.as_deref(),
        &a.armature,
        a.take_id.as_deref(),
        ctx,
    )
    .await?;
    let args = RetargetArgs {
        retarget: Mode::Auto,
        bone_map: a.bone_map,
    };
    let m = map(&source, &rig, &args, retarget::Placement::AtRig)?;
    let mut out = report(&m, None);
    out["armature"] = json!(a.armature);
    out["source"] = label;
    Ok(ToolOutput::new(out))
}
