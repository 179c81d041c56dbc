//! The MMCP server SDK, Rust side: the [`Backbone`] trait a model implements, the generic request checks of
//! docs/mmcp.md#server-checks (in exactly the reference server's order, with its codes and statuses), batch bodies,
//! and the two built-in backbones (the procedural model and `null`).
//!
//! Nothing here knows HTTP: [`Backbones::generate`] takes the parsed body, so the in-process backend of the
//! MotionHub and the HTTP server ([`super::server`]) run the very same checks. A model author implements
//! [`Backbone`] and gets a conforming server from [`super::server::serve`].
//!
//! A model in a few lines (it stands still; a real one fills the rotations and root positions):
//!
//! ```no_run
//! use std::sync::Arc;
//! use stagecraft::motion::backbone::{Backbone, Backbones};
//! use stagecraft::motion::take::{Sample, Skeleton, Take};
//! use stagecraft::motion::wire::{GenerateRequest, MmcpError, ModelSpec};
//!
//! struct Statue(stagecraft::skeleton::Skeleton);
//!
//! impl Backbone for Statue {
//!     fn capabilities(&self) -> ModelSpec {
//!         ModelSpec::new("statue", 30.0, self.0.clone())
//!     }
//!     fn generate(&self, request: &GenerateRequest) -> Result<Take, MmcpError> {
//!         let skeleton = Skeleton::from_wire(&request.skeleton).map_err(|e| MmcpError::new("invalid_skeleton", e.to_string()))?;
//!         let frames = request.total_frames() as usize;
//!         let sample = Sample {
//!             rotations: vec![[0.0, 0.0, 0.0, 1.0]; frames * skeleton.joints.len()],
//!             root_positions: vec![skeleton.joints[0].rest_translation; frames],
//!             ..Sample::default()
//!         };
//!         Ok(Take { num_frames: frames, samples: vec![sample; request.num_samples() as usize], skeleton, ..Take::default() })
//!     }
//! }
//!
//! # async fn run(skeleton: stagecraft::skeleton::Skeleton) -> std::io::Result<()> {
//! let models = Backbones::new(vec![Arc::new(Statue(skeleton))]).expect("unique ids");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! stagecraft::motion::server::serve(models, listener, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::gltf;
use super::procedural::{self, EffectorKey, Plan, PlanSegment, PoseKey, ProceduralError, RootKey};
use super::take::{Sample, Skeleton, Take};
use super::wire::{
    Capabilities, Constraint, GenerateRequest, MmcpError, ModelOption, ModelSpec, PROTOCOL_VERSION,
    Segment,
};
use crate::skeleton;

pub(crate) use schema::py_repr;

/// One motion model. `generate` receives a request that passed every generic check against this model's
/// [`ModelSpec`] and returns the motion on the request skeleton (one sample per `num_samples`), or an MMCP
/// error to pass through unchanged.
pub trait Backbone: Send + Sync {
    /// The model's capabilities entry. Called per request (a model may change its mind while loading).
    fn capabilities(&self) -> ModelSpec;

    fn generate(&self, request: &GenerateRequest) -> Result<Take, MmcpError>;

    /// The id without building the whole spec (a model may need its weights for that).
    fn model_id(&self) -> String {
        self.capabilities().id
    }

    /// Load weights, warm caches: called once before serving.
    fn setup(&self) -> Result<(), MmcpError> {
        Ok(())
    }

    /// Release what `setup` took: called once after the server stopped.
    fn teardown(&self) {}
}

/// How long a generation waits for a free slot before it is refused with `resource_exhausted`.
pub const QUEUE_WAIT: Duration = Duration::from_secs(30);

/// The generation slots of one process: one generation per core at a time, since more would only
/// make every one of them slower. `stagecraft motion-server` holds one set, and so does
/// [`super::MotionHub`] for the built-in backbones it runs in process.
#[derive(Clone)]
pub struct GenerationSlots(Arc<Semaphore>);

impl GenerationSlots {
    /// One slot per core.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self(Arc::new(Semaphore::new(cores)))
    }

    /// A free slot, waiting at most `wait` for one. The slot is taken until the permit is dropped:
    /// move it into the blocking job, so that a job whose caller gave up still counts while it runs.
    pub async fn acquire(&self, wait: Duration) -> Result<OwnedSemaphorePermit, MmcpError> {
        tokio::time::timeout(wait, self.0.clone().acquire_owned())
            .await
            .map_err(|_| {
                MmcpError::new(
                    "resource_exhausted",
                    "every generation slot is busy; retry shortly",
                )
            })?
            // The semaphore is never closed; this is only for completeness.
            .map_err(|_| MmcpError::new("model_unavailable", "generation has stopped"))
    }
}

