//! MMCP wire types, client (reqwest), glTF decode/encode, takes, the built-in procedural backend,
//! and the MMCP server side (`stagecraft motion-server`).
//!
//! [`MotionHub`] is what the dispatcher talks to: the configured backends (HTTP, or the built-in
//! backbones in process), the take store, and the generate → decode → store path. It knows nothing
//! about DCCs: the dispatcher fetches a rig skeleton and applies takes (DESIGN.md §1).

pub mod backbone;
pub mod client;
pub mod gltf;
pub mod preview;
pub mod procedural;
pub mod server;
pub mod store;
pub mod take;
pub mod wire;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{BackendConfig, Config};
use backbone::Backbone;
use client::{CallOptions, HttpBackend};
use store::{TakeInfo, TakeStore};
use take::Take;
use wire::{Constraint, GenerateRequest, MmcpError, ModelSpec, Options, Segment, WireSkeleton};

pub use client::ProgressFn;

/// Name of the in-process backend in listings and `--backend`.
pub const BUILTIN_BACKEND: &str = "builtin";
/// Duration when neither `seconds` nor segment durations say.
const DEFAULT_SECONDS: f64 = 4.0;

#[derive(Debug, thiserror::Error)]
pub enum MotionError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    NoBackend(String),
    #[error("{0}")]
    InvalidArguments(String),
    /// An MMCP error from a backend (or a local pre-check using the same code), passed through.
    #[error("{backend}: {error}")]
    Mmcp {
        backend: String,
        error: Box<MmcpError>,
        /// Transport facts: HTTP status, phase, location, retry_after, request_id.
        extra: Value,
    },
    #[error("motion backend {backend:?} ({url}) is unreachable: {message}")]
    Unreachable {
        backend: String,
        url: String,
        message: String,
    },
    #[error("motion backend {backend:?} sent a bad response: {message}")]
    BadResponse { backend: String, message: String },
    #[error("motion backend {backend:?} did not answer within {seconds:.0} s")]
    Deadline { backend: String, seconds: f64 },
    #[error("the motion request was cancelled")]
    Cancelled,
    #[error("no take with id {0:?}")]
    UnknownTake(String),
    #[error("{0}")]
    Io(String),
}

impl MotionError {
    /// The code the agent sees (DESIGN.md §7).
    pub fn code(&self) -> &str {
        match self {
            MotionError::Config(_) => "invalid_config",
            MotionError::NoBackend(_) => "no_backend",
            MotionError::InvalidArguments(_) => "invalid_arguments",
            MotionError::Mmcp { error, .. } => &error.code,
            MotionError::Unreachable { .. } => "backend_unreachable",
            MotionError::BadResponse { .. } => "bad_response",
            MotionError::Deadline { .. } => "timeout",
            MotionError::Cancelled => "cancelled",
            MotionError::UnknownTake(_) => "unknown_take",
            MotionError::Io(_) => "io_error",
        }
    }

    /// The human message without the code prefix.
    pub fn message(&self) -> String {
        match self {
            MotionError::Mmcp { backend, error, .. } => format!("{backend}: {}", error.message),
            other => other.to_string(),
        }
    }

    pub fn details(&self) -> Value {
        match self {
            MotionError::Mmcp {
                backend,
                error,
                extra,
            } => {
                let mut d = match &error.details {
                    Value::Object(m) => m.clone(),
                    Value::Null => Default::default(),
                    other => {
                        let mut m = serde_json::Map::new();
                        m.insert("details".into(), other.clone());
                        m
                    }
                };
                d.entry("backend").or_insert(json!(backend));
                d.entry("http_status").or_insert(json!(error.status));
                if let Value::Object(x) = extra {
                    for (k, v) in x {
                        if k != "status" {
                            d.entry(k.clone()).or_insert(v.clone());
                        }
                    }
                }
                Value::Object(d)
            }
            MotionError::Unreachable { backend, url, .. } => {
                json!({"backend": backend, "url": url})
            }
            MotionError::BadResponse { backend, .. } => json!({"backend": backend}),
            MotionError::Deadline { backend, seconds } => {
                json!({"backend": backend, "timeout_seconds": seconds})
            }
            MotionError::UnknownTake(id) => json!({"take_id": id}),
            _ => json!({}),
        }
    }

    /// What the agent should do next.
    pub fn hint(&self) -> String {
        let s = match self.code() {
            "no_backend" => {
                "Call list_motion_models to see the backends and models; configure [[motion.backends]] in stagecraft.toml, or run `stagecraft motion-server` and point a backend at it."
            }
            "invalid_arguments" => "Fix the named argument and call again.",
            "unknown_model" => {
                "Call list_motion_models and pass one of the listed model ids (or omit `model`)."
            }
            "unknown_joint" => {
                "Use joint names of the request skeleton: list_motion_models shows each model's canonical_skeleton; details.skeleton_joints lists the valid names."
            }
            "frame_out_of_range" => {
                "Constraint frames are 0-based on the whole timeline at the model's fps: keep them within [0, total_frames - 1] (details.total_frames), or lengthen `seconds`."
            }
            "unsupported_constraint" | "unsupported_segment" => {
                "Use only the constraint and segment types the model lists in list_motion_models, or pick a model that supports this one."
            }
            "invalid_options" => {
                "Stay within the model's limits (list_motion_models → limits: max_duration_seconds, max_num_samples, max_constraints_per_request, max_prompt_length) and its supports_* flags."
            }
            "invalid_skeleton" | "retargeting_unsupported" => {
                "This model needs its own canonical skeleton: generate without `armature`-based retargeting, then apply_motion to a rig whose joint names match (list_motion_models → canonical_skeleton)."
            }
            "schema_validation" | "invalid_request" => {
                "The backend refused the request's shape; details says which field. Simplify the segments/constraints and retry; if the arguments were valid, report it as a stagecraft bug."
            }
            "version_unsupported" => {
                "The backend speaks another MMCP major version; update stagecraft or the backend."
            }
            "unauthorized" | "forbidden" => {
                "The backend needs credentials: set the environment variable named by api_key_env in the backend's config, then retry."
            }
            "payload_too_large" => {
                "Send fewer or sparser constraints, or a shorter reference clip."
            }
            "rate_limited" | "resource_exhausted" | "model_unavailable" => {
                "The backend is busy or still loading; wait a minute (details.retry_after if given) and call again, or ask for fewer samples / shorter motion."
            }
            "quota_exceeded" => {
                "The account's quota is used up; do not retry — tell the user (details.upgrade_url)."
            }
            "timeout" => {
                "The backend did not finish in time: ask for a shorter motion or fewer samples, or raise timeout_seconds of the backend / tool."
            }
            "internal_error" => {
                "The model failed on this request; try another prompt, seed or a shorter duration, and check the backend's log."
            }
            "backend_unreachable" => {
                "Start the motion backend (or fix its url in stagecraft.toml); list_motion_models shows which backends answer."
            }
            "bad_response" => {
                "The backend's answer was unusable (too large, malformed or not glTF): try fewer samples or a shorter motion; if it persists the backend is at fault."
            }
            "cancelled" => "The call was cancelled; call again if the motion is still wanted.",
            "unknown_take" => {
                "Takes are kept in memory for this session only (least recently used ones are dropped): generate_motion again to get a new take_id."
            }
            "io_error" => "Check that the path's folder exists and is writable.",
            _ => "See message and details.",
        };
        s.to_string()
    }
}

