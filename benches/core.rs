//! stagecraft's in-process benchmarks; one JSON object on stdout (scripts/bench.sh drives it).
//!
//!     cargo bench --bench core -- [--docs DIR] [--toy examples/adapter/toy_adapter.py]
//!                                 [--motion-url http://127.0.0.1:PORT] [--quick]
//!
//! Sections:
//! - `startup`: the parts of `serve` before the first answer (skill registry load, dispatcher).
//! - `overhead`: the server's own per-call cost. An rmcp client talks to `StagecraftServer` over an
//!   in-memory duplex pipe (no process, no socket), calling `get_selection` on the built-in `stage`
//!   DCC; the same call through the `Dispatcher` alone; and the adapter's own work (the
//!   `SceneManager::get_selection` trait method called directly). Overhead = tools/call − adapter.
//! - `bridges`: `scene.get_selection` and `dcc.ping` through `DccHub` to the example toy adapter over
//!   each bridge (embedded stdio, HTTP, WebSocket, named pipe), and to the in-process stage DCC.
//! - `decode`: `stagecraft::motion::gltf::decode` on the documents in `--docs` (written by
//!   benches/decode.py with the MMCP SDK's own encoder), and the memory-bandwidth bound on the same
//!   bytes: base64-decoding the buffer and copying it once into f32s.
//! - `generate`: request to decoded take with the built-in procedural model, in process and over
//!   MMCP HTTP (`stagecraft motion-server` at `--motion-url`); writes the request it sends to
//!   `--docs/request.json` so the Python client can send the same one.
//!
//! - `retarget`: a 60 s take (30 joints x 1,800 frames x 1 sample) carried over to a Mixamo-named rig
//!   turned 90° and scaled (`motion::retarget::map` + `Mapping::apply`: roles, transfer, foot IK).
//! - `procedural`: the built-in model alone (`procedural::generate`), 10 s at 30 fps, for one action
//!   and for a five-clause sentence.
//!
//! Every figure is the median and the spread (p25..p75, min, max) of repeated runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use stagecraft::call::CallContext;
use stagecraft::config::{BridgeKind, Config, DccConfig};
use stagecraft::dcc::DccHub;
use stagecraft::dispatch::Dispatcher;
use stagecraft::mcp::StagecraftServer;
use stagecraft::skills::{SharedRegistry, SkillSources};
use tokio_util::sync::CancellationToken;

struct Opts {
    docs: Option<PathBuf>,
    toy: Option<PathBuf>,
    motion_url: Option<String>,
    quick: bool,
    only: Option<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        docs: None,
        toy: None,
        motion_url: None,
        quick: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--docs" => o.docs = it.next().map(PathBuf::from),
            "--toy" => o.toy = it.next().map(PathBuf::from),
            "--motion-url" => o.motion_url = it.next(),
            "--only" => o.only = it.next(),
            "--quick" => o.quick = true,
            _ => {} // `cargo bench` adds `--bench`
        }
    }
    o
}

/// Median and spread of durations, in the given unit (1e6: µs, 1e3: ms).
fn stats(mut xs: Vec<f64>, scale: f64) -> Value {
    xs.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let i = ((xs.len() - 1) as f64 * p).round() as usize;
        xs[i] * scale
    };
    let r = |v: f64| (v * 100.0).round() / 100.0;
    json!({"median": r(q(0.5)), "p25": r(q(0.25)), "p75": r(q(0.75)),
           "min": r(xs[0] * scale), "max": r(xs[xs.len() - 1] * scale), "n": xs.len()})
}

fn median(v: &Value) -> f64 {
    v["median"].as_f64().unwrap_or(f64::NAN)
}

async fn time_async<F, Fut, T>(n: usize, mut f: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(f().await);
        out.push(t.elapsed().as_secs_f64());
    }
    out
}

// ---- startup parts ---------------------------------------------------------------------------