/// The built-in models: the procedural one first (the default), then `null`.
pub fn builtin_backbones() -> Vec<Arc<dyn Backbone>> {
    vec![
        Arc::new(ProceduralBackbone),
        Arc::new(NullBackbone::default()),
    ]
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    #[error("no backbone to serve")]
    Empty,
    #[error("duplicate model id {0:?}: every served model needs its own id")]
    DuplicateModel(String),
}

/// `"<digits>.<digits>"`, the pattern of `protocol_version`.
pub(crate) fn well_formed_version(v: &str) -> bool {
    match v.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Only major 1 is spoken; any minor of it is accepted (docs/mmcp.md#versions).
fn check_version(v: &str) -> Result<(), MmcpError> {
    let major = v
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_start_matches('0');
    if major == "1" {
        Ok(())
    } else {
        Err(MmcpError::new(
            "version_unsupported",
            format!(
                "protocol_version {} is not supported by this server",
                py_repr(v)
            ),
        )
        .with_details(json!({"supported_majors": ["1"]})))
    }
}

fn invalid_options(message: impl Into<String>) -> MmcpError {
    MmcpError::new("invalid_options", message)
}

pub(crate) fn payload_too_large(size: Option<usize>, cap: u64) -> MmcpError {
    match size {
        Some(size) => MmcpError::new(
            "payload_too_large",
            format!("request body is {size} bytes; max_request_bytes is {cap}"),
        )
        .with_details(json!({"max_request_bytes": cap, "request_bytes": size})),
        None => MmcpError::new(
            "payload_too_large",
            format!("request body is more than {cap} bytes; max_request_bytes is {cap}"),
        )
        .with_details(json!({"max_request_bytes": cap})),
    }
}

/// Segment types the schema knows (others are a 422 `union_tag_invalid`).
const KNOWN_SEGMENTS: [&str; 5] = [
    "text",
    "unconditioned",
    "pose",
    "motion_reference",
    "video_reference",
];

fn unsupported_segment(kind: &str, spec: &ModelSpec) -> MmcpError {
    MmcpError::new(
        "unsupported_segment",
        format!(
            "segment type {} is not supported by this model",
            py_repr(kind)
        ),
    )
    .with_details(json!({"supported_segments": spec.supported_segments}))
}

/// The schema step (docs/mmcp.md#server-checks step 6): a typed request, or `400 invalid_skeleton` / `422 schema_validation`.
fn parse_schema(raw: &Value) -> Result<GenerateRequest, MmcpError> {
    match schema::validate(raw) {
        Ok(normalised) => serde_json::from_value(normalised).map_err(|e| {
            // The validator and the typed structs disagree: a bug here, reported as a schema error.
            MmcpError::new(
                "schema_validation",
                format!("request fails schema validation: {e}"),
            )
            .with_details(json!({"errors": []}))
        }),
        Err(errors) => {
            if let Some(topology) = errors.iter().find(|e| e["type"] == "invalid_skeleton") {
                let msg = topology["msg"]
                    .as_str()
                    .unwrap_or("invalid skeleton")
                    .to_string();
                let all: Vec<Value> = errors
                    .iter()
                    .filter(|e| e["type"] == "invalid_skeleton")
                    .cloned()
                    .collect();
                return Err(
                    MmcpError::new("invalid_skeleton", msg).with_details(json!({"errors": all}))
                );
            }
            Err(
                MmcpError::new("schema_validation", "request fails schema validation")
                    .with_details(json!({"errors": errors})),
            )
        }
    }
}

/// `check_request` for one model: docs/mmcp.md#server-checks steps 4–8 with `spec` as the only served model.
pub fn check_request(spec: &ModelSpec, raw: &Value) -> Result<GenerateRequest, MmcpError> {
    check_with(
        raw,
        &|id: &str| (id == spec.id).then(|| spec.clone()),
        std::slice::from_ref(&spec.id),
    )
}

/// Check `raw` against `backbone` and run it: what the in-process backend calls.
pub fn generate_checked(backbone: &dyn Backbone, raw: &Value) -> Result<Take, MmcpError> {
    let spec = backbone.capabilities();
    let request = check_request(&spec, raw)?;
    run(backbone, &spec, &request)
}

/// Steps 4–8 of docs/mmcp.md#server-checks; `lookup` finds the spec of a served model.
fn check_with(
    raw: &Value,
    lookup: &dyn Fn(&str) -> Option<ModelSpec>,
    available: &[String],
) -> Result<GenerateRequest, MmcpError> {
    // 4. A well-formed version of another major is refused before anything else is read.
    if let Some(v) = raw.get("protocol_version").and_then(Value::as_str)
        && well_formed_version(v)
    {
        check_version(v)?;
    }
    // 5. Segment types the named model does not take, from the raw body (before their payload is parsed).
    let named = raw.get("model").and_then(Value::as_str).and_then(lookup);
    if let (Some(spec), Some(segments)) = (&named, raw.get("segments").and_then(Value::as_array)) {
        for s in segments {
            if let Some(kind) = s.get("type").and_then(Value::as_str)
                && KNOWN_SEGMENTS.contains(&kind)
                && !spec.supported_segments.iter().any(|x| x == kind)
            {
                return Err(unsupported_segment(kind, spec));
            }
        }
    }
    // 6. Schema.
    let request = parse_schema(raw)?;
    check_version(&request.protocol_version)?;
    // 7. The model.
    let Some(spec) = lookup(&request.model) else {
        let mut available = available.to_vec();
        available.sort();
        return Err(MmcpError::new(
            "unknown_model",
            format!(
                "model {} is not registered with this server",
                py_repr(&request.model)
            ),
        )
        .with_details(json!({"available_models": available})));
    };
    // 8. Against the model.
    check_against_spec(&request, &spec)?;
    Ok(request)
}

/// docs/mmcp.md#server-checks step 8, in the reference order.
pub(crate) fn check_against_spec(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), MmcpError> {
    let retargeting_unsupported = || {
        MmcpError::new(
            "retargeting_unsupported",
            "this model does not support retargeting; send the canonical skeleton verbatim from /capabilities",
        )
    };
    let canonical: Vec<&str> = spec.canonical_skeleton.names().collect();
    if !spec.supports_retargeting && req.skeleton.names().collect::<Vec<_>>() != canonical {
        return Err(retargeting_unsupported());
    }
    for s in &req.segments {
        if !spec.supported_segments.iter().any(|x| x == s.kind()) {
            return Err(unsupported_segment(s.kind(), spec));
        }
    }
    let sorted_names = |sk: &skeleton::Skeleton| {
        let mut v: Vec<String> = sk.names().map(str::to_string).collect();
        v.sort();
        v
    };
    let unknown_joint = |joint: &str, sk: &skeleton::Skeleton, which: &str| {
        MmcpError::new(
            "unknown_joint",
            format!("joint {} is not in the {which}", py_repr(joint)),
        )
        .with_details(json!({"skeleton_joints": sorted_names(sk)}))
    };
    for (index, s) in req.segments.iter().enumerate() {
        let Segment::MotionReference(r) = s else {
            continue;
        };
        let (sk, which) = match &r.skeleton {
            Some(sk) => (sk, "motion_reference skeleton"),
            None => (&req.skeleton, "request skeleton"),
        };
        if r.skeleton.is_some()
            && !spec.supports_retargeting
            && sk.names().collect::<Vec<_>>() != canonical
        {
            return Err(retargeting_unsupported());
        }
        let names: Vec<&str> = sk.names().collect();
        if let Some(j) = r.joint_names.iter().find(|j| !names.contains(&j.as_str())) {
            return Err(unknown_joint(j, sk, which));
        }
        let root = sk
            .joints
            .iter()
            .find(|j| j.parent.is_none())
            .map(|j| j.name.clone())
            .unwrap_or_default();
        if !r.joint_names.contains(&root) {
            return Err(MmcpError::new(
                "invalid_request",
                format!(
                    "motion_reference must include the {which}'s root joint {}",
                    py_repr(&root)
                ),
            )
            .with_details(json!({"root_joint": root, "segment": index})));
        }
        if let Some(cap) = spec.limits.max_reference_frames
            && r.rotations.len() > cap as usize
        {
            return Err(invalid_options(format!(
                "motion_reference clip has {} frames; max_reference_frames is {cap}",
                r.rotations.len()
            ))
            .with_details(json!({"max_reference_frames": cap, "reference_frames": r.rotations.len(), "segment": index})));
        }
    }
    for (index, s) in req.segments.iter().enumerate() {
        let Segment::VideoReference(v) = s else {
            continue;
        };
        if let (Some(cap), Some(data)) = (spec.limits.max_video_bytes, &v.video.data) {
            let padding = data.bytes().rev().take_while(|&c| c == b'=').count();
            let size = (data.len() / 4 * 3).saturating_sub(padding) as u64;
            if size > cap {
                return Err(MmcpError::new(
                    "payload_too_large",
                    format!("video_reference video is {size} bytes; max_video_bytes is {cap}"),
                )
                .with_details(
                    json!({"max_video_bytes": cap, "video_bytes": size, "segment": index}),
                ));
            }
        }
        if let (Some(cap), Some(end)) = (spec.limits.max_video_seconds, v.end_s) {
            let seconds = end - v.start_s.unwrap_or(0.0);
            if seconds > cap {
                return Err(invalid_options(format!(
                    "video_reference reads {seconds}s of video; max_video_seconds is {cap}"
                ))
                .with_details(
                    json!({"max_video_seconds": cap, "video_seconds": seconds, "segment": index}),
                ));
            }
        }
    }
    let options = req.options.clone().unwrap_or_default();
    if let Some(sent) = options.model_options.as_ref().filter(|m| !m.is_empty()) {
        check_model_options(sent, spec)?;
    }
    if options.keyframe_budget.is_some() && !spec.supports_keyframe_reduction {
        return Err(
            invalid_options("this model does not support options.keyframe_budget")
                .with_details(json!({"model": spec.id})),
        );
    }
    if options.loop_ == Some(true) {
        if !spec.supports_loop {
            return Err(invalid_options("this model does not support options.loop")
                .with_details(json!({"model": spec.id})));
        }
        if req.segments.len() != 1 {
            return Err(invalid_options("options.loop needs exactly one segment")
                .with_details(json!({"segments": req.segments.len()})));
        }
    }
    let total = req.total_frames();
    let joint_names: Vec<&str> = req.skeleton.names().collect();
    for c in &req.constraints {
        if !spec.supported_constraints.iter().any(|x| x == c.kind()) {
            return Err(MmcpError::new(
                "unsupported_constraint",
                format!(
                    "constraint type {} is not supported by this model",
                    py_repr(c.kind())
                ),
            )
            .with_details(json!({"supported_constraints": spec.supported_constraints})));
        }
        if let Some(j) = c.joints().into_iter().find(|j| !joint_names.contains(j)) {
            return Err(unknown_joint(j, &req.skeleton, "request skeleton"));
        }
        if let Some(&f) = c.frames().iter().find(|&&f| f < 0 || f as u64 >= total) {
            return Err(MmcpError::new(
                "frame_out_of_range",
                format!("frame {f} is outside [0, {}]", total as i64 - 1),
            )
            .with_details(json!({"frame": f, "total_frames": total})));
        }
    }
    let limits = &spec.limits;
    if req.constraints.len() > limits.max_constraints_per_request as usize {
        return Err(invalid_options(format!(
            "too many constraints: {} > {}",
            req.constraints.len(),
            limits.max_constraints_per_request
        )));
    }
    if req.num_samples() > limits.max_num_samples {
        return Err(invalid_options(format!(
            "num_samples {} exceeds max_num_samples {}",
            req.num_samples(),
            limits.max_num_samples
        )));
    }
    for s in &req.segments {
        let prompt = match s {
            Segment::Text(t) => &t.prompt,
            Segment::Pose(p) => &p.prompt,
            _ => continue,
        };
        let n = prompt.chars().count();
        if n > limits.max_prompt_length as usize {
            return Err(invalid_options(format!(
                "prompt length {n} exceeds max_prompt_length {}",
                limits.max_prompt_length
            )));
        }
    }
    let fps = effective_fps(req, spec);
    let seconds = total as f64 / fps;
    if seconds > limits.max_duration_seconds {
        return Err(invalid_options(format!(
            "total duration {seconds:.2}s exceeds max_duration_seconds {:?}",
            limits.max_duration_seconds
        )));
    }
    Ok(())
}

/// `timing.fps`, else the model's own.
pub fn effective_fps(req: &GenerateRequest, spec: &ModelSpec) -> f64 {
    req.timing.as_ref().map(|t| t.fps).unwrap_or(spec.fps)
}

fn check_model_options(
    sent: &serde_json::Map<String, Value>,
    spec: &ModelSpec,
) -> Result<(), MmcpError> {
    let mut sent_names: Vec<&String> = sent.keys().collect();
    sent_names.sort();
    if spec.model_options.is_empty() {
        return Err(invalid_options("this model declares no model_options")
            .with_details(json!({"model": spec.id, "sent": sent_names})));
    }
    let declared: BTreeMap<&str, &ModelOption> = spec
        .model_options
        .iter()
        .map(|o| (o.name.as_str(), o))
        .collect();
    for (name, value) in sent {
        let Some(opt) = declared.get(name.as_str()) else {
            return Err(
                invalid_options(format!("this model has no option {}", py_repr(name)))
                    .with_details(
                        json!({"model": spec.id, "option": name, "options": declared.keys().collect::<Vec<_>>()}),
                    ),
            );
        };
        if let Some(why) = option_error(opt, value) {
            return Err(
                invalid_options(format!("options.model_options.{name}: {why}"))
                    .with_details(json!({"model": spec.id, "option": name, "value": value})),
            );
        }
    }
    Ok(())
}

/// Why `value` is not one of `opt`'s values (refused, never clamped).
fn option_error(opt: &ModelOption, value: &Value) -> Option<String> {
    let type_name = |v: &Value| match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    };
    match opt.kind.as_str() {
        "boolean" => {
            (!value.is_boolean()).then(|| format!("expected a boolean, got {}", type_name(value)))
        }
        "number" | "integer" => {
            let Some(x) = value.as_f64().filter(|_| value.is_number()) else {
                return Some(format!("expected a {}, got {}", opt.kind, type_name(value)));
            };
            if opt.kind == "integer" && value.is_f64() && x.fract() != 0.0 {
                return Some(format!("expected an integer, got {x}"));
            }
            if let Some(min) = opt.minimum
                && x < min
            {
                return Some(format!("{value} is below the minimum {min:?}"));
            }
            if let Some(max) = opt.maximum
                && x > max
            {
                return Some(format!("{value} is above the maximum {max:?}"));
            }
            None
        }
        "enum" => {
            let allowed = opt.values.clone().unwrap_or_default();
            (!value
                .as_str()
                .is_some_and(|s| allowed.iter().any(|a| a == s)))
            .then(|| format!("{value} is not one of {allowed:?}"))
        }
        _ => {
            let allowed = opt.values.clone().unwrap_or_default();
            let Some(items) = value.as_array() else {
                return Some(format!(
                    "expected a list of flags, got {}",
                    type_name(value)
                ));
            };
            let bad: Vec<&Value> = items
                .iter()
                .filter(|v| !v.as_str().is_some_and(|s| allowed.iter().any(|a| a == s)))
                .collect();
            if !bad.is_empty() {
                return Some(format!("{bad:?} not among {allowed:?}"));
            }
            let mut seen: Vec<&Value> = Vec::new();
            for v in items {
                if seen.contains(&v) {
                    return Some("the same flag is listed twice".into());
                }
                seen.push(v);
            }
            None
        }
    }
}

/// Run a checked request, and refuse to pass on a take that is not what was asked for.
fn run(
    backbone: &dyn Backbone,
    spec: &ModelSpec,
    request: &GenerateRequest,
) -> Result<Take, MmcpError> {
    let mut take = backbone.generate(request)?;
    let frames = request.total_frames() as usize;
    let joints = request.skeleton.joints.len();
    let internal =
        |why: String| MmcpError::new("internal_error", format!("model {:?} {why}", spec.id));
    if take.num_frames != frames || take.skeleton.joints.len() != joints {
        return Err(internal(format!(
            "returned {} frames × {} joints for a request of {frames} × {joints}",
            take.num_frames,
            take.skeleton.joints.len()
        )));
    }
    if take.samples.len() != request.num_samples() as usize {
        return Err(internal(format!(
            "returned {} samples for num_samples {}",
            take.samples.len(),
            request.num_samples()
        )));
    }
    gltf::check_take(&take).map_err(|e| internal(format!("returned an unusable take: {e}")))?;
    take.model = spec.id.clone();
    take.version = PROTOCOL_VERSION.to_string();
    take.fps = effective_fps(request, spec) as f32;
    Ok(take)
}

/// The models one server (or the in-process backend) serves, by id.
#[derive(Clone)]
pub struct Backbones {
    backbones: Vec<Arc<dyn Backbone>>,
}

impl std::fmt::Debug for Backbones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

impl Backbones {
    /// Duplicate ids are refused: a request could not say which of the two it means.
    pub fn new(backbones: Vec<Arc<dyn Backbone>>) -> Result<Backbones, RegistryError> {
        if backbones.is_empty() {
            return Err(RegistryError::Empty);
        }
        let mut ids: Vec<String> = Vec::new();
        for b in &backbones {
            let id = b.model_id();
            if ids.contains(&id) {
                return Err(RegistryError::DuplicateModel(id));
            }
            ids.push(id);
        }
        Ok(Backbones { backbones })
    }

    /// The built-in models (procedural, null).
    pub fn builtin() -> Backbones {
        Backbones {
            backbones: builtin_backbones(),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.backbones.iter().map(|b| b.model_id()).collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<dyn Backbone>> {
        self.backbones.iter().find(|b| b.model_id() == id).cloned()
    }

    pub fn setup(&self) -> Result<(), MmcpError> {
        self.backbones.iter().try_for_each(|b| b.setup())
    }

    pub fn teardown(&self) {
        for b in &self.backbones {
            b.teardown();
        }
    }

    /// A model's capabilities entry as served: batch bodies work for every model here.
    fn served_spec(backbone: &dyn Backbone) -> ModelSpec {
        let mut spec = backbone.capabilities();
        spec.supports_batch = true;
        spec.supports_motion_reference_mixed = spec
            .supported_segments
            .iter()
            .any(|s| s == "motion_reference");
        spec
    }

    /// `GET /capabilities`.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::for_models(
            self.backbones
                .iter()
                .map(|b| Self::served_spec(b.as_ref()))
                .collect(),
        )
    }

    /// The largest body any model takes: the cap before the body is read.
    pub fn max_request_bytes(&self) -> u64 {
        self.backbones
            .iter()
            .map(|b| b.capabilities().limits.max_request_bytes)
            .max()
            .unwrap_or(1_048_576)
    }

    fn lookup(&self, id: &str) -> Option<ModelSpec> {
        self.get(id).map(|b| Self::served_spec(b.as_ref()))
    }

    /// docs/mmcp.md#server-checks steps 4–9 for a single request; `body_bytes` (when known) against the named model's own cap.
    pub fn check(
        &self,
        raw: &Value,
        body_bytes: Option<usize>,
    ) -> Result<(Arc<dyn Backbone>, ModelSpec, GenerateRequest), MmcpError> {
        let request = check_with(raw, &|id| self.lookup(id), &self.ids())?;
        let (backbone, spec) = match (self.get(&request.model), self.lookup(&request.model)) {
            (Some(b), Some(s)) => (b, s),
            _ => {
                return Err(MmcpError::new(
                    "internal_error",
                    "model vanished during the request",
                ));
            }
        };
        if let Some(size) = body_bytes
            && size as u64 > spec.limits.max_request_bytes
        {
            return Err(payload_too_large(Some(size), spec.limits.max_request_bytes));
        }
        Ok((backbone, spec, request))
    }

    /// Check and run one request (the body of `POST /generate` without `requests`).
    pub fn generate(&self, raw: &Value, body_bytes: Option<usize>) -> Result<Take, MmcpError> {
        let (backbone, spec, request) = self.check(raw, body_bytes)?;
        run(backbone.as_ref(), &spec, &request)
    }

    /// A batch body (docs/mmcp.md#endpoints): whole-batch refusals as `Err`, else one `{"gltf"}` or `{"error"}` per item.
    pub fn generate_batch(&self, raw: &Value) -> Result<Value, MmcpError> {
        let version = match raw.get("protocol_version") {
            Some(Value::String(v)) => v.clone(),
            _ => {
                return Err(MmcpError::new(
                    "schema_validation",
                    "a batch needs a protocol_version",
                ));
            }
        };
        check_version(&version)?;
        let items = match raw.get("requests") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => {
                return Err(MmcpError::new(
                    "schema_validation",
                    "requests must be a non-empty list",
                ));
            }
        };
        let limit = self
            .backbones
            .iter()
            .map(|b| b.capabilities().limits.max_batch_size)
            .min()
            .unwrap_or(16);
        if items.len() > limit as usize {
            return Err(invalid_options(format!(
                "a batch holds at most {limit} requests; got {}",
                items.len()
            ))
            .with_details(json!({"max_batch_size": limit, "requests": items.len()})));
        }
        let results: Vec<Value> = items
            .iter()
            .map(|item| {
                let outcome = (|| {
                    let Value::Object(fields) = item else {
                        return Err(MmcpError::new(
                            "schema_validation",
                            "each request must be an object",
                        ));
                    };
                    // The item inherits the batch's version; its own overrides it.
                    let mut merged = serde_json::Map::new();
                    merged.insert("protocol_version".into(), Value::String(version.clone()));
                    merged.extend(fields.clone());
                    let merged = Value::Object(merged);
                    let item_bytes = serde_json::to_vec(item).map(|v| v.len()).unwrap_or(0);
                    let take = self.generate(&merged, Some(item_bytes))?;
                    Ok(gltf::encode_document(&take))
                })();
                match outcome {
                    Ok(doc) => json!({"gltf": doc}),
                    Err(e) => serde_json::to_value(e.to_envelope()).unwrap_or(Value::Null),
                }
            })
            .collect();
        Ok(json!({"results": results}))
    }
}