/// How the hub reaches one backend.
pub enum Backend {
    Http(Arc<HttpBackend>),
    /// A built-in model served in process (no HTTP).
    InProcess(Arc<dyn Backbone>),
}

struct BackendEntry {
    name: String,
    backend: Backend,
}

/// A resolved (backend, model) pair.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    pub backend: String,
    index: usize,
    pub spec: ModelSpec,
}

/// `generate_motion`'s motion arguments (the DCC ones are the dispatcher's).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerateArgs {
    #[serde(default)]
    pub prompt: Option<String>,
    /// Agent-friendly segments: `{prompt?, seconds? | duration_frames?, type?, seed?, ...}`.
    #[serde(default)]
    pub segments: Option<Vec<Value>>,
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Frame rate of the take (MMCP `timing.fps`); default: the model's own. Constraint frames
    /// count at this rate.
    #[serde(default)]
    pub fps: Option<f64>,
    #[serde(default)]
    pub model: Option<String>,
    /// A backend name (default: the first).
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub num_samples: Option<u32>,
    #[serde(default)]
    pub seed: Option<i64>,
    /// MMCP constraint objects (spec/mmcp.md §4.4), frames at the take's fps.
    #[serde(default)]
    pub constraints: Option<Vec<Value>>,
    #[serde(default, rename = "loop")]
    pub loop_: Option<bool>,
    /// Advanced MMCP options, sent only when the model advertises them: `diffusion_steps`,
    /// `transition_frames`, `post_processing`, `guidance {type, weight}`, `keyframe_budget`,
    /// `model_options {name: value}`.
    #[serde(default)]
    pub options: Option<serde_json::Map<String, Value>>,
}

/// A generated and stored take.
#[derive(Debug, Clone)]
pub struct Generated {
    pub take_id: String,
    pub take: Arc<Take>,
    pub backend: String,
    pub model: String,
    /// Client-side remarks (an ignored option, a long duration), shown beside the model's notes.
    pub client_notes: Vec<String>,
    pub elapsed: Duration,
}

/// Every configured motion backend (or the built-in one), the take store, and their clients.
pub struct MotionHub {
    backends: Vec<BackendEntry>,
    store: TakeStore,
}

impl MotionHub {
    pub fn new(config: &Config) -> Result<Self, MotionError> {
        let mut backends = Vec::new();
        for b in &config.motion.backends {
            backends.push(BackendEntry {
                name: b.name.clone(),
                backend: Backend::Http(Arc::new(HttpBackend::new(b)?)),
            });
        }
        // The built-in models come after the configured backends: the default (the first model of
        // the first backend) does not change, and `model: "stagecraft-procedural"` always works.
        for bb in backbone::builtin_backbones() {
            backends.push(BackendEntry {
                name: BUILTIN_BACKEND.into(),
                backend: Backend::InProcess(bb),
            });
        }
        let cap = config.motion.max_takes.unwrap_or(store::DEFAULT_MAX_TAKES);
        Ok(Self {
            backends,
            store: TakeStore::new(cap),
        })
    }

    /// A hub over explicit backends (tests, `generate --backend URL`).
    pub fn with_backends(backends: Vec<(String, Backend)>, max_takes: usize) -> Self {
        Self {
            backends: backends
                .into_iter()
                .map(|(name, backend)| BackendEntry { name, backend })
                .collect(),
            store: TakeStore::new(max_takes),
        }
    }

