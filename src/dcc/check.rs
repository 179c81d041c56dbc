//! `stagecraft adapter-check`: the bridge conformance suite.
//!
//! It drives an adapter through every method it advertises, on a fresh scene, through the same path
//! the dispatcher uses (`DccHub::call`: JSON → typed params → bridge → typed result), so a result of
//! the wrong shape fails here exactly as it would in use. Beyond types it checks units and round
//! trips: a transform set is the transform read back; reparenting keeps world transforms; renames,
//! deletes, selection, groups; and motion applied to an armature samples back as the forward
//! kinematics of the MMCP data (within 1e-3 m).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use glam::{DQuat, DVec3, EulerRot, Quat, Vec3};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::types::*;
use super::{DccCall, DccError, DccFailure, DccHub, HubOptions};
use crate::config::{BridgeKind, Config, DccConfig};

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

/// One line of the table.
#[derive(Debug, Clone)]
pub struct CheckRow {
    pub check: String,
    /// `None`: skipped (the adapter does not advertise what the check needs).
    pub passed: Option<bool>,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub rows: Vec<CheckRow>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.passed != Some(false))
    }

    pub fn failures(&self) -> Vec<&CheckRow> {
        self.rows
            .iter()
            .filter(|r| r.passed == Some(false))
            .collect()
    }

    /// The pass/fail table, one check per line.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!("{:<6}  {:<width$}  detail\n", "result", "check");
        for r in &self.rows {
            let status = match r.passed {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "skip",
            };
            out.push_str(&format!("{status:<6}  {:<width$}  {}\n", r.check, r.detail));
        }
        let failed = self.failures().len();
        let passed = self.rows.iter().filter(|r| r.passed == Some(true)).count();
        let skipped = self.rows.len() - failed - passed;
        out.push_str(&format!(
            "\n{passed} passed, {failed} failed, {skipped} skipped\n"
        ));
        out
    }
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

/// MMCP forward kinematics for one frame: world positions (metres) of every joint, from local
/// rotations `[x, y, z, w]` per joint (skeleton order) and the root's world position.
pub fn forward_kinematics(
    skeleton: &Skeleton,
    rotations: &[[f32; 4]],
    root: [f32; 3],
) -> Vec<Vec3> {
    let mut world_rot: Vec<Quat> = Vec::with_capacity(skeleton.joints.len());
    let mut pos: Vec<Vec3> = Vec::with_capacity(skeleton.joints.len());
    for (j, joint) in skeleton.joints.iter().enumerate() {
        let q = rotations
            .get(j)
            .map_or(Quat::IDENTITY, |r| Quat::from_array(*r).normalize());
        let parent = joint
            .parent
            .as_ref()
            .and_then(|p| skeleton.joints[..j].iter().position(|x| &x.name == p));
        match parent {
            None => {
                world_rot.push(q);
                pos.push(Vec3::from_array(root));
            }
            Some(p) => {
                let t = joint.rest_translation;
                let offset = Vec3::new(t[0] as f32, t[1] as f32, t[2] as f32);
                pos.push(pos[p] + world_rot[p] * offset);
                world_rot.push(world_rot[p] * q);
            }
        }
    }
    pos
}

struct Suite<'a> {
    hub: &'a DccHub,
    dcc: Option<&'a str>,
    timeout: Duration,
    methods: Vec<String>,
    report: CheckReport,
}

type Outcome = Result<String, String>;

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

/// A failure's code as the adapter's author knows it: the bridge's wire name (`SCENE_ERROR`) for a
/// DccErrorCode, stagecraft's own name (`no_dcc`) otherwise.
fn wire_name(failure: &DccFailure) -> &'static str {
    match failure.dcc_code() {
        Some(code) => code.wire_name(),
        None => failure.code.as_str(),
    }
}

fn near3(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
    (0..3).all(|i| (a[i] - b[i]).abs() <= tol)
}

fn euler_quat(r: [f64; 3]) -> DQuat {
    let [x, y, z] = r.map(f64::to_radians);
    DQuat::from_euler(EulerRot::ZYX, z, y, x)
}

/// Angle between two Euler XYZ rotations, degrees (so 180/0/180 equals 0/180/0).
fn rot_diff(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = euler_quat(a).dot(euler_quat(b)).abs().min(1.0);
    (2.0 * d.acos()).to_degrees()
}

fn same_transform(a: &ObjectTransform, b: &ObjectTransform) -> Result<(), String> {
    if !near3(a.translate, b.translate, 0.05) {
        return fail(format!(
            "translate {:?} became {:?}",
            a.translate, b.translate
        ));
    }
    if rot_diff(a.rotate, b.rotate) > 0.05 {
        return fail(format!("rotate {:?} became {:?}", a.rotate, b.rotate));
    }
    if !near3(a.scale, b.scale, 1e-3) {
        return fail(format!("scale {:?} became {:?}", a.scale, b.scale));
    }
    Ok(())
}