fn startup(o: &Opts) -> Value {
    let n = if o.quick { 10 } else { 50 };
    let sources = SkillSources {
        builtin: true,
        paths: vec![],
        allow_scripts: false,
    };
    // The first load in a fresh process pays one-time costs (lazy statics, first-touch pages).
    // (`--only startup,meta-first`: the meta-schema's one-time compile is timed before that load.)
    let mut meta_first_ms = 0.0;
    if o.only.as_deref().is_some_and(|s| s.contains("meta-first")) {
        let t = Instant::now();
        std::hint::black_box(jsonschema::meta::validate(&json!({"type": "object"})).is_ok());
        meta_first_ms = t.elapsed().as_secs_f64() * 1e3;
    }
    let t = Instant::now();
    let first = SharedRegistry::load(sources.clone(), stagecraft::dispatch::binding_rules());
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(first);
    let mut load = Vec::new();
    let mut tools = 0;
    for _ in 0..n {
        let t = Instant::now();
        let r = SharedRegistry::load(sources.clone(), stagecraft::dispatch::binding_rules());
        load.push(t.elapsed().as_secs_f64());
        tools = r.get().tools.len();
    }
    // Where the time goes: the JSON Schema work on the 38 input schemas, alone.
    let reg = stagecraft::dispatch::shipped_registry(true);
    let schemas: Vec<Value> = reg
        .tools
        .values()
        .chain(reg.hidden.values())
        .map(|t| Value::Object((*t.input_schema).clone()))
        .collect();
    let mut meta = Vec::new();
    let mut compile = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        for s in &schemas {
            std::hint::black_box(jsonschema::meta::validate(s).is_ok());
        }
        meta.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for s in &schemas {
            std::hint::black_box(jsonschema::validator_for(s).unwrap());
        }
        compile.push(t.elapsed().as_secs_f64());
    }
    json!({"registry_first_load_ms": (first_ms * 100.0).round() / 100.0,
           "meta_schema_first_use_ms": (meta_first_ms * 1000.0).round() / 1000.0,
           "registry_load_ms": stats(load, 1e3), "tools": tools, "schemas": schemas.len(),
           "meta_validate_all_ms": stats(meta, 1e3), "compile_validators_all_ms": stats(compile, 1e3)})
}

// ---- per-call server overhead ----------------------------------------------------------------