    pub fn backend_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.backends.iter().map(|b| b.name.clone()).collect();
        v.dedup();
        v
    }

    async fn models_of(&self, i: usize, refresh: bool) -> Result<Vec<ModelSpec>, MotionError> {
        match &self.backends[i].backend {
            Backend::Http(h) => Ok(h.capabilities(refresh).await?.models.clone()),
            Backend::InProcess(bb) => Ok(vec![bb.capabilities()]),
        }
    }

    /// `list_motion_models`: every backend with its models and full capabilities. A backend that
    /// fails is listed with its error instead of failing the whole listing.
    pub async fn list_models(&self, refresh: bool) -> Value {
        let mut out: Vec<Value> = Vec::new();
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..self.backends.len() {
            let entry = &self.backends[i];
            let (kind, url) = match &entry.backend {
                Backend::Http(h) => ("http", Some(h.url().to_string())),
                Backend::InProcess(_) => ("builtin", None),
            };
            let slot = *by_name.entry(entry.name.clone()).or_insert_with(|| {
                out.push(
                    json!({"name": entry.name, "kind": kind, "url": url, "ok": true, "models": []}),
                );
                out.len() - 1
            });
            match self.models_of(i, refresh).await {
                Ok(models) => {
                    if let Some(arr) = out[slot]["models"].as_array_mut() {
                        arr.extend(
                            models
                                .iter()
                                .map(|m| serde_json::to_value(m).unwrap_or(Value::Null)),
                        );
                    }
                    if let Backend::Http(h) = &entry.backend
                        && let Ok(c) = h.capabilities(false).await
                    {
                        out[slot]["protocol_version"] = json!(c.protocol_version);
                        out[slot]["response_formats"] = json!(c.response_formats);
                    }
                }
                Err(e) => {
                    out[slot]["ok"] = json!(false);
                    out[slot]["error"] =
                        json!({"code": e.code(), "message": e.message(), "hint": e.hint()});
                }
            }
        }
        let default = self.resolve(None, None).await.ok();
        json!({
            "backends": out,
            "default": default.map(|c| json!({"backend": c.backend, "model": c.spec.id})),
        })
    }

    /// Picks the backend and model: default the first model of the first backend; a model id is
    /// matched exactly, then case-insensitively, never replaced by another one silently.
    pub async fn resolve(
        &self,
        backend: Option<&str>,
        model: Option<&str>,
    ) -> Result<ModelChoice, MotionError> {
        self.resolve_inner(backend, model, false).await
    }

    async fn resolve_inner(
        &self,
        backend: Option<&str>,
        model: Option<&str>,
        refreshed: bool,
    ) -> Result<ModelChoice, MotionError> {
        if self.backends.is_empty() {
            return Err(MotionError::NoBackend(
                "no motion backend is configured and no built-in model is available in this build"
                    .into(),
            ));
        }
        let mut candidates: Vec<usize> = (0..self.backends.len())
            .filter(|&i| backend.is_none_or(|b| self.backends[i].name == b))
            .collect();
        // No model named: the default is the first model of the first (matching) backend. When
        // that backend is down the call fails with its error; it never moves on to another
        // backend (the built-in procedural model would silently stand in for the one the user
        // configured).
        if model.is_none() {
            candidates.truncate(1);
        }
        if candidates.is_empty() {
            return Err(MotionError::NoBackend(format!(
                "no motion backend is named {:?}; configured: {}",
                backend.unwrap_or_default(),
                self.backend_names().join(", ")
            )));
        }
        let mut available = Vec::new();
        let mut last_err = None;
        for &i in &candidates {
            let models = match self.models_of(i, false).await {
                Ok(m) => m,
                Err(e) => {
                    // With an explicit model, another backend may still have it.
                    last_err = Some(e);
                    continue;
                }
            };
            let found = match model {
                None => models.first().cloned(),
                Some(id) => models
                    .iter()
                    .find(|m| m.id == id)
                    .or_else(|| models.iter().find(|m| m.id.eq_ignore_ascii_case(id)))
                    .cloned(),
            };
            if let Some(spec) = found {
                return Ok(ModelChoice {
                    backend: self.backends[i].name.clone(),
                    index: i,
                    spec,
                });
            }
            available.extend(models.into_iter().map(|m| m.id));
        }
        if available.is_empty()
            && let Some(e) = last_err.take()
        {
            return Err(e);
        }
        // The cache may predate a model the server gained since: ask again once before refusing.
        if let Some(id) = model
            && !refreshed
        {
            for &i in &candidates {
                if let Backend::Http(h) = &self.backends[i].backend
                    && let Ok(c) = h.capabilities(true).await
                    && c.model(id).is_some()
                {
                    return Box::pin(self.resolve_inner(backend, model, true)).await;
                }
            }
        }
        // A backend that could not be asked may be the one serving the model: its error says
        // more than `unknown_model` would (which sends the agent looking for another model).
        if let Some(e) = last_err {
            return Err(e);
        }
        Err(MotionError::Mmcp {
            backend: backend.unwrap_or("any").to_string(),
            error: Box::new(
                MmcpError::new(
                    "unknown_model",
                    match model {
                        Some(m) => format!("no backend serves a model {m:?}"),
                        None => "the backend serves no model".into(),
                    },
                )
                .with_details(json!({"available_models": available})),
            ),
            extra: json!({"local": true}),
        })
    }

    /// Builds a strict request for `choice` from agent arguments: only fields the model advertises,
    /// local checks that mirror the server's codes (so a doomed request costs no round trip).
    pub fn build_request(
        choice: &ModelChoice,
        args: &GenerateArgs,
        skeleton: Option<WireSkeleton>,
    ) -> Result<(GenerateRequest, Vec<String>), MotionError> {
        let spec = &choice.spec;
        let mut notes = Vec::new();
        let local = |code: &str, message: String, details: Value| MotionError::Mmcp {
            backend: choice.backend.clone(),
            error: Box::new(MmcpError::new(code, message).with_details(details)),
            extra: json!({"local": true}),
        };
        if !(spec.fps.is_finite() && spec.fps > 0.0) {
            return Err(MotionError::BadResponse {
                backend: choice.backend.clone(),
                message: format!("model {:?} advertises fps {}", spec.id, spec.fps),
            });
        }
        let fps = match args.fps {
            None => spec.fps,
            Some(f) if f.is_finite() && f > 0.0 => f,
            Some(f) => {
                return Err(MotionError::InvalidArguments(format!(
                    "fps must be a positive number, got {f}"
                )));
            }
        };
        let to_frames = |s: f64| -> Result<u32, MotionError> {
            if !(s.is_finite() && s > 0.0) {
                return Err(MotionError::InvalidArguments(format!(
                    "seconds must be a positive number, got {s}"
                )));
            }
            Ok(((s * fps).round() as u64).clamp(1, u32::MAX as u64) as u32)
        };
        let skeleton = skeleton.unwrap_or_else(|| {
            let mut s = spec.canonical_skeleton.clone();
            for j in &mut s.joints {
                j.display_name = None;
            }
            s
        });
        let skel = skeleton
            .to_skeleton()
            .map_err(|e| local("invalid_skeleton", e.0, json!({})))?;

        // --- segments ---
        let mut segments: Vec<Segment> = Vec::new();
        match (&args.segments, &args.prompt) {
            (Some(list), _) if !list.is_empty() => {
                let explicit: f64 = list
                    .iter()
                    .filter_map(|v| v.get("seconds").and_then(Value::as_f64))
                    .sum();
                let without_duration = list
                    .iter()
                    .filter(|v| v.get("seconds").is_none() && v.get("duration_frames").is_none())
                    .filter(|v| v.get("type").and_then(Value::as_str) != Some("pose"))
                    .count();
                // Segments without a duration share what `seconds` leaves.
                let share = if without_duration > 0 {
                    let left = args
                        .seconds
                        .unwrap_or(DEFAULT_SECONDS * without_duration as f64)
                        - explicit;
                    if left <= 0.0 {
                        return Err(MotionError::InvalidArguments(
                            "segments without `seconds` have no time left: raise `seconds` or give each segment its own".into(),
                        ));
                    }
                    Some(left / without_duration as f64)
                } else {
                    None
                };
                for (i, raw) in list.iter().enumerate() {
                    let Value::Object(obj) = raw else {
                        return Err(MotionError::InvalidArguments(format!(
                            "segments[{i}] must be an object"
                        )));
                    };
                    let mut obj = obj.clone();
                    let kind = match obj.get("type").and_then(Value::as_str) {
                        Some(k) => k.to_string(),
                        None if obj
                            .get("prompt")
                            .and_then(Value::as_str)
                            .is_some_and(|p| !p.trim().is_empty()) =>
                        {
                            "text".into()
                        }
                        None => {
                            obj.remove("prompt");
                            "unconditioned".into()
                        }
                    };
                    obj.insert("type".into(), json!(kind));
                    if let Some(s) = obj.remove("seconds") {
                        let s = s.as_f64().ok_or_else(|| {
                            MotionError::InvalidArguments(format!(
                                "segments[{i}].seconds must be a number"
                            ))
                        })?;
                        if kind != "pose" {
                            obj.insert("duration_frames".into(), json!(to_frames(s)?));
                        }
                    } else if kind != "pose" && !obj.contains_key("duration_frames") {
                        obj.insert(
                            "duration_frames".into(),
                            json!(to_frames(share.unwrap_or(DEFAULT_SECONDS))?),
                        );
                    }
                    if obj.contains_key("seed") && !spec.supports_segment_seed {
                        obj.remove("seed");
                        notes.push(format!(
                            "segments[{i}].seed was not sent: model {:?} does not support per-segment seeds (use `seed`)",
                            spec.id
                        ));
                    }
                    let seg: Segment = serde_json::from_value(Value::Object(obj)).map_err(|e| {
                        MotionError::InvalidArguments(format!("segments[{i}]: {e}"))
                    })?;
                    segments.push(seg);
                }
            }
            (_, prompt) => {
                let frames = to_frames(args.seconds.unwrap_or(DEFAULT_SECONDS))?;
                match prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                    Some(p) => segments.push(Segment::Text(wire::TextSegment {
                        prompt: p.to_string(),
                        duration_frames: frames,
                        language: None,
                        seed: None,
                    })),
                    None => segments.push(Segment::Unconditioned(wire::UnconditionedSegment {
                        duration_frames: frames,
                        seed: None,
                    })),
                }
            }
        }
        for (i, s) in segments.iter().enumerate() {
            if !spec.supports_segment(s.kind()) {
                return Err(local(
                    "unsupported_segment",
                    format!(
                        "model {:?} does not support {} segments (segments[{i}])",
                        spec.id,
                        s.kind()
                    ),
                    json!({"supported_segments": spec.supported_segments}),
                ));
            }
            let prompt = match s {
                Segment::Text(t) => Some(&t.prompt),
                Segment::Pose(p) => Some(&p.prompt),
                _ => None,
            };
            if let Some(p) = prompt
                && p.chars().count() > spec.limits.max_prompt_length as usize
            {
                return Err(local(
                    "invalid_options",
                    format!(
                        "segments[{i}] prompt has {} characters; model {:?} takes at most {}",
                        p.chars().count(),
                        spec.id,
                        spec.limits.max_prompt_length
                    ),
                    json!({"max_prompt_length": spec.limits.max_prompt_length}),
                ));
            }
        }
        let total: u64 = segments.iter().map(|s| u64::from(s.frames())).sum();

        // --- constraints ---
        let mut constraints = Vec::new();
        for (i, raw) in args.constraints.iter().flatten().enumerate() {
            let c: Constraint = serde_json::from_value(raw.clone())
                .map_err(|e| MotionError::InvalidArguments(format!("constraints[{i}]: {e}")))?;
            if !spec.supports_constraint(c.kind()) {
                return Err(local(
                    "unsupported_constraint",
                    format!(
                        "model {:?} does not support {} constraints (constraints[{i}])",
                        spec.id,
                        c.kind()
                    ),
                    json!({"supported_constraints": spec.supported_constraints}),
                ));
            }
            for j in c.joints() {
                if skel.index_of(j).is_none() {
                    let mut names: Vec<&str> = skel.names().collect();
                    names.sort_unstable();
                    return Err(local(
                        "unknown_joint",
                        format!("joint {j:?} (constraints[{i}]) is not in the request skeleton"),
                        json!({"joint": j, "skeleton_joints": names}),
                    ));
                }
            }
            for f in c.frames() {
                if f < 0 || f as u64 >= total {
                    return Err(local(
                        "frame_out_of_range",
                        format!(
                            "frame {f} (constraints[{i}]) is outside [0, {}]",
                            total.saturating_sub(1)
                        ),
                        json!({"frame": f, "total_frames": total}),
                    ));
                }
            }
            constraints.push(c);
        }
        if constraints.len() > spec.limits.max_constraints_per_request as usize {
            return Err(local(
                "invalid_options",
                format!(
                    "{} constraints; model {:?} takes at most {}",
                    constraints.len(),
                    spec.id,
                    spec.limits.max_constraints_per_request
                ),
                json!({"max_constraints_per_request": spec.limits.max_constraints_per_request}),
            ));
        }

        // --- options: only what the model advertises ---
        let mut options = Options::default();
        if let Some(n) = args.num_samples {
            if n == 0 || n > spec.limits.max_num_samples.min(16) {
                return Err(local(
                    "invalid_options",
                    format!(
                        "num_samples {n}: model {:?} makes 1 to {}",
                        spec.id,
                        spec.limits.max_num_samples.min(16)
                    ),
                    json!({"max_num_samples": spec.limits.max_num_samples}),
                ));
            }
            if n > 1 {
                options.num_samples = Some(n);
            }
        }
        options.seed = args.seed;
        for (key, v) in args.options.iter().flatten() {
            let bad = |why: &str| MotionError::InvalidArguments(format!("options.{key}: {why}"));
            let int = |lo: u64, hi: u64| -> Result<u32, MotionError> {
                v.as_u64()
                    .filter(|n| (lo..=hi).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| bad(&format!("must be an integer in [{lo}, {hi}]")))
            };
            match key.as_str() {
                "diffusion_steps" => options.diffusion_steps = Some(int(1, 500)?),
                "transition_frames" => options.transition_frames = Some(int(0, 60)?),
                "post_processing" => {
                    options.post_processing =
                        Some(v.as_bool().ok_or_else(|| bad("must be true or false"))?)
                }
                "guidance" => {
                    let g: wire::Guidance =
                        serde_json::from_value(v.clone()).map_err(|e| bad(&e.to_string()))?;
                    if !spec.supported_guidance_types.contains(&g.kind) {
                        return Err(local(
                            "invalid_options",
                            format!("model {:?} has no guidance type {:?}", spec.id, g.kind),
                            json!({"supported_guidance_types": spec.supported_guidance_types}),
                        ));
                    }
                    let want = match g.kind.as_str() {
                        "nocfg" => 0,
                        "regular" => 1,
                        _ => 2,
                    };
                    if g.weight.len() != want || g.weight.iter().any(|w| !w.is_finite()) {
                        return Err(bad(&format!(
                            "{} guidance takes {want} finite weight(s)",
                            g.kind
                        )));
                    }
                    options.guidance = Some(g);
                }
                "keyframe_budget" => {
                    if !spec.supports_keyframe_reduction {
                        return Err(local(
                            "invalid_options",
                            format!("model {:?} does not support keyframe_budget", spec.id),
                            json!({"supports_keyframe_reduction": false}),
                        ));
                    }
                    let b = v.as_f64().filter(|b| b.is_finite() && *b > 0.0);
                    options.keyframe_budget =
                        Some(b.ok_or_else(|| bad("must be a positive number"))?);
                }
                "model_options" => {
                    let m = v.as_object().ok_or_else(|| bad("must be an object"))?;
                    let declared: Vec<&str> =
                        spec.model_options.iter().map(|o| o.name.as_str()).collect();
                    if let Some(unknown) = m.keys().find(|k| !declared.contains(&k.as_str())) {
                        return Err(local(
                            "invalid_options",
                            format!("model {:?} declares no option {unknown:?}", spec.id),
                            json!({"model": spec.id, "option": unknown, "options": declared}),
                        ));
                    }
                    if !m.is_empty() {
                        options.model_options = Some(m.clone());
                    }
                }
                _ => {
                    return Err(bad(
                        "unknown option; use diffusion_steps, transition_frames, post_processing, guidance, keyframe_budget or model_options",
                    ));
                }
            }
        }
        if args.loop_ == Some(true) {
            if !spec.supports_loop {
                return Err(local(
                    "invalid_options",
                    format!("model {:?} does not support loop", spec.id),
                    json!({"supports_loop": false}),
                ));
            }
            if segments.len() != 1 {
                return Err(local(
                    "invalid_options",
                    "loop needs exactly one segment".into(),
                    json!({"segments": segments.len()}),
                ));
            }
            options.loop_ = Some(true);
        }
        let seconds = total as f64 / fps;
        if seconds > spec.limits.max_duration_seconds + 1e-9 {
            return Err(local(
                "invalid_options",
                format!(
                    "{seconds:.2} s is longer than model {:?} allows ({} s)",
                    spec.id, spec.limits.max_duration_seconds
                ),
                json!({"max_duration_seconds": spec.limits.max_duration_seconds, "seconds": seconds}),
            ));
        }
        if seconds > spec.recommended_max_duration_seconds {
            notes.push(format!(
                "{seconds:.1} s is beyond the {} s model {:?} does well; consider shorter clips",
                spec.recommended_max_duration_seconds, spec.id
            ));
        }
        let request = GenerateRequest {
            protocol_version: wire::PROTOCOL_VERSION.into(),
            model: spec.id.clone(),
            skeleton,
            segments,
            constraints,
            duration_frames: None,
            // Sent only when it differs from the model's rate: some servers refuse resampling.
            timing: (fps != spec.fps).then_some(wire::Timing { fps }),
            options: (!options.is_empty()).then_some(options),
        };
        Ok((request, notes))
    }

    /// Runs one request on the chosen backend and decodes the answer (not stored).
    pub async fn run(
        &self,
        choice: &ModelChoice,
        request: &GenerateRequest,
        opts: &CallOptions,
    ) -> Result<Take, MotionError> {
        let entry = self.backends.get(choice.index).ok_or_else(|| {
            MotionError::NoBackend(format!("backend {:?} is gone", choice.backend))
        })?;
        let take = match &entry.backend {
            Backend::Http(h) => {
                // Refused locally: the server would answer 413 after the upload.
                let size = serde_json::to_vec(request)
                    .map(|v| v.len() as u64)
                    .unwrap_or(0);
                let max = choice.spec.limits.max_request_bytes;
                if size > max {
                    return Err(MotionError::Mmcp {
                        backend: entry.name.clone(),
                        error: Box::new(
                            MmcpError::new(
                                "payload_too_large",
                                format!(
                                    "the request is {size} bytes; model {:?} takes at most {max}",
                                    choice.spec.id
                                ),
                            )
                            .with_details(json!({"max_request_bytes": max, "request_bytes": size})),
                        ),
                        extra: json!({"local": true}),
                    });
                }
                let body = h.generate(request, opts).await?;
                let name = entry.name.clone();
                // Decoding tens of MB is CPU work: keep it off the async worker threads.
                tokio::task::spawn_blocking(move || gltf::decode(&body.bytes))
                    .await
                    .map_err(|e| MotionError::BadResponse {
                        backend: name.clone(),
                        message: format!("decoder failed: {e}"),
                    })?
                    .map_err(|e| MotionError::BadResponse {
                        backend: name,
                        message: e.to_string(),
                    })?
            }
            Backend::InProcess(bb) => {
                let bb = bb.clone();
                // The same checks, in the same order, as `stagecraft motion-server` applies to a
                // request on the wire: in-process and served generation cannot disagree.
                let raw = serde_json::to_value(request).map_err(|e| MotionError::BadResponse {
                    backend: entry.name.clone(),
                    message: format!("cannot encode the request: {e}"),
                })?;
                let job = tokio::task::spawn_blocking(move || {
                    backbone::generate_checked(bb.as_ref(), &raw)
                });
                let limit = opts.timeout;
                let r = tokio::select! {
                    r = tokio::time::timeout(limit, job) => r,
                    _ = opts.cancel.cancelled() => return Err(MotionError::Cancelled),
                };
                let take = match r {
                    Err(_) => {
                        return Err(MotionError::Deadline {
                            backend: entry.name.clone(),
                            seconds: limit.as_secs_f64(),
                        });
                    }
                    Ok(Err(e)) => {
                        return Err(MotionError::Mmcp {
                            backend: entry.name.clone(),
                            error: Box::new(MmcpError::new(
                                "internal_error",
                                format!("the model panicked: {e}"),
                            )),
                            extra: json!({}),
                        });
                    }
                    Ok(Ok(Err(error))) => {
                        return Err(MotionError::Mmcp {
                            backend: entry.name.clone(),
                            error: Box::new(error),
                            extra: json!({}),
                        });
                    }
                    Ok(Ok(Ok(t))) => t,
                };
                gltf::check_take(&take).map_err(|e| MotionError::BadResponse {
                    backend: entry.name.clone(),
                    message: e.to_string(),
                })?;
                take
            }
        };
        if take.samples.is_empty() || take.num_frames == 0 {
            return Err(MotionError::BadResponse {
                backend: entry.name.clone(),
                message: "the answer holds no motion".into(),
            });
        }
        Ok(take)
    }

    /// DESIGN.md §5 steps 1, 3, 4: pick, build, send (with a progress tick every second), decode,
    /// store. `skeleton` is the rig's own skeleton for a retargeting model (step 2, by the caller).
    pub async fn generate(
        &self,
        choice: &ModelChoice,
        args: &GenerateArgs,
        skeleton: Option<WireSkeleton>,
        opts: &CallOptions,
    ) -> Result<Generated, MotionError> {
        let (request, client_notes) = Self::build_request(choice, args, skeleton)?;
        let started = Instant::now();
        let mut opts = opts.clone();
        opts.progress = opts.progress.map(monotonic);
        let opts = &opts;
        let ticker = opts.progress.clone().map(|p| {
            let label = format!("{}/{}", choice.backend, choice.spec.id);
            AbortOnDrop(tokio::spawn(async move {
                let mut iv = tokio::time::interval(Duration::from_secs(1));
                iv.tick().await;
                loop {
                    iv.tick().await;
                    let s = started.elapsed().as_secs_f64();
                    p(
                        s.floor(),
                        None,
                        &format!("generating with {label}: {s:.0} s"),
                    );
                }
            }))
        });
        let result = self.run(choice, &request, opts).await;
        drop(ticker);
        let take = result?;
        let info = TakeInfo {
            backend: choice.backend.clone(),
            prompt: prompt_summary(&request),
            seed: args.seed,
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let model = if take.model.is_empty() {
            choice.spec.id.clone()
        } else {
            take.model.clone()
        };
        let take_id = self.store.insert(take, info);
        let (take, _) = self
            .store
            .get(&take_id)
            .ok_or_else(|| MotionError::UnknownTake(take_id.clone()))?;
        Ok(Generated {
            take_id,
            take,
            backend: choice.backend.clone(),
            model,
            client_notes,
            elapsed: started.elapsed(),
        })
    }

    /// Stores a take made elsewhere (an imported file); returns its id.
    pub fn insert_take(&self, take: Take, info: TakeInfo) -> String {
        self.store.insert(take, info)
    }

    pub fn take(&self, id: &str) -> Result<Arc<Take>, MotionError> {
        self.store
            .get(id)
            .map(|(t, _)| t)
            .ok_or_else(|| MotionError::UnknownTake(id.to_string()))
    }

    /// Ids of the stored takes, most recently used first (resources `take://<id>`).
    pub fn list_takes(&self) -> Vec<String> {
        self.store.ids()
    }

    /// A stored take as a `.gltf` document (MIME `model/gltf+json`), e.g. for a blob resource.
    pub fn take_gltf(&self, id: &str) -> Option<Vec<u8>> {
        let (take, _) = self.store.get(id)?;
        Some(gltf::encode_gltf_json(&take))
    }

    /// The summary served as resource `take://<id>`.
    pub fn read_take(&self, id: &str) -> Option<Value> {
        let (take, info) = self.store.get(id)?;
        Some(take_summary(id, &take, Some(&info)))
    }
}

