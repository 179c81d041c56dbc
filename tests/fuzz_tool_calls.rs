//! Property-based fuzzing of tool calls past validation: arguments generated from each shipped
//! tool's own `input_schema` (extreme numbers within its bounds, hostile strings and paths, long
//! names, arrays at their size limits), validated the way the server does, and the valid ones
//! dispatched for real against the built-in stage DCC and the built-in motion models.
//!
//! What `tests/fuzz_inputs.rs` checks for validation, this checks for execution: no panic, every
//! call ends within its deadline with a result or a coded error, files land only inside
//! `[files] roots`, and the server state stays usable (a fixed probe call works after every case).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use stagecraft::call::CallContext;
use stagecraft::config::Config;
use stagecraft::dispatch::Dispatcher;
use stagecraft::skills::{Binding, ToolSpec};
use tokio_util::sync::CancellationToken;

struct World {
    rt: tokio::runtime::Runtime,
    dispatcher: Dispatcher,
    tools: Vec<Arc<ToolSpec>>,
    root: tempfile::TempDir,
    outside: tempfile::TempDir,
    take_id: String,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("tmp");
    let toml = format!("[files]\nroots = [\"{}\"]\n", root.path().display());
    let config =
        Config::parse(&toml, std::path::Path::new("/tmp/stagecraft.toml")).expect("config");
    let dispatcher = rt.block_on(async {
        Dispatcher::new(Arc::new(config), CancellationToken::new()).expect("dispatcher")
    });
    let registry = stagecraft::dispatch::shipped_registry(false);
    let tools: Vec<Arc<ToolSpec>> = registry
        .tools
        .values()
        .filter(|t| matches!(&t.binding, Binding::Call(m) if m != "script.execute"))
        .cloned()
        .collect();
    let call = |name: &str, args: Value| {
        let tool = registry.tools.get(name).expect("shipped tool").clone();
        rt.block_on(dispatcher.call(&tool, args, &CallContext::new(Duration::from_secs(30))))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    };
    call(
        "create_object",
        json!({"object_type": "cube", "name": "Cube"}),
    );
    call(
        "create_object",
        json!({"object_type": "armature", "name": "Armature"}),
    );
    let take = call("generate_motion", json!({"prompt": "walk", "seconds": 0.5}));
    let take_id = take.structured["take_id"]
        .as_str()
        .expect("take")
        .to_string();
    World {
        rt,
        dispatcher,
        tools,
        root,
        outside,
        take_id,
    }
});

/// A tiny deterministic generator: values are drawn from a seed proptest shrinks.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn strings(world: &World) -> Vec<String> {
    let root = world.root.path().display().to_string();
    let outside = world.outside.path().display().to_string();
    vec![
        String::new(),
        "Cube".into(),
        "Armature".into(),
        "Hips".into(),
        world.take_id.clone(),
        "x".repeat(10_000),
        "名前🙂\u{0}\u{202e}".into(),
        "../../etc/passwd".into(),
        "/dev/zero.glb".into(),
        "/proc/self/mem".into(),
        format!("{root}/out.glb"),
        format!("{root}/out.gltf"),
        format!("{root}/render.png"),
        format!("{root}/sub/../out.glb"),
        format!("{outside}/escape.glb"),
        format!("{root}/../escape.glb"),
        "a person walks, then jumps and waves".into(),
        "null".into(),
    ]
}