async fn overhead(o: &Opts) -> Value {
    let n = if o.quick { 1000 } else { 5000 };
    let shutdown = CancellationToken::new();
    let registry = SharedRegistry::load(
        SkillSources {
            builtin: true,
            paths: vec![],
            allow_scripts: false,
        },
        stagecraft::dispatch::binding_rules(),
    );
    let dispatcher = Arc::new(
        Dispatcher::new(Arc::new(Config::default()), shutdown.clone()).expect("dispatcher"),
    );
    let server = StagecraftServer::new(registry.clone(), dispatcher.clone());
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("MCP handshake");
    let call = || CallToolRequestParams::new("get_selection");

    // Warm up every path (first calls allocate, compile, connect).
    for _ in 0..200 {
        let r = client.call_tool(call()).await.expect("tools/call");
        assert_ne!(r.is_error, Some(true), "{r:?}");
        client.list_all_tools().await.expect("tools/list");
    }
    let mcp_call = time_async(n, || async { client.call_tool(call()).await.unwrap() }).await;
    let mcp_list = time_async(n / 5, || async { client.list_all_tools().await.unwrap() }).await;

    let spec = registry.get().tools["get_selection"].clone();
    let disp = time_async(n, || async {
        let args = json!({});
        spec.validate(&args).unwrap();
        dispatcher
            .call(&spec, args, &CallContext::new(Duration::from_secs(30)))
            .await
            .unwrap()
    })
    .await;

    let adapter = dispatcher.dccs.adapter(None).expect("stage");
    let scene = adapter.as_scene_manager().expect("scene manager");
    let dcc_call = CallContext::new(Duration::from_secs(30));
    let own = time_async(n, || async {
        scene.get_selection(&dcc_call).await.unwrap()
    })
    .await;

    // Throughput: sequential and 8 concurrent callers over the same connection.
    let t = Instant::now();
    for _ in 0..n {
        client.call_tool(call()).await.unwrap();
    }
    let seq = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let per = n / 8;
    let peer = client.peer().clone();
    let mut joins = Vec::new();
    for _ in 0..8 {
        let p = peer.clone();
        joins.push(tokio::spawn(async move {
            for _ in 0..per {
                p.call_tool(CallToolRequestParams::new("get_selection"))
                    .await
                    .unwrap();
            }
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
    let conc = (per * 8) as f64 / t.elapsed().as_secs_f64();
    let _ = client.cancel().await;
    shutdown.cancel();

    let mcp_call = stats(mcp_call, 1e6);
    let own = stats(own, 1e6);
    let overhead = median(&mcp_call) - median(&own);
    json!({
        "tools_call_us": mcp_call,
        "tools_list_us": stats(mcp_list, 1e6),
        "dispatcher_call_us": stats(disp, 1e6),
        "adapter_own_us": own,
        "overhead_us": (overhead * 100.0).round() / 100.0,
        "calls_per_s_sequential": seq.round(),
        "calls_per_s_8_concurrent": conc.round(),
    })
}

// ---- bridges ---------------------------------------------------------------------------------

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_toy(toy: &Path, args: &[String]) -> Proc {
    Proc(
        Command::new("python3")
            .arg(toy)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs"),
    )
}

fn listening_toy(toy: &Path, mode: &str, dir: &Path) -> (Proc, u16) {
    let port_file = dir.join(format!("port{mode}"));
    let args: Vec<String> = vec![
        mode.into(),
        "127.0.0.1:0".into(),
        "--port-file".into(),
        port_file.display().to_string(),
    ];
    let p = spawn_toy(toy, &args);
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return (p, port);
        }
        assert!(Instant::now() < until, "the toy adapter did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(15);
    while !path.exists() {
        assert!(Instant::now() < until, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn bridge_case(hub: &DccHub, dcc: &str, n: usize) -> Value {
    let call = CallContext::new(Duration::from_secs(30));
    for _ in 0..50 {
        hub.call(Some(dcc), "scene.get_selection", json!({}), &call)
            .await
            .expect("get_selection");
    }
    let sel = time_async(n, || async {
        hub.call(Some(dcc), "scene.get_selection", json!({}), &call)
            .await
            .unwrap()
    })
    .await;
    let ping = time_async(n, || async {
        hub.call(Some(dcc), "dcc.ping", json!({}), &call)
            .await
            .unwrap()
    })
    .await;
    json!({"get_selection_us": stats(sel, 1e6), "ping_us": stats(ping, 1e6)})
}

async fn bridges(o: &Opts) -> Value {
    let n = if o.quick { 200 } else { 1000 };
    let mut out = serde_json::Map::new();
    let hub = DccHub::new(&Config::default(), CancellationToken::new()).unwrap();
    out.insert(
        "stage (in process)".into(),
        bridge_case(&hub, "stage", n).await,
    );
    let Some(toy) = &o.toy else {
        return Value::Object(out);
    };
    let dir = std::env::temp_dir().join(format!("stagecraft-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mk = |bridge, endpoint: Option<String>, command: Vec<String>| Config {
        dcc: vec![DccConfig {
            name: "toy".into(),
            bridge,
            endpoint,
            listen: false,
            token_env: None,
            token_file: None,
            command,
            timeout_seconds: 30,
        }],
        ..Config::default()
    };
    for kind in ["embedded", "http", "websocket", "named_pipe"] {
        let (_proc, config) = match kind {
            "embedded" => (
                None,
                mk(
                    BridgeKind::Embedded,
                    None,
                    vec![
                        "python3".into(),
                        toy.display().to_string(),
                        "--stdio".into(),
                    ],
                ),
            ),
            "http" => {
                let (p, port) = listening_toy(toy, "--http", &dir);
                let ep = format!("http://127.0.0.1:{port}/rpc");
                (Some(p), mk(BridgeKind::Http, Some(ep), vec![]))
            }
            "websocket" => {
                let (p, port) = listening_toy(toy, "--ws", &dir);
                let ep = format!("ws://127.0.0.1:{port}");
                (Some(p), mk(BridgeKind::Websocket, Some(ep), vec![]))
            }
            _ => {
                let path = dir.join("toy.sock");
                let _ = std::fs::remove_file(&path);
                let p = spawn_toy(toy, &["--pipe".into(), path.display().to_string()]);
                wait_for(&path);
                let ep = path.display().to_string();
                (Some(p), mk(BridgeKind::NamedPipe, Some(ep), vec![]))
            }
        };
        let hub = DccHub::new(&config, CancellationToken::new()).unwrap();
        out.insert(kind.into(), bridge_case(&hub, "toy", n).await);
        hub.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Value::Object(out)
}

// ---- glTF decode -----------------------------------------------------------------------------

/// The base64 payload of every data-URI buffer (outside the timed part).
fn payloads(doc: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(doc).unwrap();
    v["buffers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["uri"].as_str())
        .filter_map(|u| u.split_once(";base64,").map(|(_, p)| p.to_string()))
        .collect()
}

fn reps_for(bytes: usize, quick: bool) -> usize {
    let budget = if quick { 60_000_000 } else { 400_000_000 }; // bytes decoded per case
    (budget / bytes.max(1)).clamp(5, 2000)
}

fn decode(o: &Opts) -> Value {
    let Some(dir) = &o.docs else {
        return json!({"skipped": "no --docs"});
    };
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    let mut out = serde_json::Map::new();
    for case in manifest["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(case["file"].as_str().unwrap())).unwrap();
        let reps = reps_for(bytes.len(), o.quick);
        let take = stagecraft::motion::gltf::decode(&bytes).expect("decodes");
        let mut ts = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            std::hint::black_box(
                stagecraft::motion::gltf::decode(std::hint::black_box(&bytes)).unwrap(),
            );
            ts.push(t.elapsed().as_secs_f64());
        }
        // The floor: base64 → bytes, then one copy into f32s (what any decoder must at least do).
        let p = payloads(&bytes);
        let mut bound = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            for s in &p {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(std::hint::black_box(s.as_bytes()))
                    .unwrap();
                let floats: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                std::hint::black_box(floats);
            }
            bound.push(t.elapsed().as_secs_f64());
        }
        // Where the time goes: scanning the JSON text alone (no values kept).
        let mut scan = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let v: serde::de::IgnoredAny =
                serde_json::from_slice(std::hint::black_box(&bytes)).unwrap();
            std::hint::black_box(v);
            scan.push(t.elapsed().as_secs_f64());
        }
        let mb = bytes.len() as f64 / 1e6;
        let d = stats(ts, 1e3);
        let b = stats(bound, 1e3);
        out.insert(
            name.into(),
            json!({
                "bytes": bytes.len(),
                "samples": take.samples.len(),
                "frames": take.num_frames,
                "joints": take.skeleton.joints.len(),
                "decode_ms": d,
                "decode_mb_s": (mb / (median(&d) / 1e3) * 10.0).round() / 10.0,
                "bound_ms": b,
                "bound_mb_s": (mb / (median(&b) / 1e3) * 10.0).round() / 10.0,
                "json_scan_ms": stats(scan, 1e3),
            }),
        );
    }
    Value::Object(out)
}

// ---- generation end to end -------------------------------------------------------------------

async fn generate(o: &Opts) -> Value {
    use stagecraft::motion::{GenerateArgs, MotionHub};
    let n = if o.quick { 5 } else { 20 };
    let args = GenerateArgs {
        prompt: Some("a person walks forward and waves".into()),
        seconds: Some(10.0),
        seed: Some(7),
        ..GenerateArgs::default()
    };
    let opts = stagecraft::call::CallContext::new(Duration::from_secs(60));
    let mut out = serde_json::Map::new();

    let hub = MotionHub::new(&Config::default()).unwrap();
    let choice = hub.resolve(None, None).await.unwrap();
    let (request, _) = MotionHub::build_request(&choice, &args, None).unwrap();
    if let Some(dir) = &o.docs {
        std::fs::write(
            dir.join("request.json"),
            serde_json::to_vec(&request).unwrap(),
        )
        .unwrap();
    }
    hub.generate(&choice, &args, None, &opts).await.unwrap();
    let ts = time_async(n, || async {
        hub.generate(&choice, &args, None, &opts).await.unwrap()
    })
    .await;
    let g = hub.generate(&choice, &args, None, &opts).await.unwrap();
    out.insert(
        "in_process_ms".into(),
        json!({"model": choice.spec.id, "frames": g.take.num_frames, "joints": g.take.skeleton.joints.len(),
               "time": stats(ts, 1e3)}),
    );

    if let Some(url) = &o.motion_url {
        let config = Config::parse(
            &format!("[[motion.backends]]\nname = \"builtin-http\"\nurl = \"{url}\"\n"),
            Path::new("bench.toml"),
        )
        .unwrap();
        let hub = MotionHub::new(&config).unwrap();
        let choice = hub.resolve(Some("builtin-http"), None).await.unwrap();
        hub.generate(&choice, &args, None, &opts).await.unwrap();
        let ts = time_async(n, || async {
            hub.generate(&choice, &args, None, &opts).await.unwrap()
        })
        .await;
        out.insert(
            "http_ms".into(),
            json!({"model": choice.spec.id, "time": stats(ts, 1e3)}),
        );
    }
    Value::Object(out)
}

// ---- retargeting -------------------------------------------------------------------------------

/// The built-in skeleton plus eight leaf joints (head top, fingers, toe ends): 30 joints, as SOMA30.
fn thirty_joint_skeleton() -> stagecraft::motion::take::Skeleton {
    use stagecraft::motion::take::Joint;
    let mut sk = stagecraft::motion::procedural::standard_skeleton();
    for (name, parent, offset) in [
        ("HeadTop_End", "Head", [0.0, 0.18, 0.0]),
        ("LeftHandIndex1", "LeftHand", [0.09, 0.0, 0.02]),
        ("LeftHandThumb1", "LeftHand", [0.03, 0.0, 0.04]),
        ("RightHandIndex1", "RightHand", [-0.09, 0.0, 0.02]),
        ("RightHandThumb1", "RightHand", [-0.03, 0.0, 0.04]),
        ("LeftToe_End", "LeftToeBase", [0.0, 0.0, 0.06]),
        ("RightToe_End", "RightToeBase", [0.0, 0.0, 0.06]),
        ("Jaw", "Head", [0.0, 0.02, 0.08]),
    ] {
        let parent = sk.index_of(parent);
        sk.joints.push(Joint {
            name: name.into(),
            parent,
            rest_translation: offset,
            rest_rotation: [0.0, 0.0, 0.0, 1.0],
        });
    }
    sk
}

fn retarget(o: &Opts) -> Value {
    use glam::{Quat, Vec3};
    use stagecraft::motion::procedural::{self, Plan};
    use stagecraft::motion::retarget::{self, Options, Placement};
    let mut plan = Plan::text("a person walks forward", 60.0, 7);
    plan.skeleton = thirty_joint_skeleton();
    let take = procedural::generate(&plan).unwrap();
    let turn = Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
    let mut rig = take.skeleton.clone();
    for j in &mut rig.joints {
        j.name = format!("mixamorig:{}", j.name);
        let o = Vec3::from(j.rest_translation) * 1.1;
        j.rest_translation = if j.parent.is_some() {
            (turn * o).to_array()
        } else {
            o.to_array()
        };
    }
    let n = if o.quick { 10 } else { 40 };
    let once = || {
        let m = retarget::map(&take.skeleton, &rig, &Options::default()).unwrap();
        m.apply(&take, Placement::AtRig).unwrap()
    };
    once();
    let mut ts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(once());
        ts.push(t.elapsed().as_secs_f64());
    }
    json!({"joints": take.skeleton.joints.len(), "frames": take.num_frames, "samples": 1,
           "time_ms": stats(ts, 1e3)})
}

// ---- the built-in model alone --------------------------------------------------------------------

/// `procedural::generate` for 10 s at 30 fps (docs/builtin-model.md: "under 5 ms"): one action, and a
/// sentence the model splits into clauses and blends.
fn procedural(o: &Opts) -> Value {
    use stagecraft::motion::procedural::{self, Plan};
    let n = if o.quick { 10 } else { 40 };
    let mut out = serde_json::Map::new();
    for (key, prompt) in [
        ("one_action", "a person walks forward and waves"),
        (
            "five_clauses",
            "a tired man walks 3 metres, turns left, sits down, waves, then stands up",
        ),
    ] {
        let plan = Plan::text(prompt, 10.0, 7);
        let take = procedural::generate(&plan).unwrap();
        let mut ts = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            std::hint::black_box(procedural::generate(&plan).unwrap());
            ts.push(t.elapsed().as_secs_f64());
        }
        out.insert(
            key.into(),
            json!({"prompt": prompt, "frames": take.num_frames, "joints": take.skeleton.joints.len(),
                   "time_ms": stats(ts, 1e3)}),
        );
    }
    Value::Object(out)
}

fn main() {
    let o = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let want = |s: &str| {
        o.only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|x| x == s))
    };
    let mut out = serde_json::Map::new();
    if want("startup") {
        out.insert("startup".into(), startup(&o));
    }
    if want("overhead") {
        out.insert("overhead".into(), rt.block_on(overhead(&o)));
    }
    if want("decode") {
        out.insert("decode".into(), decode(&o));
    }
    if want("generate") {
        out.insert("generate".into(), rt.block_on(generate(&o)));
    }
    if want("retarget") {
        out.insert("retarget".into(), retarget(&o));
    }
    if want("procedural") {
        out.insert("procedural".into(), procedural(&o));
    }
    if want("bridges") {
        out.insert("bridges".into(), rt.block_on(bridges(&o)));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(out)).unwrap()
    );
    rt.shutdown_timeout(Duration::from_secs(2));
}