impl Suite<'_> {
    fn has(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    fn record(&mut self, check: &str, outcome: Outcome) {
        let (passed, detail) = match outcome {
            Ok(d) => (Some(true), d),
            Err(d) => (Some(false), d),
        };
        self.report.rows.push(CheckRow {
            check: check.into(),
            passed,
            detail,
        });
    }

    fn skip(&mut self, check: &str, why: &str) {
        self.report.rows.push(CheckRow {
            check: check.into(),
            passed: None,
            detail: why.into(),
        });
    }

    async fn raw(&self, method: &str, params: Value) -> Result<Value, DccFailure> {
        let call = DccCall::new(self.timeout);
        self.hub.call(self.dcc, method, params, &call).await
    }

    async fn get<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, String> {
        let value = self
            .raw(method, params)
            .await
            .map_err(|e| format!("{method}: {} {}", wire_name(&e), e.message))?;
        serde_json::from_value(value).map_err(|e| format!("{method}: wrong result type: {e}"))
    }

    /// Expects an error with one of `codes`.
    async fn expect_error(
        &self,
        method: &str,
        params: Value,
        codes: &[DccErrorCode],
    ) -> Result<(), String> {
        let expected = || {
            codes
                .iter()
                .map(|c| c.wire_name())
                .collect::<Vec<_>>()
                .join(" or ")
        };
        match self.raw(method, params).await {
            Ok(v) => fail(format!(
                "{method} should fail ({}), but answered {v}",
                expected()
            )),
            Err(e) if e.dcc_code().is_some_and(|c| codes.contains(&c)) => Ok(()),
            Err(e) => fail(format!(
                "{method} failed with {} ({}); expected {}",
                wire_name(&e),
                e.message,
                expected()
            )),
        }
    }

    async fn transform(&self, name: &str) -> Result<ObjectTransform, String> {
        self.get("transform.get_transform", json!({"object_name": name}))
            .await
    }
}

const CUBE: &str = "sc_check_cube";
const EMPTY: &str = "sc_check_empty";
const SPHERE: &str = "sc_check_sphere";
const CAMERA: &str = "sc_check_camera";
const LIGHT: &str = "sc_check_light";
const ARMATURE: &str = "sc_check_armature";

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

    let created = check_create(&mut s).await;
    if created.is_empty() {
        return s.report;
    }
    check_transforms(&mut s, &created).await;
    check_hierarchy(&mut s, &created).await;
    check_selection(&mut s, &created).await;
    check_render(&mut s).await;
    check_animation(&mut s, &created).await;
    check_files(&mut s, &hello).await;
    check_scripts(&mut s, &hello).await;
    check_delete(&mut s, &created).await;
    s.report
}

/// Creates one object of each type; returns name → object type as the adapter reports it.
async fn check_create(s: &mut Suite<'_>) -> BTreeMap<String, String> {
    let mut created = BTreeMap::new();
    if !s.has("scene.create_object") {
        s.skip("scene.create_object", "not advertised");
        return created;
    }
    let kinds = [
        ("empty", EMPTY, [0.0, 0.0, 0.0]),
        ("cube", CUBE, [10.0, 20.0, 30.0]),
        ("sphere", SPHERE, [-50.0, 0.0, 25.0]),
        ("camera", CAMERA, [0.0, 150.0, 600.0]),
        ("light", LIGHT, [100.0, 300.0, 100.0]),
        ("armature", ARMATURE, [0.0, 0.0, 0.0]),
    ];
    for (kind, name, translate) in kinds {
        let check = format!("scene.create_object {kind}");
        let r: Result<SceneObject, String> = s
            .get(
                "scene.create_object",
                json!({"object_type": kind, "name": name, "translate": translate}),
            )
            .await;
        let outcome = match r {
            Ok(o) if o.name != name => fail(format!(
                "asked for {name:?}, got {:?} in a fresh scene",
                o.name
            )),
            Ok(o) => {
                created.insert(o.name.clone(), o.object_type.clone());
                let mut out = Ok(format!("{} ({})", o.name, o.object_type));
                if s.has("transform.get_transform") {
                    match s.transform(name).await {
                        Ok(t) if near3(t.translate, translate, 0.05) => {}
                        Ok(t) => {
                            out = fail(format!(
                                "created at {translate:?} cm, reads back {:?}",
                                t.translate
                            ))
                        }
                        Err(e) => out = fail(e),
                    }
                }
                out
            }
            Err(e) => fail(e),
        };
        s.record(&check, outcome);
    }
    let outcome = s
        .expect_error(
            "scene.create_object",
            json!({"object_type": "teapot", "name": "sc_check_bad"}),
            &[DccErrorCode::InvalidInput, DccErrorCode::Unsupported],
        )
        .await;
    s.record(
        "scene.create_object rejects unknown types",
        outcome.map(|_| "INVALID_INPUT".into()),
    );

    if s.has("scene.list_objects") {
        let all: Result<Vec<SceneObject>, String> = s.get("scene.list_objects", json!({})).await;
        let outcome = all.and_then(|all| {
            let missing: Vec<&String> = created
                .keys()
                .filter(|n| !all.iter().any(|o| &o.name == *n))
                .collect();
            if missing.is_empty() {
                Ok(format!("{} objects", all.len()))
            } else {
                fail(format!("created but not listed: {missing:?}"))
            }
        });
        s.record("scene.list_objects", outcome);
        if let Some(cube_type) = created.get(CUBE).cloned() {
            let filtered: Result<Vec<SceneObject>, String> = s
                .get("scene.list_objects", json!({"object_type": cube_type}))
                .await;
            let outcome = filtered.and_then(|list| {
                if list.iter().all(|o| o.object_type == cube_type)
                    && list.iter().any(|o| o.name == CUBE)
                {
                    Ok(format!("{} of type {cube_type}", list.len()))
                } else {
                    fail(format!(
                        "filter by {cube_type:?} returned {:?}",
                        list.iter()
                            .map(|o| (&o.name, &o.object_type))
                            .collect::<Vec<_>>()
                    ))
                }
            });
            s.record("scene.list_objects object_type filter", outcome);
        }
    }
    created
}

