//! Every way a motion call can fail, each with the code, message, details and hint the agent sees.

use serde_json::{Value, json};

use super::wire::MmcpError;

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
    /// The code the agent sees (docs/architecture.md#errors).
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
                "Use joint names of the request skeleton: list_motion_models shows each model's joints; details.skeleton_joints lists the valid names."
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
                "This model needs its own canonical skeleton: generate without `armature`-based retargeting, then apply_motion to a rig whose joint names match (list_motion_models → joints)."
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