/// MCP progress must increase with every notification; reports from the ticker, retries and job
/// polls interleave, so equal or smaller values are nudged just past the last one.
fn monotonic(inner: ProgressFn) -> ProgressFn {
    let last = std::sync::Mutex::new(f64::NEG_INFINITY);
    Arc::new(move |p, total, msg: &str| {
        let v = {
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            let v = if p > *l { p } else { *l + 0.001 };
            *l = v;
            v
        };
        inner(v, total, msg)
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn prompt_summary(req: &GenerateRequest) -> Option<String> {
    let parts: Vec<&str> = req
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Text(t) => Some(t.prompt.as_str()),
            Segment::Pose(p) => Some(p.prompt.as_str()),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// Travel of the root over a sample, plus the server's fitted trajectory model when present.
pub fn trajectory_summary(take: &Take, sample: usize) -> Value {
    let Some(s) = take.samples.get(sample) else {
        return Value::Null;
    };
    let xz: Vec<[f32; 2]> = s.root_positions.iter().map(|p| [p[0], p[2]]).collect();
    let (Some(first), Some(last)) = (xz.first(), xz.last()) else {
        return Value::Null;
    };
    let path: f32 = xz
        .windows(2)
        .map(|w| ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt())
        .sum();
    let dist = ((last[0] - first[0]).powi(2) + (last[1] - first[1]).powi(2)).sqrt();
    let secs = take.seconds();
    let r3 = |v: f32| (v * 1000.0).round() / 1000.0;
    let mut out = json!({
        "start_xz": [r3(first[0]), r3(first[1])],
        "end_xz": [r3(last[0]), r3(last[1])],
        "distance_m": r3(dist),
        "path_length_m": r3(path),
        "mean_speed_mps": if secs > 0.0 { r3(path / secs) } else { 0.0 },
    });
    if let Some(t) = &s.trajectory {
        out["fit"] = json!({
            "model": t.get("model"),
            "heading": t.get("heading"),
            "loop": t.get("loop"),
            "params": t.get("params"),
            "markers": t.get("markers"),
        });
    }
    out
}

/// Structured summary of a take (tool results and `take://<id>`).
pub fn take_summary(id: &str, take: &Take, info: Option<&TakeInfo>) -> Value {
    let mut v = json!({
        "take_id": id,
        "uri": format!("take://{id}"),
        "model": take.model,
        "protocol_version": take.version,
        "fps": take.fps,
        "frames": take.num_frames,
        "seconds": take.seconds(),
        "samples": take.samples.len(),
        "joints": take.skeleton.names().collect::<Vec<_>>(),
        "notes": take.notes,
        "trajectory": trajectory_summary(take, 0),
        "foot_contact_joints": take.samples.first().map(|s| s.foot_contacts.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        "animated_joint_translations": take.samples.first().map(|s| s.joint_translations.keys().filter_map(|&j| take.skeleton.joints.get(j).map(|x| x.name.clone())).collect::<Vec<_>>()).unwrap_or_default(),
    });
    if !take.canonical_to_request.is_empty() {
        v["canonical_to_request"] = json!(take.canonical_to_request);
    }
    if let Some(i) = info {
        v["backend"] = json!(i.backend);
        v["prompt"] = json!(i.prompt);
        v["seed"] = json!(i.seed);
        v["created_at"] = json!(i.created_at);
    }
    v
}

fn f32_array(shape: &[usize], values: impl Iterator<Item = f32>) -> Value {
    let n: usize = shape.iter().product();
    let mut bytes = Vec::with_capacity(n * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    json!({
        "dtype": "f32",
        "shape": shape,
        "b64": base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// `animation.apply_motion` params (spec/bridge.md) for one sample of a take.
pub fn apply_params(
    take: &Take,
    sample: usize,
    armature: &str,
    start_frame: Option<i64>,
    in_place: Option<bool>,
    action_name: Option<&str>,
) -> Result<Value, MotionError> {
    let s = take.samples.get(sample).ok_or_else(|| {
        MotionError::InvalidArguments(format!(
            "sample {sample} does not exist; the take has {} (0..{})",
            take.samples.len(),
            take.samples.len().saturating_sub(1)
        ))
    })?;
    let t = take.num_frames;
    let j = take.skeleton.joints.len();
    if s.rotations.len() != t * j || s.root_positions.len() != t {
        return Err(MotionError::BadResponse {
            backend: "take".into(),
            message: "the take's arrays do not match its frame count".into(),
        });
    }
    let mut params = json!({
        "armature": armature,
        "fps": take.fps,
        "joint_names": take.skeleton.names().collect::<Vec<_>>(),
        "rotations": f32_array(&[t, j, 4], s.rotations.iter().flatten().copied()),
        "root_positions": f32_array(&[t, 3], s.root_positions.iter().flatten().copied()),
    });
    if !s.joint_translations.is_empty() {
        let mut m = serde_json::Map::new();
        for (&ji, track) in &s.joint_translations {
            if let Some(joint) = take.skeleton.joints.get(ji)
                && track.len() == t
            {
                m.insert(
                    joint.name.clone(),
                    f32_array(&[t, 3], track.iter().flatten().copied()),
                );
            }
        }
        params["joint_translations"] = Value::Object(m);
    }
    if let Some(f) = start_frame {
        params["start_frame"] = json!(f);
    }
    if let Some(b) = in_place {
        params["in_place"] = json!(b);
    }
    if let Some(a) = action_name {
        params["action_name"] = json!(a);
    }
    Ok(params)
}

/// Writes a take as `.glb` or `.gltf` (by extension); returns the bytes written.
pub fn save_take(take: &Take, path: &Path) -> Result<usize, MotionError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match ext.as_deref() {
        Some("glb") => gltf::encode_glb(take),
        Some("gltf") => gltf::encode_gltf_json(take),
        _ => {
            return Err(MotionError::InvalidArguments(format!(
                "{} must end in .glb or .gltf",
                path.display()
            )));
        }
    };
    // Write beside the target and rename, so a failed write never leaves half a file.
    let tmp = path.with_extension(format!("{}.part", ext.unwrap_or_default()));
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            MotionError::Io(format!("cannot write {}: {e}", path.display()))
        })?;
    Ok(bytes.len())
}

/// Options of `stagecraft generate`.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub prompt: String,
    pub seconds: f64,
    pub out: std::path::PathBuf,
    pub preview: Option<std::path::PathBuf>,
    pub model: Option<String>,
    /// A backend name from the config, or an MMCP base URL.
    pub backend: Option<String>,
    pub seed: Option<u64>,
    pub samples: Option<u32>,
}

/// `stagecraft generate`: one-shot generation from the terminal, progress on stderr, a JSON
/// summary on stdout.
pub async fn generate_cli(config: &Config, options: GenerateOptions) -> Result<(), MotionError> {
    let mut backend_name = options.backend.clone();
    let hub = match options.backend.as_deref() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let cfg = BackendConfig {
                name: url.to_string(),
                url: url.to_string(),
                api_key_env: None,
                timeout_seconds: crate::config::DEFAULT_MOTION_TIMEOUT_SECONDS,
                connect_timeout_seconds: 10,
                max_response_mb: crate::config::DEFAULT_MAX_RESPONSE_MB,
            };
            let b = Backend::Http(Arc::new(HttpBackend::new(&cfg)?));
            MotionHub::with_backends(vec![(url.to_string(), b)], 4)
        }
        _ => MotionHub::new(config)?,
    };
    if backend_name.as_deref().is_some_and(|b| b.contains("://")) {
        backend_name = Some(hub.backend_names().into_iter().next().unwrap_or_default());
    }
    let choice = hub
        .resolve(backend_name.as_deref(), options.model.as_deref())
        .await?;
    let seed = match options.seed {
        Some(s) => Some(
            i64::try_from(s)
                .map_err(|_| MotionError::InvalidArguments(format!("--seed {s} is too large")))?,
        ),
        None => None,
    };
    let args = GenerateArgs {
        prompt: Some(options.prompt.clone()),
        seconds: Some(options.seconds),
        num_samples: options.samples,
        seed,
        ..GenerateArgs::default()
    };
    let timeout = Duration::from_secs(crate::config::DEFAULT_MOTION_TIMEOUT_SECONDS);
    let mut opts = CallOptions::new(timeout);
    opts.progress = Some(Arc::new(|_p, _t, msg: &str| {
        eprint!("\r\x1b[2K{msg}");
    }));
    let cancel = opts.cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    let result = hub.generate(&choice, &args, None, &opts).await;
    ctrl_c.abort();
    eprintln!();
    let g = result?;
    let written = save_take(&g.take, &options.out)?;
    let mut summary = take_summary(&g.take_id, &g.take, None);
    summary["backend"] = json!(g.backend);
    summary["saved"] = json!({"path": options.out, "bytes": written});
    summary["client_notes"] = json!(g.client_notes);
    if let Some(p) = &options.preview {
        let png = preview::contact_sheet(&g.take, 0).map_err(|e| MotionError::Io(e.to_string()))?;
        std::fs::write(p, &png)
            .map_err(|e| MotionError::Io(format!("cannot write {}: {e}", p.display())))?;
        summary["preview"] = json!(p);
    }
    for n in &g.take.notes {
        eprintln!(
            "note: {}",
            n.get("message")
                .and_then(Value::as_str)
                .unwrap_or(&n.to_string())
        );
    }
    eprintln!(
        "{} frames at {} fps ({:.2} s), {} sample(s) from {}/{} in {:.1} s -> {}",
        g.take.num_frames,
        g.take.fps,
        g.take.seconds(),
        g.take.samples.len(),
        g.backend,
        g.model,
        g.elapsed.as_secs_f64(),
        options.out.display()
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    Ok(())
}

/// `stagecraft motion-server`: the built-in backbones served as an MMCP 1.4 HTTP server until `shutdown`.
pub async fn serve_builtin(
    host: &str,
    port: u16,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), MotionError> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| {
            MotionError::Config(format!("motion-server cannot listen on {host}:{port}: {e}"))
        })?;
    let models = backbone::Backbones::builtin();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, models = ?models.ids(), "MMCP motion server listening on http://{addr}");
    }
    server::serve(models, listener, shutdown)
        .await
        .map_err(|e| MotionError::Config(format!("motion-server stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use take::{Joint, Sample, Skeleton};

    #[test]
    fn apply_params_are_bridge_f32_arrays() {
        let joints = ["Hips", "Spine"]
            .iter()
            .enumerate()
            .map(|(i, n)| Joint {
                name: (*n).into(),
                parent: i.checked_sub(1),
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect();
        let mut jt = BTreeMap::new();
        jt.insert(1, vec![[0.0, 0.5, 0.0], [0.0, 0.6, 0.0], [0.0, 0.7, 0.0]]);
        let take = Take {
            fps: 30.0,
            num_frames: 3,
            skeleton: Skeleton { joints },
            samples: vec![Sample {
                rotations: (0..6).map(|i| [0.0, 0.0, i as f32 * 0.1, 1.0]).collect(),
                root_positions: vec![[1.0, 2.0, 3.0]; 3],
                joint_translations: jt,
                ..Sample::default()
            }],
            ..Take::default()
        };
        let p = apply_params(&take, 0, "Armature", Some(10), Some(true), None).expect("params");
        assert_eq!(p["joint_names"], json!(["Hips", "Spine"]));
        assert_eq!(p["rotations"]["shape"], json!([3, 2, 4]));
        assert_eq!(p["rotations"]["dtype"], "f32");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(p["rotations"]["b64"].as_str().expect("b64"))
            .expect("base64");
        assert_eq!(raw.len(), 3 * 2 * 4 * 4);
        // Row-major [t][j][xyzw]: element (t=1, j=1, z) is rotation index 3, z = 0.3.
        let at = ((2 + 1) * 4 + 2) * 4;
        let z = f32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        assert!((z - 0.3).abs() < 1e-6);
        assert_eq!(p["root_positions"]["shape"], json!([3, 3]));
        assert_eq!(p["joint_translations"]["Spine"]["shape"], json!([3, 3]));
        assert_eq!(p["start_frame"], 10);
        assert_eq!(p["in_place"], true);
        assert_eq!(
            apply_params(&take, 1, "A", None, None, None)
                .unwrap_err()
                .code(),
            "invalid_arguments"
        );
    }
}
