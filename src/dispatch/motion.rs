//! Motion tools: list_motion_models, generate_motion, apply_motion, map_rig, preview_motion,
//! save_motion.
//!
//! The dispatcher is where motion meets the DCC (docs/architecture.md#layers: `motion` and `dcc` do not
//! know each other): it reads a rig's skeleton, retargets takes onto it (`super::retarget`) and applies
//! them with
//! `animation.apply_motion`.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::apply::{RigTarget, put_on_rig};
use super::retarget::{self, Mode, RetargetArgs};
use super::{Dispatcher, ImageOut, ToolError, ToolErrorCode, ToolOutput};
use crate::call::CallContext;
use crate::dcc::DccFailure;
use crate::motion::retarget::Placement;
use crate::motion::take::Skeleton;
use crate::motion::{self, GenerateArgs, MotionError};
use crate::skills::ToolSpec;

pub(super) async fn call(
    dispatcher: &Dispatcher,
    tool: &ToolSpec,
    method: &str,
    args: Value,
    ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    match method {
        "motion.list_models" => list_models(dispatcher, args).await,
        "motion.generate" => generate(dispatcher, args, ctx).await,
        "motion.apply" => apply(dispatcher, args, ctx).await,
        "motion.preview" => preview(dispatcher, args).await,
        "motion.save" => save(dispatcher, args).await,
        "motion.map_rig" => super::retarget::map_rig(dispatcher, args, ctx).await,
        _ => Err(ToolError::not_implemented(&tool.name, method)),
    }
}

/// A motion failure as the agent sees it: code, message, hint, details.
pub fn motion_error(e: MotionError) -> ToolError {
    ToolError::new(ToolErrorCode::from_name(e.code()), e.message())
        .with_hint(e.hint())
        .with_details(e.details())
}

pub(super) fn dcc_error(f: DccFailure, hint: &str, take_id: Option<&str>) -> ToolError {
    let mut details = json!({"recoverable": f.recoverable});
    if let Some(d) = f.details {
        details["dcc_details"] = d;
    }
    if let Some(id) = take_id {
        details["take_id"] = json!(id);
    }
    ToolError::new(f.code, f.message)
        .with_hint(hint)
        .with_details(details)
}

pub(super) fn parse_args<T: for<'de> Deserialize<'de>>(args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| {
        ToolError::new(ToolErrorCode::InvalidArguments, format!("arguments: {e}"))
            .with_hint("Fix the named argument and call again.")
    })
}

#[derive(Deserialize)]
struct ListArgs {
    #[serde(default)]
    refresh: bool,
    #[serde(default)]
    full: bool,
}

async fn list_models(dispatcher: &Dispatcher, args: Value) -> Result<ToolOutput, ToolError> {
    let a: ListArgs = parse_args(args)?;
    let listing = dispatcher.motion.list_models(a.refresh, a.full).await;
    Ok(ToolOutput::new(json!(listing)))
}

/// The DCC-side arguments of `generate_motion`.
#[derive(Deserialize, Default)]
struct GenerateDccArgs {
    #[serde(default)]
    dcc: Option<String>,
    #[serde(default)]
    armature: Option<String>,
    #[serde(default)]
    start_frame: Option<i64>,
    #[serde(default)]
    save_path: Option<String>,
    #[serde(default)]
    sample: Option<usize>,
    #[serde(default)]
    in_place: Option<bool>,
}