fn number(g: &mut Gen, schema: &Value, integer: bool) -> Value {
    let min = schema.get("minimum").and_then(Value::as_f64);
    let max = schema.get("maximum").and_then(Value::as_f64);
    let lo = min.unwrap_or(-1e12);
    let hi = max.unwrap_or(1e12);
    let candidates = [
        lo,
        hi,
        0.0,
        1.0,
        -1.0,
        (lo + hi) / 2.0,
        lo + (hi - lo) * (g.below(1000) as f64 / 1000.0),
        1e308,
        -1e308,
        1e-320,
        f64::from(u32::MAX),
    ];
    let mut v = candidates[g.below(candidates.len())];
    // Mostly inside the schema's bounds, so that most calls get past validation.
    if g.chance(95) {
        v = v.clamp(lo, hi);
    }
    if integer {
        json!(v.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    } else {
        json!(v)
    }
}

fn value(g: &mut Gen, schema: &Value, depth: usize, pool: &[String]) -> Value {
    if let Some(c) = schema.get("const")
        && g.chance(95)
    {
        return c.clone();
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && g.chance(90)
    {
        return options[g.below(options.len())].clone();
    }
    if let Some(one_of) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let pick = g.below(one_of.len());
        return value(g, &one_of[pick], depth, pool);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts[g.below(ts.len())].as_str().unwrap_or("null").to_string(),
        _ => ["string", "number", "object", "array"][g.below(4)].to_string(),
    };
    match ty.as_str() {
        "number" => number(g, schema, false),
        "integer" => number(g, schema, true),
        "boolean" => json!(g.chance(50)),
        "null" => Value::Null,
        "string" => json!(pool[g.below(pool.len())]),
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .map_or(min + 4, |m| m as usize);
            let n = if g.chance(20) {
                [min, max, 0][g.below(3)]
            } else {
                min + g.below(max - min + 1)
            };
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array(
                (0..n.min(64))
                    .map(|_| value(g, &items, depth + 1, pool))
                    .collect(),
            )
        }
        _ if depth > 3 => json!({}),
        _ => object(g, schema, depth + 1, pool),
    }
}

fn object(g: &mut Gen, schema: &Value, depth: usize, pool: &[String]) -> Value {
    let mut out = Map::new();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if name == "dcc" {
                continue; // the default connection (the stage DCC)
            }
            if required.contains(&name.as_str()) || g.chance(50) {
                out.insert(name.clone(), value(g, prop, depth, pool));
            }
        }
    }
    Value::Object(out)
}

fn written_outside(world: &World) -> Vec<String> {
    std::fs::read_dir(world.outside.path())
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400)
}

/// The cases the schema-driven generator must get past validation: below this the test would
/// mostly check the validator, which `tests/fuzz_inputs.rs` already does.
fn min_dispatched(cases: u32) -> u32 {
    cases / 2
}

#[test]
fn valid_arguments_of_every_shipped_tool_run_cleanly() {
    let world = &*WORLD;
    let cases = cases();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let dispatched = AtomicU32::new(0);
    let outcome = runner.run(&(any::<usize>(), any::<u64>()), |(which, seed)| {
        let tool = world.tools[which % world.tools.len()].clone();
        let mut g = Gen(seed);
        let pool = strings(world);
        let schema = Value::Object(tool.input_schema.as_ref().clone());
        let args = object(&mut g, &schema, 0, &pool);
        if tool.validate(&args).is_err() {
            return Ok(()); // the server answers invalid_arguments before dispatching
        }
        dispatched.fetch_add(1, Ordering::Relaxed);
        let deadline = Duration::from_secs(20);
        let t0 = Instant::now();
        let result = world.rt.block_on(async {
            tokio::time::timeout(
                deadline + Duration::from_secs(5),
                world
                    .dispatcher
                    .call(&tool, args.clone(), &CallContext::new(deadline)),
            )
            .await
        });
        let took = t0.elapsed();
        prop_assert!(
            result.is_ok(),
            "{} {args} did not end within its deadline ({took:?})",
            tool.name
        );
        if let Ok(Err(e)) = &result {
            prop_assert!(
                !e.code.as_str().is_empty() && !e.message.is_empty(),
                "{} {args}: {e:?}",
                tool.name
            );
        }
        prop_assert!(
            written_outside(world).is_empty(),
            "{} {args} wrote outside the roots",
            tool.name
        );
        // The server is still usable.
        let probe = world
            .tools
            .iter()
            .find(|t| t.name == "get_scene_info")
            .expect("probe")
            .clone();
        let ok = world.rt.block_on(world.dispatcher.call(
            &probe,
            json!({}),
            &CallContext::new(Duration::from_secs(10)),
        ));
        prop_assert!(ok.is_ok(), "after {} {args}: {ok:?}", tool.name);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let dispatched = dispatched.into_inner();
    eprintln!("{dispatched} of {cases} generated calls were valid and dispatched");
    assert!(
        dispatched >= min_dispatched(cases),
        "only {dispatched} of {cases} generated calls passed validation and were dispatched"
    );
}
