//! [`MotionHub`]: the configured backends (HTTP, or the built-in backbones in process), the take
//! store, and the path from agent-friendly arguments to a request, a decoded take and a stored one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::backbone::{self, Backbone, GenerationSlots, QUEUE_WAIT};
use super::client::HttpBackend;
use super::error::MotionError;
use super::export::take_summary;
use super::store::{TakeInfo, TakeStore};
use super::take::Take;
use super::wire::{self, Constraint, GenerateRequest, MmcpError, ModelSpec, Options, Segment};
use super::{BUILTIN_BACKEND, DEFAULT_SECONDS, gltf, store};
use crate::call::{CallContext, Progress};
use crate::config::Config;
use crate::skeleton::Skeleton;

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

/// What `list_motion_models` answers: every backend with its models, and the default model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelListing {
    pub backends: Vec<BackendListing>,
    /// The first model of the first backend, when that backend answers.
    pub default: Option<DefaultModel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DefaultModel {
    pub backend: String,
    pub model: String,
}

/// One backend of a [`ModelListing`].
#[derive(Debug, Clone, Serialize)]
pub struct BackendListing {
    pub name: String,
    pub kind: BackendKind,
    /// `None` for a built-in backend.
    pub url: Option<String>,
    /// False when the backend did not list its models (`error` says why).
    pub ok: bool,
    /// A summary of each model, or its whole MMCP description with `full`.
    pub models: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_formats: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ListingError>,
}

/// Why a backend did not list its models, as a failed tool call would say it.
#[derive(Debug, Clone, Serialize)]
pub struct ListingError {
    pub code: String,
    pub message: String,
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// An MMCP server over HTTP.
    Http,
    /// A model running in this process.
    Builtin,
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
    /// MMCP constraint objects (docs/mmcp.md#constraints), frames at the take's fps.
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
    /// Caps the built-in backbones run in process, as `stagecraft motion-server` caps them.
    slots: GenerationSlots,
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
            slots: GenerationSlots::per_core(),
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
            slots: GenerationSlots::per_core(),
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

    /// `list_motion_models`: every backend with its models, summarised (see [`model_summary`]) or,
    /// with `full`, with their whole capabilities including the rest skeletons. A backend that
    /// fails is listed with its error instead of failing the whole listing.
    pub async fn list_models(&self, refresh: bool, full: bool) -> ModelListing {
        let mut backends: Vec<BackendListing> = Vec::new();
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..self.backends.len() {
            let entry = &self.backends[i];
            let (kind, url) = match &entry.backend {
                Backend::Http(h) => (BackendKind::Http, Some(h.url().to_string())),
                Backend::InProcess(_) => (BackendKind::Builtin, None),
            };
            let slot = *by_name.entry(entry.name.clone()).or_insert_with(|| {
                backends.push(BackendListing {
                    name: entry.name.clone(),
                    kind,
                    url,
                    ok: true,
                    models: Vec::new(),
                    protocol_version: None,
                    response_formats: None,
                    error: None,
                });
                backends.len() - 1
            });
            let listing = &mut backends[slot];
            match self.models_of(i, refresh).await {
                Ok(models) => {
                    listing.models.extend(models.iter().map(|m| {
                        if full {
                            serde_json::to_value(m).unwrap_or(Value::Null)
                        } else {
                            model_summary(m)
                        }
                    }));
                    if let Backend::Http(h) = &entry.backend
                        && let Ok(c) = h.capabilities(false).await
                    {
                        listing.protocol_version = Some(c.protocol_version.clone());
                        listing.response_formats = Some(c.response_formats.clone());
                    }
                }
                Err(e) => {
                    listing.ok = false;
                    listing.error = Some(ListingError {
                        code: e.code().to_string(),
                        message: e.message(),
                        hint: e.hint(),
                    });
                }
            }
        }
        let default = self.resolve(None, None).await.ok();
        ModelListing {
            backends,
            default: default.map(|c| DefaultModel {
                backend: c.backend,
                model: c.spec.id,
            }),
        }
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
        skeleton: Option<Skeleton>,
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
        // The topology rules of docs/mmcp.md#skeleton (the spec check below takes them as read).
        skeleton
            .parent_indices()
            .map_err(|e| local("invalid_skeleton", e.0, json!({})))?;

        let segments = request_segments(args, spec, &to_frames, &mut notes)?;
        // --- constraints (checked against the model with the request, below) ---
        let mut constraints = Vec::new();
        for (i, raw) in args.constraints.iter().flatten().enumerate() {
            let c: Constraint = serde_json::from_value(raw.clone())
                .map_err(|e| MotionError::InvalidArguments(format!("constraints[{i}]: {e}")))?;
            constraints.push(c);
        }

        let options = request_options(args, spec, &local)?;
        let total: u64 = segments.iter().map(|s| u64::from(s.frames())).sum();
        let seconds = total as f64 / fps;
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
        // What the model would refuse is refused here, by the same checks an MMCP server runs
        // (docs/mmcp.md#server-checks, step 8): same codes, nothing sent.
        backbone::check_against_spec(&request, spec).map_err(|error| MotionError::Mmcp {
            backend: choice.backend.clone(),
            error: Box::new(error),
            extra: json!({"local": true}),
        })?;
        Ok((request, notes))
    }