async fn check_transforms(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("transform.set_transform")
        && s.has("transform.get_transform")
        && created.contains_key(CUBE))
    {
        s.skip("transform", "transform.get/set_transform not advertised");
        return;
    }
    let want = ObjectTransform {
        translate: [12.5, -40.0, 7.0],
        rotate: [30.0, 45.0, 60.0],
        scale: [1.5, 2.0, 0.5],
    };
    let set: Result<ObjectTransform, String> = s
        .get("transform.set_transform", json!({"object_name": CUBE, "translate": want.translate, "rotate": want.rotate, "scale": want.scale}))
        .await;
    let outcome = match set {
        Ok(returned) => match s.transform(CUBE).await {
            Ok(got) => same_transform(&want, &got)
                .and_then(|_| same_transform(&want, &returned))
                .map(|_| "set then get: equal (cm, degrees, Euler XYZ)".into()),
            Err(e) => fail(e),
        },
        Err(e) => fail(e),
    };
    s.record("transform.set_transform round trip", outcome);

    let partial: Result<ObjectTransform, String> = s
        .get(
            "transform.set_transform",
            json!({"object_name": CUBE, "translate": [1.0, 2.0, 3.0]}),
        )
        .await;
    let outcome = partial.and_then(|t| {
        let expect = ObjectTransform {
            translate: [1.0, 2.0, 3.0],
            ..want
        };
        same_transform(&expect, &t).map(|_| "absent fields unchanged".into())
    });
    s.record("transform.set_transform partial", outcome);

    // Euler order: R = Rz · Ry · Rx (X applied first): [90, 0, 90] takes +Y to +Z (X first turns
    // +Y into +Z, which Z then keeps); the other order would take +Y to -X.
    let order: Result<ObjectTransform, String> = s
        .get(
            "transform.set_transform",
            json!({"object_name": CUBE, "rotate": [90.0, 0.0, 90.0], "scale": [1.0, 1.0, 1.0]}),
        )
        .await;
    let outcome = order.and_then(|t| {
        let q = euler_quat(t.rotate);
        let y = q * DVec3::Y;
        if (y - DVec3::Z).length() < 1e-3 {
            Ok("Euler XYZ: X applied first".into())
        } else {
            fail(format!(
                "rotate [90, 0, 90] read back as {:?}, which maps +Y to {y:?} (expected +Z)",
                t.rotate
            ))
        }
    });
    s.record("transform Euler order", outcome);

    let outcome = s
        .expect_error(
            "transform.get_transform",
            json!({"object_name": "sc_check_missing"}),
            &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
        )
        .await;
    s.record(
        "transform.get_transform unknown object",
        outcome.map(|_| "SCENE_ERROR".into()),
    );

    if s.has("transform.get_bounding_box") {
        let bb: Result<BoundingBox, String> = s
            .get("transform.get_bounding_box", json!({"object_name": CUBE}))
            .await;
        let outcome = bb.and_then(|b| {
            let inside = (0..3).all(|i| {
                b.min[i] <= b.max[i]
                    && b.min[i] <= [1.0, 2.0, 3.0][i] + 0.05
                    && b.max[i] >= [1.0, 2.0, 3.0][i] - 0.05
            });
            let size = (0..3).map(|i| b.max[i] - b.min[i]).fold(0.0, f64::max);
            if !inside {
                fail(format!(
                    "box {:?}..{:?} does not contain the cube's origin [1, 2, 3] cm",
                    b.min, b.max
                ))
            } else if !(1.0..=100_000.0).contains(&size) {
                fail(format!(
                    "a cube {size} cm across: units are not centimetres?"
                ))
            } else {
                Ok(format!("{size:.1} cm across"))
            }
        });
        s.record("transform.get_bounding_box", outcome);
    }

    if s.has("transform.rename_object") && created.contains_key(SPHERE) {
        let renamed: Result<String, String> = s
            .get(
                "transform.rename_object",
                json!({"old_name": SPHERE, "new_name": "sc_check_ball"}),
            )
            .await;
        let outcome = match renamed {
            Ok(n) if n == "sc_check_ball" => match s.transform("sc_check_ball").await {
                Ok(_) => s
                    .expect_error(
                        "transform.get_transform",
                        json!({"object_name": SPHERE}),
                        &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
                    )
                    .await
                    .map(|_| "new name works, old name is gone".into()),
                Err(e) => fail(e),
            },
            Ok(n) => fail(format!("renamed to {n:?}, expected sc_check_ball")),
            Err(e) => fail(e),
        };
        s.record("transform.rename_object", outcome);
        // Back, so later checks can use the old name.
        let _: Result<String, String> = s
            .get(
                "transform.rename_object",
                json!({"old_name": "sc_check_ball", "new_name": SPHERE}),
            )
            .await;
    }
}