// ---------------------------------------------------------------------------------------------
// The built-in backbones
// ---------------------------------------------------------------------------------------------

/// Every request frame count the models here accept fits comfortably in memory only up to this fps.
fn check_fps(request: &GenerateRequest, spec: &ModelSpec) -> Result<f32, MmcpError> {
    let fps = effective_fps(request, spec);
    if fps > f64::from(procedural::MAX_FPS) {
        return Err(invalid_options(format!(
            "timing.fps {fps} is above the {} fps this model generates; ask for less and resample",
            procedural::MAX_FPS
        ))
        .with_details(json!({"model_fps": spec.fps, "requested_fps": fps})));
    }
    // Every limit can hold while their product does not: 30 s at 240 fps, 16 samples, 10 000 joints
    // would be a 4 GB take. Refuse before allocating it.
    let values = request.total_frames() as u128
        * request.skeleton.joints.len() as u128
        * u128::from(request.num_samples());
    if values > MAX_TAKE_VALUES {
        return Err(invalid_options(format!(
            "the take would hold {values} joint rotations (frames × joints × samples); this model answers at most \
             {MAX_TAKE_VALUES}: ask for fewer samples, fewer frames or a lower fps"
        ))
        .with_details(json!({"max_take_values": MAX_TAKE_VALUES, "take_values": values as u64})));
    }
    Ok(fps as f32)
}