    /// Runs one request on the chosen backend and decodes the answer (not stored).
    pub async fn run(
        &self,
        choice: &ModelChoice,
        request: &GenerateRequest,
        call: &CallContext,
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
                let body = h.generate(request, call).await?;
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
                let deadline = MotionError::Deadline {
                    backend: entry.name.clone(),
                    seconds: call.remaining().as_secs_f64(),
                };
                // A slot first, waited for within the call's deadline, like a served request.
                let permit = tokio::select! {
                    p = tokio::time::timeout_at(call.deadline, self.slots.acquire(QUEUE_WAIT)) => p,
                    _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
                };
                let permit = match permit {
                    Err(_) => return Err(deadline),
                    Ok(Err(error)) => {
                        return Err(MotionError::Mmcp {
                            backend: entry.name.clone(),
                            error: Box::new(error),
                            extra: json!({}),
                        });
                    }
                    Ok(Ok(permit)) => permit,
                };
                let job = tokio::task::spawn_blocking(move || {
                    // Held by the job itself: a job outliving its caller's deadline still counts.
                    let _permit = permit;
                    backbone::generate_checked(bb.as_ref(), &raw)
                });
                let r = tokio::select! {
                    r = tokio::time::timeout_at(call.deadline, job) => r,
                    _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
                };
                let take = match r {
                    Err(_) => return Err(deadline),
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

    /// docs/architecture.md#one-tool-call step 3: pick, build, send (with a progress tick every second), decode,
    /// store. `skeleton` is the rig's own skeleton for a retargeting model (step 2, by the caller).
    pub async fn generate(
        &self,
        choice: &ModelChoice,
        args: &GenerateArgs,
        skeleton: Option<Skeleton>,
        call: &CallContext,
    ) -> Result<Generated, MotionError> {
        let (request, client_notes) = Self::build_request(choice, args, skeleton)?;
        let started = Instant::now();
        let call = &call.clone().with_progress(monotonic(call.progress.clone()));
        let ticker = call.progress.is_wanted().then(|| {
            let progress = call.progress.clone();
            let label = format!("{}/{}", choice.backend, choice.spec.id);
            AbortOnDrop(tokio::spawn(async move {
                let mut iv = tokio::time::interval(Duration::from_secs(1));
                iv.tick().await;
                loop {
                    iv.tick().await;
                    let s = started.elapsed().as_secs_f64();
                    progress.report(
                        s.floor(),
                        None,
                        Some(&format!("generating with {label}: {s:.0} s")),
                    );
                }
            }))
        });
        let result = self.run(choice, &request, call).await;
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

    /// One sample's joint positions for the take viewer, served as resource
    /// `take://<id>/positions/<sample>` (None: no such take).
    pub fn take_positions(
        &self,
        id: &str,
        sample: usize,
    ) -> Option<Result<Value, super::viewer::ViewerDataError>> {
        let (take, _) = self.store.get(id)?;
        Some(super::viewer::joint_positions(
            &take,
            sample,
            super::viewer::MAX_VALUES,
        ))
    }

    /// The summary served as resource `take://<id>`.
    pub fn read_take(&self, id: &str) -> Option<Value> {
        let (take, info) = self.store.get(id)?;
        Some(take_summary(id, &take, Some(&info)))
    }
}

/// The request's segments: `segments` as given (durations in frames, segments without one sharing
/// what `seconds` leaves), or one text (or unconditioned) segment from `prompt`.
fn request_segments(
    args: &GenerateArgs,
    spec: &ModelSpec,
    to_frames: &dyn Fn(f64) -> Result<u32, MotionError>,
    notes: &mut Vec<String>,
) -> Result<Vec<Segment>, MotionError> {
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
                let seg: Segment = serde_json::from_value(Value::Object(obj))
                    .map_err(|e| MotionError::InvalidArguments(format!("segments[{i}]: {e}")))?;
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
    Ok(segments)
}

/// The request's options, parsed from the tool's arguments; what the model supports is checked
/// with the whole request.
fn request_options(
    args: &GenerateArgs,
    spec: &ModelSpec,
    local: &dyn Fn(&str, String, Value) -> MotionError,
) -> Result<Options, MotionError> {
    let mut options = Options::default();
    if let Some(n) = args.num_samples {
        // MMCP caps num_samples at 16 whatever the model says (docs/mmcp.md).
        if n == 0 || n > 16 {
            return Err(MotionError::InvalidArguments(format!(
                "num_samples must be 1 to 16, got {n}"
            )));
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
                let b = v.as_f64().filter(|b| b.is_finite() && *b > 0.0);
                options.keyframe_budget = Some(b.ok_or_else(|| bad("must be a positive number"))?);
            }
            "model_options" => {
                let m = v.as_object().ok_or_else(|| bad("must be an object"))?;
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
        options.loop_ = Some(true);
    }
    Ok(options)
}

/// MCP progress must increase with every notification; reports from the ticker, retries and job
/// polls interleave, so equal or smaller values are nudged just past the last one.
fn monotonic(inner: Progress) -> Progress {
    if !inner.is_wanted() {
        return inner;
    }
    let last = std::sync::Mutex::new(f64::NEG_INFINITY);
    Progress::new(move |p, total, msg| {
        let v = {
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            let v = if p > *l { p } else { *l + 0.001 };
            *l = v;
            v
        };
        inner.report(v, total, msg)
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

/// What an agent needs to choose a model and fill a request, in a few hundred bytes: the joint
/// names without their rest transforms (a SOMA77 skeleton would otherwise triple the answer, and
/// the listing goes into the agent's context), the `supports_*` flags that are on, and the rest of
/// the capabilities as the model declares them. `list_motion_models {full: true}` gives the whole
/// spec (docs/mmcp.md).
fn model_summary(spec: &ModelSpec) -> Value {
    let flags = [
        ("retargeting", spec.supports_retargeting),
        ("joint_translation", spec.supports_joint_translation),
        ("async", spec.supports_async),
        ("segment_seed", spec.supports_segment_seed),
        ("loop", spec.supports_loop),
        ("keyframe_reduction", spec.supports_keyframe_reduction),
        (
            "motion_reference_mixed",
            spec.supports_motion_reference_mixed,
        ),
        ("batch", spec.supports_batch),
        ("trajectory", spec.supports_trajectory),
    ];
    let supports: Vec<&str> = flags
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    let mut summary = json!({
        "id": spec.id,
        "fps": spec.fps,
        "joints": spec.canonical_skeleton.names().collect::<Vec<_>>(),
        "supports": supports,
        "supported_segments": spec.supported_segments,
        "supported_constraints": spec.supported_constraints,
        "chunking": spec.chunking,
        "native_clip_seconds": spec.native_clip_seconds,
        "recommended_max_duration_seconds": spec.recommended_max_duration_seconds,
        "limits": spec.limits,
    });
    if !spec.predicted_contact_joints.is_empty() {
        summary["predicted_contact_joints"] = json!(spec.predicted_contact_joints);
    }
    if !spec.model_options.is_empty() {
        summary["model_options"] = json!(spec.model_options);
    }
    summary
}