async fn check_hierarchy(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("hierarchy.reparent")
        && s.has("transform.get_transform")
        && created.contains_key(EMPTY))
    {
        s.skip("hierarchy", "hierarchy.reparent not advertised");
        return;
    }
    let _: Result<ObjectTransform, String> = s
        .get("transform.set_transform", json!({"object_name": EMPTY, "translate": [100.0, 50.0, -20.0], "rotate": [0.0, 90.0, 30.0], "scale": [2.0, 2.0, 2.0]}))
        .await;
    let before = s.transform(CUBE).await;
    let moved: Result<SceneObject, String> = s
        .get(
            "hierarchy.reparent",
            json!({"object_name": CUBE, "new_parent": EMPTY, "preserve_world_transform": true}),
        )
        .await;
    let outcome = match (before.clone(), moved) {
        (Ok(before), Ok(o)) if o.parent.as_deref() == Some(EMPTY) => {
            match s.transform(CUBE).await {
                Ok(after) => same_transform(&before, &after).map(|_| "world transform kept".into()),
                Err(e) => fail(e),
            }
        }
        (Ok(_), Ok(o)) => fail(format!("parent is {:?} after reparent", o.parent)),
        (Err(e), _) | (_, Err(e)) => fail(e),
    };
    s.record("hierarchy.reparent keeps world transform", outcome);

    if s.has("hierarchy.get_parent") {
        let parent: Result<Option<String>, String> = s
            .get("hierarchy.get_parent", json!({"object_name": CUBE}))
            .await;
        s.record(
            "hierarchy.get_parent",
            parent.and_then(|p| {
                if p.as_deref() == Some(EMPTY) {
                    Ok(format!("{p:?}"))
                } else {
                    fail(format!("{p:?}, expected {EMPTY:?}"))
                }
            }),
        );
    }
    if s.has("hierarchy.get_children") {
        let kids: Result<Vec<SceneObject>, String> = s
            .get("hierarchy.get_children", json!({"object_name": EMPTY}))
            .await;
        s.record(
            "hierarchy.get_children",
            kids.and_then(|k| {
                if k.iter().any(|o| o.name == CUBE) {
                    Ok(format!("{} children", k.len()))
                } else {
                    fail("the reparented cube is not a child")
                }
            }),
        );
        let roots: Result<Vec<SceneObject>, String> = s
            .get("hierarchy.get_children", json!({"object_name": null}))
            .await;
        s.record(
            "hierarchy.get_children of the root",
            roots.and_then(|r| {
                if r.iter().any(|o| o.name == EMPTY) && !r.iter().any(|o| o.name == CUBE) {
                    Ok(format!("{} roots", r.len()))
                } else {
                    fail("roots do not match the hierarchy")
                }
            }),
        );
    }
    if s.has("hierarchy.get_hierarchy") {
        let tree: Result<Vec<SceneNode>, String> =
            s.get("hierarchy.get_hierarchy", json!({})).await;
        s.record(
            "hierarchy.get_hierarchy",
            tree.and_then(|t| {
                let found = t
                    .iter()
                    .find(|n| n.object.name == EMPTY)
                    .is_some_and(|n| n.children.iter().any(|c| c.object.name == CUBE));
                if found {
                    Ok(format!("{} roots", t.len()))
                } else {
                    fail("the cube is not under the empty in the tree")
                }
            }),
        );
    }
    if let Ok(before) = before {
        let back: Result<SceneObject, String> = s
            .get(
                "hierarchy.reparent",
                json!({"object_name": CUBE, "new_parent": null}),
            )
            .await;
        let outcome = match back {
            Ok(o) if o.parent.is_none() => match s.transform(CUBE).await {
                Ok(after) => same_transform(&before, &after)
                    .map(|_| "back to the root, world transform kept".into()),
                Err(e) => fail(e),
            },
            Ok(o) => fail(format!("parent is {:?} after reparent to null", o.parent)),
            Err(e) => fail(e),
        };
        s.record("hierarchy.reparent to the root", outcome);
    }
    let outcome = s
        .expect_error(
            "hierarchy.reparent",
            json!({"object_name": EMPTY, "new_parent": "sc_check_missing"}),
            &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
        )
        .await;
    s.record(
        "hierarchy.reparent unknown parent",
        outcome.map(|_| "refused".into()),
    );

    if s.has("hierarchy.group_objects")
        && s.has("hierarchy.ungroup")
        && created.contains_key(SPHERE)
        && created.contains_key(LIGHT)
    {
        let before_sphere = s.transform(SPHERE).await;
        let group: Result<SceneObject, String> = s
            .get(
                "hierarchy.group_objects",
                json!({"object_names": [SPHERE, LIGHT], "group_name": "sc_check_group"}),
            )
            .await;
        let outcome = match group {
            Ok(g) => {
                let parent: Result<Option<String>, String> = s
                    .get("hierarchy.get_parent", json!({"object_name": SPHERE}))
                    .await;
                match (parent, before_sphere.clone(), s.transform(SPHERE).await) {
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(e),
                    (Ok(Some(p)), Ok(b), Ok(a)) if p == g.name => {
                        same_transform(&b, &a).map(|_| format!("grouped under {}", g.name))
                    }
                    (Ok(p), _, _) => fail(format!(
                        "sphere's parent is {p:?}, not the group {:?}",
                        g.name
                    )),
                }
            }
            Err(e) => fail(e),
        };
        let group_name = "sc_check_group";
        s.record("hierarchy.group_objects", outcome);
        let former: Result<Vec<String>, String> = s
            .get("hierarchy.ungroup", json!({"group_name": group_name}))
            .await;
        let outcome = former.and_then(|f| {
            if f.iter().any(|n| n == SPHERE) && f.iter().any(|n| n == LIGHT) {
                Ok(format!("{f:?}"))
            } else {
                fail(format!("former children {f:?}"))
            }
        });
        let outcome = match (outcome, before_sphere, s.transform(SPHERE).await) {
            (Ok(d), Ok(b), Ok(a)) => same_transform(&b, &a).map(|_| d),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(e),
        };
        // The children really moved out, and the group is gone.
        let parent: Result<Option<String>, String> = s
            .get("hierarchy.get_parent", json!({"object_name": SPHERE}))
            .await;
        let objects: Result<Vec<SceneObject>, String> =
            s.get("scene.list_objects", json!({})).await;
        let outcome = match (outcome, parent, objects) {
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(e),
            (Ok(_), Ok(Some(p)), _) if p == group_name => {
                fail(format!("the sphere is still under {group_name:?}"))
            }
            (Ok(_), _, Ok(list)) if list.iter().any(|o| o.name == group_name) => {
                fail(format!("{group_name:?} still exists after ungroup"))
            }
            (Ok(d), _, _) => Ok(d),
        };
        s.record("hierarchy.ungroup", outcome);
    }
}