/// About 128 MB of rotations, 170 MB of base64 in the answer.
const MAX_TAKE_VALUES: u128 = 8_000_000;

/// The procedural humanoid model (docs/mmcp.md#built-in-models): the zero-setup default.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProceduralBackbone;

impl Backbone for ProceduralBackbone {
    fn model_id(&self) -> String {
        procedural::MODEL_ID.to_string()
    }

    fn capabilities(&self) -> ModelSpec {
        let mut spec = ModelSpec::new(
            procedural::MODEL_ID,
            f64::from(procedural::FPS),
            procedural::standard_skeleton().to_wire(),
        );
        // Every flag below is implemented; everything not listed is refused by the generic checks.
        spec.supports_retargeting = true;
        spec.supports_segment_seed = true;
        spec.supports_loop = true;
        spec.supports_batch = true;
        spec.supports_trajectory = true;
        spec.supported_constraints = vec![
            "root_path".into(),
            "effector_target".into(),
            "pose_keyframe".into(),
        ];
        spec.supported_segments = vec!["text".into(), "unconditioned".into(), "pose".into()];
        // No classifier-free guidance in a procedural model: a guidance block is accepted and has no effect.
        spec.supported_guidance_types = vec!["nocfg".into()];
        spec.predicted_contact_joints = procedural::CONTACT_JOINTS
            .iter()
            .map(|s| s.to_string())
            .collect();
        spec.native_clip_seconds = 30.0;
        spec.recommended_max_duration_seconds = 30.0;
        spec
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Take, MmcpError> {
        let spec = self.capabilities();
        let fps = check_fps(request, &spec)?;
        let skeleton = Skeleton::from_wire(&request.skeleton)
            .map_err(|e| MmcpError::new("invalid_skeleton", e.to_string()))?;
        let options = request.options.clone().unwrap_or_default();
        let segments = request
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => PlanSegment {
                    prompt: Some(t.prompt.clone()),
                    frames: t.duration_frames as usize,
                    seed: t.seed.map(|s| s as u64),
                    pose: false,
                },
                Segment::Unconditioned(u) => PlanSegment {
                    prompt: None,
                    frames: u.duration_frames as usize,
                    seed: u.seed.map(|s| s as u64),
                    pose: false,
                },
                Segment::Pose(p) => PlanSegment {
                    prompt: Some(p.prompt.clone()),
                    frames: 1,
                    seed: None,
                    pose: true,
                },
                other => PlanSegment {
                    prompt: None,
                    frames: other.frames() as usize,
                    seed: None,
                    pose: false,
                },
            })
            .collect();
        let mut root_path = Vec::new();
        let mut pose_keys = Vec::new();
        let mut effectors = Vec::new();
        for c in &request.constraints {
            match c {
                Constraint::RootPath(r) => {
                    for (i, (&frame, xz)) in r.frames.iter().zip(&r.positions_xz).enumerate() {
                        root_path.push(RootKey {
                            frame: frame.max(0) as usize,
                            xz: [xz[0] as f32, xz[1] as f32],
                            heading: r
                                .heading_radians
                                .as_ref()
                                .and_then(|h| h.get(i))
                                .map(|h| *h as f32),
                        });
                    }
                }
                Constraint::EffectorTarget(e) => {
                    for (i, (&frame, p)) in e.frames.iter().zip(&e.positions).enumerate() {
                        effectors.push(EffectorKey {
                            joint: e.joint.clone(),
                            frame: frame.max(0) as usize,
                            position: p.map(|v| v as f32),
                            rotation: e
                                .rotations
                                .as_ref()
                                .and_then(|r| r.get(i))
                                .map(|q| q.map(|v| v as f32)),
                        });
                    }
                }
                Constraint::PoseKeyframe(p) => pose_keys.push(PoseKey {
                    frame: p.frame.max(0) as usize,
                    joint_rotations: p
                        .joint_rotations
                        .iter()
                        .map(|(k, q)| (k.clone(), q.map(|v| v as f32)))
                        .collect(),
                    root_position: p.root_position.map(|r| r.map(|v| v as f32)),
                    fill_rest: p.fill_mode.as_deref() == Some("rest"),
                }),
                _ => {}
            }
        }
        let plan = Plan {
            skeleton,
            fps,
            segments,
            total_frames: request.total_frames() as usize,
            // Negative seeds are as good as any: their bits are the seed.
            seed: options.seed.map(|s| s as u64),
            num_samples: request.num_samples() as usize,
            transition_frames: options.transition_frames.unwrap_or(5) as usize,
            looped: options.loop_.unwrap_or(false),
            root_path,
            pose_keys,
            effectors,
        };
        let ignored = ignored_options(&options);
        let mut take = procedural::generate(&plan).map_err(|e| match e {
            // Like the reference Kimodo server: a joint outside the hand and foot chains is an unknown effector.
            ProceduralError::NotAnEffector(_) => {
                let mut names: Vec<String> = plan.skeleton.names().map(str::to_string).collect();
                names.sort();
                MmcpError::new("unknown_joint", e.to_string()).with_details(json!({
                    "skeleton_joints": names,
                    "effector_joints": procedural::effector_joints(&plan.skeleton),
                }))
            }
            other => MmcpError::new("invalid_request", other.to_string()),
        })?;
        if !ignored.is_empty() {
            // Accepted, not refused: clients such as Proscenium send guidance by default.
            take.notes.push(json!({
                "code": "options_ignored",
                "severity": "info",
                "message": format!(
                    "the procedural model is not a diffusion model and ignores {}",
                    ignored.join(", ")
                ),
            }));
        }
        Ok(take)
    }
}