async fn generate(
    dispatcher: &Dispatcher,
    args: Value,
    ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    let margs: GenerateArgs = parse_args(args.clone())?;
    let dargs: GenerateDccArgs = parse_args(args.clone())?;
    let args_for_retarget = args;
    let hub = &dispatcher.motion;

    // 1. backend and model
    let choice = hub
        .resolve(margs.backend.as_deref(), margs.model.as_deref())
        .await
        .map_err(motion_error)?;

    // 2. the request skeleton: the rig's own for a model that retargets itself (or when joints are
    //    matched by name), else the canonical one, with the rig mapped onto it before anything is sent
    let rargs: RetargetArgs = parse_args(args_for_retarget)?;
    let mut rig = None;
    let mut skeleton = None;
    let mut mapping = None;
    let mut placement = Placement::AtRig;
    let mut margs = margs;
    if let Some(armature) = &dargs.armature {
        let rig_skel =
            retarget::rig_skeleton(dispatcher, dargs.dcc.as_deref(), armature, None, ctx).await?;
        let model_retargets =
            choice.spec.supports_retargeting && choice.backend != motion::BUILTIN_BACKEND;
        if rargs.retarget == Mode::Names || model_retargets {
            if choice.spec.supports_retargeting {
                skeleton = Some(rig_skel.to_wire());
            }
        } else {
            let canonical = Skeleton::from_wire(&choice.spec.canonical_skeleton).map_err(|e| {
                ToolError::new(
                    ToolErrorCode::BadResponse,
                    format!("the model's canonical skeleton: {e}"),
                )
            })?;
            if retarget::has_scene_positions(margs.constraints.as_deref()) {
                placement = Placement::SceneFrame;
            }
            let m = retarget::map(&canonical, &rig_skel, &rargs, placement)?;
            if let Some(c) = margs.constraints.as_mut() {
                retarget::constraints_to_model(c, &m.frame);
            }
            mapping = Some(m);
        }
        rig = Some(rig_skel);
    }

    // 3–4. request, wait with progress, decode, store
    let g = hub
        .generate(&choice, &margs, skeleton, ctx)
        .await
        .map_err(motion_error)?;

    let mut out = motion::take_summary(&g.take_id, &g.take, None);
    // The result stays in the agent's context: the joint names (the model's, list_motion_models)
    // are counted, and what only a take's reader needs (the MMCP version, the contact channels) is
    // left to the take resource (take://<id>).
    if let Some(summary) = out.as_object_mut() {
        let names = summary.remove("joints");
        summary.remove("protocol_version");
        summary.remove("foot_contact_joints");
        out["joint_count"] = json!(names.as_ref().and_then(Value::as_array).map_or(0, Vec::len));
    }
    out["backend"] = json!(g.backend);
    out["model"] = json!(g.model);
    out["elapsed_seconds"] = json!((g.elapsed.as_secs_f64() * 100.0).round() / 100.0);
    if !g.client_notes.is_empty() {
        out["client_notes"] = json!(g.client_notes);
    }

    // 5. retarget, apply and save
    if let (Some(armature), Some(rig)) = (&dargs.armature, &rig) {
        let sample = dargs.sample.unwrap_or(0);
        let (on_rig, report) = match &mapping {
            // The take's own skeleton (decoded) is what the motion is on: map it, not the listing.
            Some(_) => {
                retarget::onto_rig(
                    dispatcher,
                    g.take.clone(),
                    &g.take_id,
                    rig,
                    &rargs,
                    armature,
                    placement,
                )
                .await?
            }
            None if rargs.retarget == Mode::Names => (g.take.clone(), json!({"mode": "names"})),
            None => (g.take.clone(), json!({"mode": "auto", "by": "model"})),
        };
        let target = RigTarget {
            dcc: dargs.dcc.as_deref(),
            armature,
            sample,
            start_frame: dargs.start_frame,
            in_place: dargs.in_place,
            action_name: None,
        };
        let r = put_on_rig(
            dispatcher,
            &on_rig,
            &g.take_id,
            &target,
            ctx,
            "The motion was generated and kept (details.take_id): fix the armature or DCC, then call apply_motion with that take_id instead of generating again.",
        )
        .await?;
        // The DCC's joint lists are hoisted, not repeated: the result goes into the agent's context.
        let mut r = r;
        for key in ["joints_applied", "joints_skipped"] {
            out[key] = r
                .as_object_mut()
                .and_then(|o| o.remove(key))
                .unwrap_or(Value::Null);
        }
        out["retarget"] = report;
        out["applied"] = json!({"armature": armature, "sample": sample, "result": r});
    }
    if let Some(path) = &dargs.save_path {
        let saved = save_to(g.take.clone(), path)
            .await
            .map_err(|e| with_take(e, &g.take_id))?;
        out["saved"] = saved;
    }
    Ok(ToolOutput::new(out))
}

pub(super) fn with_take(mut e: ToolError, take_id: &str) -> ToolError {
    if let Value::Object(m) = &mut e.details {
        m.insert("take_id".into(), json!(take_id));
    }
    e
}

#[derive(Deserialize)]
struct ApplyArgs {
    take_id: String,
    armature: String,
    #[serde(default)]
    dcc: Option<String>,
    #[serde(default)]
    sample: Option<usize>,
    #[serde(default)]
    start_frame: Option<i64>,
    #[serde(default)]
    in_place: Option<bool>,
    #[serde(default)]
    action_name: Option<String>,
}