async fn check_selection(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if s.has("scene.set_selection") && s.has("scene.get_selection") {
        let set: Result<Vec<String>, String> = s
            .get(
                "scene.set_selection",
                json!({"object_names": [CUBE, EMPTY]}),
            )
            .await;
        let got: Result<Vec<String>, String> = s.get("scene.get_selection", json!({})).await;
        let outcome = match (set, got) {
            (Ok(_), Ok(mut g)) => {
                g.sort();
                if g == [CUBE.to_string(), EMPTY.to_string()] {
                    Ok("set then get: equal".into())
                } else {
                    fail(format!("selection is {g:?}"))
                }
            }
            (Err(e), _) | (_, Err(e)) => fail(e),
        };
        s.record("scene.set_selection / get_selection", outcome);
        let outcome = s
            .expect_error(
                "scene.set_selection",
                json!({"object_names": ["sc_check_missing"]}),
                &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
            )
            .await;
        s.record(
            "scene.set_selection unknown object",
            outcome.map(|_| "refused".into()),
        );
    }
    if s.has("scene.select_by_type")
        && let Some(t) = created.get(CAMERA)
    {
        let sel: Result<Vec<String>, String> = s
            .get("scene.select_by_type", json!({"object_type": t}))
            .await;
        s.record(
            "scene.select_by_type",
            sel.and_then(|v| {
                if v.iter().any(|n| n == CAMERA) {
                    Ok(format!("{} of type {t}", v.len()))
                } else {
                    fail(format!("{v:?} lacks the camera"))
                }
            }),
        );
    }
    if s.has("scene.set_visibility") && s.has("scene.list_objects") {
        let r: Result<bool, String> = s
            .get(
                "scene.set_visibility",
                json!({"object_name": LIGHT, "visible": false}),
            )
            .await;
        let list: Result<Vec<SceneObject>, String> = s.get("scene.list_objects", json!({})).await;
        let outcome = match (r, list) {
            (Ok(_), Ok(l)) => match l.iter().find(|o| o.name == LIGHT) {
                Some(o) if !o.visible => Ok("hidden object listed as visible: false".into()),
                Some(_) => fail("still listed as visible"),
                None => fail("the light is gone"),
            },
            (Err(e), _) | (_, Err(e)) => fail(e),
        };
        s.record("scene.set_visibility", outcome);
        let _: Result<bool, String> = s
            .get(
                "scene.set_visibility",
                json!({"object_name": LIGHT, "visible": true}),
            )
            .await;
    }
}

async fn check_render(s: &mut Suite<'_>) {
    if s.has("render.capture_viewport") {
        let cap: Result<CaptureResult, String> = s
            .get(
                "render.capture_viewport",
                json!({"width": 64, "height": 48}),
            )
            .await;
        let outcome = cap.and_then(|c| {
            let png = base64::engine::general_purpose::STANDARD
                .decode(c.data_b64.as_bytes())
                .map_err(|e| format!("data_b64 is not standard base64: {e}"))?;
            if c.format == "png" && !png.starts_with(b"\x89PNG\r\n\x1a\n") {
                return fail("format png but the data is not a PNG");
            }
            if png.len() > 24 && c.format == "png" {
                let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
                let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
                if (w, h) != (c.width, c.height) {
                    return fail(format!("says {}x{}, the PNG is {w}x{h}", c.width, c.height));
                }
            }
            Ok(format!(
                "{}x{} {}, {} bytes",
                c.width,
                c.height,
                c.format,
                png.len()
            ))
        });
        s.record("render.capture_viewport", outcome);
    }
    if s.has("render.get_render_settings") {
        let settings: Result<BTreeMap<String, Value>, String> =
            s.get("render.get_render_settings", json!({})).await;
        let outcome = settings.and_then(|m| {
            if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                fail(format!("setting {k:?} is not a string"))
            } else {
                Ok(format!("{} settings", m.len()))
            }
        });
        // A numeric setting is changed and read back, then restored: setting a key to the value it
        // already has would pass an adapter that ignores the call.
        let numeric = match &outcome {
            Ok(_) => s
                .get::<BTreeMap<String, String>>("render.get_render_settings", json!({}))
                .await
                .ok()
                .and_then(|m| {
                    m.into_iter().find_map(|(k, v)| {
                        let n = v.trim().parse::<i64>().ok().filter(|n| *n > 1)?;
                        Some((k, v, n))
                    })
                }),
            Err(_) => None,
        };
        let settings_ok = outcome.is_ok();
        s.record("render.get_render_settings", outcome);
        if s.has("render.set_render_settings") {
            match numeric {
                Some((k, original, n)) => {
                    let changed = (n - 1).to_string();
                    let set: Result<BTreeMap<String, String>, String> = s
                        .get(
                            "render.set_render_settings",
                            json!({"settings": {&k: &changed}}),
                        )
                        .await;
                    let read: Result<BTreeMap<String, String>, String> =
                        s.get("render.get_render_settings", json!({})).await;
                    let outcome = match (set, read) {
                        (Err(e), _) | (_, Err(e)) => fail(e),
                        (Ok(after), Ok(now)) => {
                            let parsed =
                                |v: Option<&String>| v.and_then(|v| v.trim().parse::<f64>().ok());
                            let want = (n - 1) as f64;
                            if parsed(after.get(&k)) != Some(want) {
                                fail(format!("{k} set to {changed} answered {:?}", after.get(&k)))
                            } else if parsed(now.get(&k)) != Some(want) {
                                fail(format!("{k} set to {changed} reads back {:?}", now.get(&k)))
                            } else {
                                Ok(format!("{k}: {original} -> {changed}, read back"))
                            }
                        }
                    };
                    let _: Result<Value, String> = s
                        .get(
                            "render.set_render_settings",
                            json!({"settings": {&k: &original}}),
                        )
                        .await;
                    s.record("render.set_render_settings", outcome);
                }
                None if settings_ok => s.skip(
                    "render.set_render_settings",
                    "no numeric render setting greater than 1 to change",
                ),
                None => s.record(
                    "render.set_render_settings",
                    fail("get_render_settings failed, so nothing could be set and read back"),
                ),
            }
        }
    }
    if s.has("render.render_scene") {
        let path = scratch_path("render.png");
        let out: Result<RenderOutput, String> = s
            .get(
                "render.render_scene",
                json!({"output_path": path.display().to_string(), "width": 64, "height": 48}),
            )
            .await;
        let outcome = out.and_then(|o| {
            if std::path::Path::new(&o.file_path).is_file()
                || !path.parent().is_some_and(|p| p.exists())
            {
                Ok(format!(
                    "{}x{} in {:.0} ms",
                    o.width, o.height, o.render_time_ms
                ))
            } else {
                fail(format!("no file at {}", o.file_path))
            }
        });
        let _ = std::fs::remove_file(&path);
        s.record("render.render_scene", outcome);
    }
}