/// Options a diffusion model would use that the procedural model has no counterpart for.
fn ignored_options(options: &crate::motion::wire::Options) -> Vec<&'static str> {
    let mut ignored = Vec::new();
    if options.guidance.as_ref().is_some_and(|g| g.kind != "nocfg") {
        ignored.push("guidance");
    }
    if options.diffusion_steps.is_some() {
        ignored.push("diffusion_steps");
    }
    ignored
}

/// The rest pose for every request: for client and plugin development without a model (the counterpart of
/// the Python SDK's `null_backbone`). Constraints of every frame-bound type are accepted and ignored.
#[derive(Debug, Clone)]
pub struct NullBackbone {
    pub id: String,
    pub fps: f64,
    pub skeleton: skeleton::Skeleton,
}

impl Default for NullBackbone {
    fn default() -> Self {
        NullBackbone {
            id: "null".into(),
            fps: 30.0,
            skeleton: procedural::standard_skeleton().to_wire(),
        }
    }
}

impl Backbone for NullBackbone {
    fn model_id(&self) -> String {
        self.id.clone()
    }

    fn capabilities(&self) -> ModelSpec {
        let mut spec = ModelSpec::new(self.id.clone(), self.fps, self.skeleton.clone());
        spec.supports_batch = true;
        spec.supported_constraints = vec![
            "root_path".into(),
            "effector_target".into(),
            "pose_keyframe".into(),
        ];
        spec
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Take, MmcpError> {
        let fps = check_fps(request, &self.capabilities())?;
        let skeleton = Skeleton::from_wire(&request.skeleton)
            .map_err(|e| MmcpError::new("invalid_skeleton", e.to_string()))?;
        let frames = request.total_frames() as usize;
        let root = skeleton
            .joints
            .iter()
            .position(|j| j.parent.is_none())
            .unwrap_or(0);
        let rest_rot: Vec<[f32; 4]> = skeleton.joints.iter().map(|j| j.rest_rotation).collect();
        let root_rest = skeleton
            .joints
            .get(root)
            .map(|j| j.rest_translation)
            .unwrap_or([0.0; 3]);
        let sample = Sample {
            rotations: (0..frames).flat_map(|_| rest_rot.iter().copied()).collect(),
            root_positions: vec![root_rest; frames],
            ..Sample::default()
        };
        Ok(Take {
            model: self.id.clone(),
            version: PROTOCOL_VERSION.to_string(),
            fps,
            num_frames: frames,
            skeleton,
            samples: vec![sample; request.num_samples() as usize],
            notes: Vec::new(),
            canonical_to_request: BTreeMap::new(),
        })
    }
}

#[cfg(test)]
mod tests;