async fn apply(
    dispatcher: &Dispatcher,
    args: Value,
    ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    let rargs: RetargetArgs = parse_args(args.clone())?;
    let a: ApplyArgs = parse_args(args)?;
    let take = dispatcher.motion.take(&a.take_id).map_err(motion_error)?;
    let sample = a.sample.unwrap_or(0);
    let (on_rig, report) = match rargs.retarget {
        Mode::Names => (take.clone(), json!({"mode": "names"})),
        Mode::Auto => {
            let rig = retarget::rig_skeleton(
                dispatcher,
                a.dcc.as_deref(),
                &a.armature,
                Some(&a.take_id),
                ctx,
            )
            .await?;
            retarget::onto_rig(
                dispatcher,
                take.clone(),
                &a.take_id,
                &rig,
                &rargs,
                &a.armature,
                Placement::AtRig,
            )
            .await?
        }
    };
    let target = RigTarget {
        dcc: a.dcc.as_deref(),
        armature: &a.armature,
        sample,
        start_frame: a.start_frame,
        in_place: a.in_place,
        action_name: a.action_name.as_deref(),
    };
    let r = put_on_rig(
        dispatcher,
        &on_rig,
        &a.take_id,
        &target,
        ctx,
        "Check the armature name with list_armatures (and the dcc with list_dccs), then call apply_motion again.",
    )
    .await?;
    Ok(ToolOutput::new(json!({
        "take_id": a.take_id,
        "armature": a.armature,
        "sample": sample,
        "frames": take.num_frames,
        "fps": take.fps,
        "action": r.get("action"),
        "frame_start": r.get("frame_start"),
        "frame_end": r.get("frame_end"),
        "joints_applied": r.get("joints_applied"),
        "joints_skipped": r.get("joints_skipped"),
        "retarget": report,
    })))
}

#[derive(Deserialize)]
struct PreviewArgs {
    take_id: String,
    #[serde(default)]
    sample: Option<usize>,
}

async fn preview(dispatcher: &Dispatcher, args: Value) -> Result<ToolOutput, ToolError> {
    let a: PreviewArgs = parse_args(args)?;
    let take = dispatcher.motion.take(&a.take_id).map_err(motion_error)?;
    let sample = a.sample.unwrap_or(0);
    let t2 = take.clone();
    let png = tokio::task::spawn_blocking(move || motion::preview::contact_sheet(&t2, sample))
        .await
        .map_err(|e| ToolError::new(ToolErrorCode::InternalError, format!("preview failed: {e}")))?
        .map_err(|e| {
            ToolError::new(ToolErrorCode::InvalidArguments, e.to_string())
                .with_hint("Use a sample index below the take's `samples` count.")
                .with_details(json!({"take_id": a.take_id, "samples": take.samples.len()}))
        })?;
    let cols = motion::preview::COLUMNS.min(take.num_frames);
    let frames: Vec<usize> = (0..cols)
        .map(|c| {
            if cols <= 1 {
                0
            } else {
                c * (take.num_frames - 1) / (cols - 1)
            }
        })
        .collect();
    Ok(ToolOutput::new(json!({
        "take_id": a.take_id,
        "sample": sample,
        "frames_shown": frames,
        "rows": ["front (camera on +Z, facing the character)", "side (camera on -X: the character's right side, +Z to the right)", "top (camera above, +Z down)"],
        "frames": take.num_frames,
        "seconds": take.seconds(),
        "trajectory": motion::trajectory_summary(&take, sample),
    }))
    .with_image(ImageOut {
        data_b64: base64::engine::general_purpose::STANDARD.encode(&png),
        mime_type: "image/png".into(),
    }))
}

#[derive(Deserialize)]
struct SaveArgs {
    take_id: String,
    path: String,
}

async fn save(dispatcher: &Dispatcher, args: Value) -> Result<ToolOutput, ToolError> {
    let a: SaveArgs = parse_args(args)?;
    let take = dispatcher.motion.take(&a.take_id).map_err(motion_error)?;
    let mut out = save_to(take, &a.path).await?;
    out["take_id"] = json!(a.take_id);
    Ok(ToolOutput::new(out))
}

/// Writes a take (the dispatcher has already confined `path` to `[files] roots` when set), on the
/// blocking pool: encoding and writing a long take must not stall an async worker.
async fn save_to(take: Arc<motion::take::Take>, path: &str) -> Result<Value, ToolError> {
    let p = PathBuf::from(path);
    let abs = if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    };
    let target = abs.clone();
    let bytes = tokio::task::spawn_blocking(move || motion::save_take(&take, &target))
        .await
        .map_err(|e| {
            ToolError::new(
                ToolErrorCode::InternalError,
                format!("saving the take failed: {e}"),
            )
        })?
        .map_err(motion_error)?;
    let format = abs
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(json!({"path": abs, "bytes": bytes, "format": format}))
}