async fn check_animation(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("animation.get_skeleton")
        && s.has("animation.apply_motion")
        && s.has("animation.sample_pose")
        && created.contains_key(ARMATURE))
    {
        s.skip(
            "animation",
            "get_skeleton / apply_motion / sample_pose not advertised",
        );
        return;
    }
    if s.has("animation.list_armatures") {
        let list: Result<Vec<ArmatureSummary>, String> =
            s.get("animation.list_armatures", json!({})).await;
        s.record(
            "animation.list_armatures",
            list.and_then(|l| match l.iter().find(|a| a.name == ARMATURE) {
                Some(a) if a.joints > 0 => Ok(format!("{} with {} joints", a.name, a.joints)),
                _ => fail(format!("{ARMATURE} missing or without joints: {l:?}")),
            }),
        );
    }
    let skeleton: Result<Skeleton, String> = s
        .get("animation.get_skeleton", json!({"armature": ARMATURE}))
        .await;
    let skeleton = match skeleton.and_then(|sk| check_skeleton(&sk).map(|_| sk)) {
        Ok(sk) => {
            s.record(
                "animation.get_skeleton",
                Ok(format!(
                    "{} joints, parents first, identity rest, finite",
                    sk.joints.len()
                )),
            );
            sk
        }
        Err(e) => {
            s.record("animation.get_skeleton", Err(e));
            return;
        }
    };
    let joints = skeleton.joints.len();
    let frames = 8usize;
    let mut rotations = Vec::with_capacity(frames * joints * 4);
    let mut per_frame: Vec<Vec<[f32; 4]>> = Vec::new();
    let mut roots = Vec::new();
    let root_rest = skeleton.joints[0].rest_translation;
    for f in 0..frames {
        let mut frame = Vec::new();
        for j in 0..joints {
            let t = f as f32 / frames as f32;
            let q = Quat::from_euler(
                EulerRot::XYZ,
                0.4 * t + 0.05 * j as f32,
                -0.3 * t * (j % 3) as f32,
                0.25 * (t * 6.0).sin(),
            );
            rotations.extend_from_slice(&q.to_array());
            frame.push(q.to_array());
        }
        per_frame.push(frame);
        roots.extend_from_slice(&[
            root_rest[0] as f32 + 0.05 * f as f32,
            root_rest[1] as f32,
            root_rest[2] as f32 + 0.1 * f as f32,
        ]);
    }
    let names: Vec<String> = skeleton.joints.iter().map(|j| j.name.clone()).collect();
    let start = 1i64;
    let applied: Result<ApplyMotionResult, String> = s
        .get(
            "animation.apply_motion",
            json!({
                "armature": ARMATURE, "fps": 30.0, "joint_names": names,
                "rotations": F32Array::encode(vec![frames, joints, 4], &rotations),
                "root_positions": F32Array::encode(vec![frames, 3], &roots),
                "start_frame": start, "action_name": "sc_check_motion",
            }),
        )
        .await;
    let outcome = applied.and_then(|a| {
        if a.frame_start != start || a.frame_end != start + frames as i64 - 1 {
            fail(format!(
                "frames {}..{}, expected {start}..{}",
                a.frame_start,
                a.frame_end,
                start + frames as i64 - 1
            ))
        } else if !a.joints_skipped.is_empty() || a.joints_applied.len() != joints {
            fail(format!(
                "skipped {:?} of the rig's own joints",
                a.joints_skipped
            ))
        } else {
            Ok(format!(
                "action {:?}, {} joints",
                a.action,
                a.joints_applied.len()
            ))
        }
    });
    s.record("animation.apply_motion", outcome);
    let frame_list: Vec<f64> = (0..frames).map(|f| (start + f as i64) as f64).collect();
    let pose: Result<Pose, String> = s
        .get(
            "animation.sample_pose",
            json!({"armature": ARMATURE, "frames": frame_list}),
        )
        .await;
    let outcome = pose.and_then(|pose| {
        let mut worst = 0.0f64;
        for (f, rots) in per_frame.iter().enumerate() {
            let expect = forward_kinematics(
                &skeleton,
                rots,
                [roots[f * 3], roots[f * 3 + 1], roots[f * 3 + 2]],
            );
            for (j, name) in names.iter().enumerate() {
                let got = pose
                    .get(name)
                    .and_then(|p| p.get(f))
                    .ok_or_else(|| format!("no sample for {name} at frame {f}"))?;
                let e = expect[j];
                let d = ((got[0] - e.x as f64).powi(2)
                    + (got[1] - e.y as f64).powi(2)
                    + (got[2] - e.z as f64).powi(2))
                .sqrt();
                worst = worst.max(d);
                if d > 1e-3 {
                    return fail(format!(
                        "{name} at frame {}: {got:?}, forward kinematics says {:?} ({d:.4} m off)",
                        start + f as i64,
                        e.to_array()
                    ));
                }
            }
        }
        Ok(format!("matches forward kinematics, worst {worst:.2e} m"))
    });
    s.record("animation.sample_pose = FK(apply_motion)", outcome);

    let subset =
        json!({"armature": ARMATURE, "frames": [start as f64], "joint_names": [names[0].clone()]});
    let pose: Result<Pose, String> = s.get("animation.sample_pose", subset).await;
    s.record(
        "animation.sample_pose joint_names",
        pose.and_then(|p| {
            if p.len() == 1 && p.contains_key(&names[0]) {
                Ok("one joint asked, one answered".into())
            } else {
                fail(format!(
                    "asked for {:?}, got {:?}",
                    names[0],
                    p.keys().collect::<Vec<_>>()
                ))
            }
        }),
    );

    let bad = json!({"armature": ARMATURE, "fps": 30.0, "joint_names": names, "rotations": F32Array::encode(vec![1, joints + 1, 4], &vec![0.0; (joints + 1) * 4]), "root_positions": F32Array::encode(vec![1, 3], &[0.0; 3])});
    let outcome = s
        .expect_error("animation.apply_motion", bad, &[DccErrorCode::InvalidInput])
        .await;
    s.record(
        "animation.apply_motion shape mismatch",
        outcome.map(|_| "INVALID_INPUT".into()),
    );
    let outcome = s
        .expect_error(
            "animation.get_skeleton",
            json!({"armature": "sc_check_missing"}),
            &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
        )
        .await;
    s.record(
        "animation.get_skeleton unknown armature",
        outcome.map(|_| "refused".into()),
    );

    if s.has("animation.set_frame_range") && s.has("animation.get_frame_range") {
        let set: Result<FrameRange, String> = s
            .get(
                "animation.set_frame_range",
                json!({"start": 1.0, "end": 48.0, "fps": 24.0, "current": 5.0}),
            )
            .await;
        let got: Result<FrameRange, String> = s.get("animation.get_frame_range", json!({})).await;
        let outcome = match (set, got) {
            (Ok(_), Ok(r)) if (r.start, r.end, r.fps, r.current) == (1.0, 48.0, 24.0, 5.0) => {
                Ok("set then get: equal".into())
            }
            (Ok(_), Ok(r)) => fail(format!("read back {r:?}")),
            (Err(e), _) | (_, Err(e)) => fail(e),
        };
        s.record("animation.set_frame_range / get_frame_range", outcome);
    }
}

