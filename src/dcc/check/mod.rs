//! `stagecraft adapter-check`: the bridge conformance suite.
//!
//! It drives an adapter through every method it advertises, on a fresh scene, through the same path
//! the dispatcher uses (`DccHub::call`: JSON → typed params → bridge → typed result), so a result of
//! the wrong shape fails here exactly as it would in use. Beyond types it checks units and round
//! trips: a transform set is the transform read back; reparenting keeps world transforms; renames,
//! deletes, selection, groups; and motion applied to an armature samples back as the forward
//! kinematics of the MMCP data (within 1e-3 m).

mod animation;
mod compare;
mod files;
mod hierarchy;
mod objects;
mod render;
mod report;
mod scripts;
mod suite;

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::types::{Hello, Ping, SceneInfo};
use super::{DccError, DccHub, HubOptions};
use crate::config::{BridgeKind, Config, DccConfig};
pub use animation::forward_kinematics;
pub use report::{CheckReport, CheckRow};
use suite::{Suite, fail};

/// Options of `stagecraft adapter-check`.
#[derive(Debug, Clone)]
pub struct AdapterCheckOptions {
    pub bridge: BridgeKind,
    pub endpoint: Option<String>,
    /// `embedded`: the command line, program first.
    pub command: Vec<String>,
    pub token_env: Option<String>,
    pub timeout_seconds: u64,
}

/// `stagecraft adapter-check`: connects over the given bridge, runs the suite, prints the table to
/// stdout, and returns whether everything passed.
pub async fn adapter_check(options: AdapterCheckOptions) -> Result<bool, DccError> {
    let report = check_bridge(options).await?;
    print!("{}", report.table());
    Ok(report.passed())
}

/// Runs the suite over a bridge and returns the report (nothing printed).
pub async fn check_bridge(options: AdapterCheckOptions) -> Result<CheckReport, DccError> {
    let config = Config {
        dcc: vec![DccConfig {
            name: "adapter".into(),
            bridge: options.bridge,
            endpoint: options.endpoint.clone(),
            listen: false,
            token_env: options.token_env.clone(),
            token_file: None,
            command: options.command.clone(),
            timeout_seconds: options.timeout_seconds.max(1),
        }],
        ..Config::default()
    };
    let shutdown = CancellationToken::new();
    let hub = DccHub::with_options(&config, shutdown, HubOptions::default())?;
    let timeout = Duration::from_secs(options.timeout_seconds.max(1));
    let report = run_suite(&hub, Some("adapter"), timeout).await;
    hub.shutdown().await;
    Ok(report)
}

/// The suite against the built-in `stage` DCC, printed like `adapter_check`.
pub async fn adapter_check_stage() -> bool {
    let hub = match DccHub::new(&Config::default(), CancellationToken::new()) {
        Ok(hub) => hub,
        Err(e) => {
            println!("cannot start the stage DCC: {e}");
            return false;
        }
    };
    let report = run_suite(&hub, Some(super::STAGE_NAME), Duration::from_secs(30)).await;
    print!("{}", report.table());
    report.passed()
}

pub(super) const CUBE: &str = "sc_check_cube";
pub(super) const EMPTY: &str = "sc_check_empty";
pub(super) const SPHERE: &str = "sc_check_sphere";
pub(super) const CAMERA: &str = "sc_check_camera";
pub(super) const LIGHT: &str = "sc_check_light";
pub(super) const ARMATURE: &str = "sc_check_armature";

/// Runs every check against one connection of a hub.
pub async fn run_suite(hub: &DccHub, dcc: Option<&str>, timeout: Duration) -> CheckReport {
    let mut s = Suite {
        hub,
        dcc,
        timeout,
        methods: Vec::new(),
        report: CheckReport::default(),
    };
    let hello: Result<Hello, String> = s.get("dcc.hello", json!({})).await;
    let hello = match hello {
        Ok(h) => h,
        Err(e) => {
            s.record("dcc.hello", Err(e));
            return s.report;
        }
    };
    s.methods = hello.methods.clone();
    let unknown: Vec<&String> = hello
        .methods
        .iter()
        .filter(|m| !super::BRIDGE_METHODS.contains(&m.as_str()))
        .collect();
    let outcome = if hello.protocol != crate::bridge::PROTOCOL {
        fail(format!("protocol {:?}", hello.protocol))
    } else if hello.info.dcc_type.is_empty() {
        fail("info.dcc_type is empty")
    } else if !unknown.is_empty() {
        fail(format!(
            "advertises methods that are not in docs/bridge-protocol.md: {unknown:?}"
        ))
    } else {
        Ok(format!(
            "{} {} (pid {}), {} methods",
            hello.info.dcc_type,
            hello.info.version,
            hello.info.pid,
            hello.methods.len()
        ))
    };
    s.record("dcc.hello", outcome);
    let ping: Result<Ping, String> = s.get("dcc.ping", json!({})).await;
    s.record("dcc.ping", ping.map(|p| format!("busy: {}", p.busy)));

    if !s.has("scene.new_scene") {
        s.skip(
            "scene",
            "scene.new_scene is not advertised; the suite needs a fresh scene",
        );
        return s.report;
    }
    let fresh: Result<SceneInfo, String> = s
        .get("scene.new_scene", json!({"save_prompt": false}))
        .await;
    s.record(
        "scene.new_scene",
        fresh.map(|i| format!("{} objects", i.statistics.object_count)),
    );
    if s.has("scene.get_scene_info") {
        let info: Result<SceneInfo, String> = s.get("scene.get_scene_info", json!({})).await;
        s.record(
            "scene.get_scene_info",
            info.map(|i| format!("name {:?}, fps {:?}", i.name, i.fps)),
        );
    }

    let created = objects::check_create(&mut s).await;
    if created.is_empty() {
        return s.report;
    }
    objects::check_transforms(&mut s, &created).await;
    hierarchy::check_hierarchy(&mut s, &created).await;
    objects::check_selection(&mut s, &created).await;
    render::check_render(&mut s).await;
    animation::check_animation(&mut s, &created).await;
    files::check_files(&mut s, &hello).await;
    scripts::check_scripts(&mut s, &hello).await;
    objects::check_delete(&mut s, &created).await;
    s.report
}