/// A path of its own for this run: several checks may run in one process at once.
fn scratch_path(what: &str) -> std::path::PathBuf {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "stagecraft-check-{}-{run}-{what}",
        std::process::id()
    ))
}

fn check_skeleton(sk: &Skeleton) -> Result<(), String> {
    if sk.joints.is_empty() {
        return fail("no joints");
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut roots = 0;
    for j in &sk.joints {
        match &j.parent {
            None => roots += 1,
            Some(p) if !seen.contains(&p.as_str()) => {
                return fail(format!("{:?} comes before its parent {p:?}", j.name));
            }
            Some(_) => {}
        }
        if seen.contains(&j.name.as_str()) {
            return fail(format!("joint name {:?} appears twice", j.name));
        }
        if j.rest_translation
            .iter()
            .any(|v| !v.is_finite() || v.abs() > 1e4)
        {
            return fail(format!(
                "{:?} has rest_translation {:?} (metres?)",
                j.name, j.rest_translation
            ));
        }
        let r = j.rest_rotation;
        if (r[0].abs() + r[1].abs() + r[2].abs()) > 1e-6 || (r[3] - 1.0).abs() > 1e-6 {
            return fail(format!(
                "{:?} has rest_rotation {r:?}; MMCP form wants identity",
                j.name
            ));
        }
        seen.push(&j.name);
    }
    if roots != 1 {
        return fail(format!("{roots} root joints; exactly one expected"));
    }
    Ok(())
}

async fn check_files(s: &mut Suite<'_>, hello: &Hello) {
    if !s.has("scene.save_file") {
        s.skip("scene files", "scene.save_file not advertised");
        return;
    }
    // The suite must pick a format the DCC writes; these are the ones it knows.
    let ext = match hello.info.dcc_type.as_str() {
        "stage" => "glb",
        "blender" => "blend",
        "toy" => "json",
        other => {
            s.skip(
                "scene files",
                &format!("no known native file format for dcc_type {other:?}"),
            );
            return;
        }
    };
    let dir = scratch_path("files");
    if std::fs::create_dir_all(&dir).is_err() {
        s.skip("scene files", "cannot create a temporary folder");
        return;
    }
    let path = dir.join(format!("adapter_check.{ext}"));
    let saved: Result<String, String> = s
        .get(
            "scene.save_file",
            json!({"file_path": path.display().to_string()}),
        )
        .await;
    s.record(
        "scene.save_file",
        saved.and_then(|p| {
            if std::path::Path::new(&p).is_file() {
                Ok(p)
            } else {
                fail(format!("answered {p:?} but no file is there"))
            }
        }),
    );
    if s.has("scene.open_file") {
        let info: Result<SceneInfo, String> = s
            .get(
                "scene.open_file",
                json!({"file_path": path.display().to_string(), "force": true}),
            )
            .await;
        let outcome = match info {
            Ok(i) => match s.transform(EMPTY).await {
                Ok(_) => Ok(format!("reopened {:?}", i.name)),
                Err(e) => fail(format!("reopened, but: {e}")),
            },
            Err(e) => fail(e),
        };
        s.record("scene.open_file", outcome);
    }
    if s.has("scene.export_file") {
        let format = if ext == "json" { "json" } else { "glb" };
        let out = dir.join(format!("adapter_check_export.{format}"));
        let r: Result<String, String> = s
            .get(
                "scene.export_file",
                json!({"file_path": out.display().to_string(), "format": format}),
            )
            .await;
        s.record(
            "scene.export_file",
            r.and_then(|p| {
                if std::path::Path::new(&p).is_file() {
                    Ok(format!("{format}: {p}"))
                } else {
                    fail(format!("no file at {p:?}"))
                }
            }),
        );
    }
    if s.has("scene.import_file") {
        let outcome = check_import(s, &dir).await;
        s.record("scene.import_file bvh", outcome);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A two-joint BVH in centimetres: `scene.import_file` must make one armature of two joints
/// (docs/bridge-protocol.md#methods). The armature is deleted again when the adapter can.
const CHECK_BVH: &str = "HIERARCHY\nROOT Hips\n{\n OFFSET 0 90 0\n \
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n JOINT Spine\n {\n  \
    OFFSET 0 30 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n  End Site\n  {\n   OFFSET 0 20 0\n  }\n \
    }\n}\nMOTION\nFrames: 2\nFrame Time: 0.04\n0 90 0 0 0 0 0 0 0\n10 90 0 0 0 0 0 0 0\n";

async fn check_import(s: &mut Suite<'_>, dir: &std::path::Path) -> Outcome {
    let path = dir.join("adapter_check.bvh");
    std::fs::write(&path, CHECK_BVH).map_err(|e| format!("cannot write the BVH file: {e}"))?;
    let imported: ImportResult = s
        .get(
            "scene.import_file",
            json!({"file_path": path.display().to_string()}),
        )
        .await?;
    let [armature] = &imported.armatures[..] else {
        return fail(format!(
            "a BVH file makes one armature, got {:?}",
            imported.armatures
        ));
    };
    if !imported.objects.contains(armature) {
        return fail("the armature is missing from `objects`");
    }
    if s.has("animation.get_skeleton") {
        let skeleton: Skeleton = s
            .get("animation.get_skeleton", json!({"armature": armature}))
            .await?;
        if skeleton.joints.len() != 2 {
            return fail(format!(
                "the armature has {} joints, the file 2",
                skeleton.joints.len()
            ));
        }
    }
    if s.has("scene.delete_objects") {
        let _: Result<Value, String> = s
            .get(
                "scene.delete_objects",
                json!({"object_names": imported.objects}),
            )
            .await;
    }
    Ok(format!("armature {armature:?}"))
}

async fn check_scripts(s: &mut Suite<'_>, hello: &Hello) {
    if !s.has("script.execute") {
        return;
    }
    if s.has("script.supported_languages") {
        let langs: Result<Vec<String>, String> =
            s.get("script.supported_languages", json!({})).await;
        s.record(
            "script.supported_languages",
            langs.map(|l| format!("{l:?}")),
        );
    }
    if !hello
        .capabilities
        .script_languages
        .iter()
        .any(|l| l == "python")
    {
        s.skip("script.execute", "no python among script_languages");
        return;
    }
    let r: Result<ScriptResult, String> = s.get("script.execute", json!({"language": "python", "code": "print('hi')\nresult = args['x'] * 2", "args": {"x": 21}})).await;
    s.record(
        "script.execute",
        r.and_then(|r| {
            if r.success && r.result == Some(json!(42)) {
                Ok("args in, result and output out".into())
            } else {
                fail(format!(
                    "success {} result {:?} error {:?}",
                    r.success, r.result, r.error
                ))
            }
        }),
    );
}

async fn check_delete(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("scene.delete_objects") && created.contains_key(SPHERE)) {
        return;
    }
    let r: Result<Vec<String>, String> = s
        .get("scene.delete_objects", json!({"object_names": [SPHERE]}))
        .await;
    let outcome = match r {
        Ok(d) if d.iter().any(|n| n == SPHERE) => s
            .expect_error(
                "transform.get_transform",
                json!({"object_name": SPHERE}),
                &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
            )
            .await
            .map(|_| "deleted, and gone".into()),
        Ok(d) => fail(format!("answered {d:?}")),
        Err(e) => fail(e),
    };
    s.record("scene.delete_objects", outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fk_of_a_chain() {
        let sk = Skeleton::new(vec![
            Joint {
                name: "a".into(),
                parent: None,
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
                display_name: None,
            },
            Joint {
                name: "b".into(),
                parent: Some("a".into()),
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
                display_name: None,
            },
        ]);
        let q = Quat::from_rotation_z(std::f32::consts::FRAC_PI_2).to_array();
        let p = forward_kinematics(&sk, &[q, [0.0, 0.0, 0.0, 1.0]], [0.0, 1.0, 0.0]);
        assert!((p[1] - Vec3::new(-1.0, 1.0, 0.0)).length() < 1e-6);
    }

    #[test]
    fn euler_comparison_ignores_equivalent_angles() {
        assert!(rot_diff([180.0, 0.0, 180.0], [0.0, 180.0, 0.0]) < 1e-3);
        assert!(rot_diff([10.0, 0.0, 0.0], [0.0, 0.0, 0.0]) > 9.9);
    }
}
