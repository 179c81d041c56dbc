//! DCC tools through the dispatcher: results as structured content (and images), failures as
//! tool errors with a code, a hint and details; scripts refused unless allowed; file roots.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use stagecraft::config::{BridgeKind, Config, DccConfig};
use stagecraft::dispatch::Dispatcher;
use stagecraft::skills::{Binding, ToolSpec};
use tokio_util::sync::CancellationToken;

mod common;
use common::{call_tool, ctx, toy};

/// A tool with this name and binding, shaped like the shipped ones (for script bindings).
fn tool(name: &str, binding: Binding) -> ToolSpec {
    let registry = stagecraft::dispatch::shipped_registry(true);
    let mut spec = registry.tools["get_selection"].as_ref().clone();
    spec.name = name.into();
    spec.binding = binding;
    spec
}

#[tokio::test]
async fn stage_tools_through_the_dispatcher() {
    let d = Dispatcher::new(Arc::new(Config::default()), CancellationToken::new()).unwrap();
    let list = d
        .call(&call_tool("dcc.list_connections"), json!({}), &ctx())
        .await
        .unwrap();
    assert_eq!(list.structured["default"], "stage");
    assert_eq!(list.structured["connections"][0]["state"], "connected");
    assert_eq!(
        list.structured["connections"][0]["info"]["dcc_type"],
        "stage"
    );

    let made = d
        .call(
            &call_tool("scene.create_object"),
            json!({"object_type": "cube", "name": "Box", "dcc": "stage"}),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(made.structured["name"], "Box");
    // Arrays come back under `result`: structured content is always an object.
    let sel = d
        .call(
            &call_tool("scene.set_selection"),
            json!({"object_names": ["Box"]}),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(sel.structured, json!({"result": ["Box"]}));

    let err = d
        .call(
            &call_tool("transform.get_transform"),
            json!({"object_name": "Ghost"}),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "scene_error");
    assert!(err.hint.as_deref().unwrap().contains("list_objects"));
    assert_eq!(err.details["method"], "transform.get_transform");

    let err = d
        .call(
            &call_tool("scene.list_objects"),
            json!({"dcc": "maya"}),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "no_dcc");
    assert_eq!(err.details["details"]["available"], json!(["stage"]));

    let cap = d
        .call(
            &call_tool("render.capture_viewport"),
            json!({"width": 32, "height": 24}),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(cap.images.len(), 1);
    assert_eq!(cap.images[0].mime_type, "image/png");
    assert_eq!(cap.structured["width"], 32);
    assert!(cap.structured.get("data_b64").is_none());

    let err = d
        .call(
            &tool("execute_script", Binding::Call("script.execute".into())),
            json!({"language": "python", "code": "result = 1"}),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "scripts_disabled");
    let script = tool(
        "make_rig",
        Binding::Script {
            path: "scripts/rig.py".into(),
            language: "python".into(),
        },
    );
    let err = d.call(&script, json!({}), &ctx()).await.unwrap_err();
    assert_eq!(err.code, "scripts_disabled");
}

#[tokio::test]
async fn scripts_run_in_the_dcc_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let script_path = dir.path().join("double.py");
    std::fs::write(
        &script_path,
        "print('doubling')\nresult = {'twice': args['n'] * 2}\n",
    )
    .unwrap();
    let failing = dir.path().join("fail.py");
    std::fs::write(&failing, "raise ValueError('nope')\n").unwrap();
    let mut config = Config {
        dcc: vec![DccConfig {
            name: "toy".into(),
            bridge: BridgeKind::Embedded,
            endpoint: None,
            listen: false,
            token_env: None,
            token_file: None,
            command: vec![
                "python3".into(),
                toy(),
                "--stdio".into(),
                "--scripts".into(),
            ],
            timeout_seconds: 30,
        }],
        ..Config::default()
    };
    config.skills.allow_scripts = true;
    let d = Dispatcher::new(Arc::new(config), CancellationToken::new()).unwrap();
    let script = tool(
        "double",
        Binding::Script {
            path: script_path.clone(),
            language: "python".into(),
        },
    );
    let out = d
        .call(&script, json!({"n": 21, "dcc": "toy"}), &ctx())
        .await
        .unwrap();
    assert_eq!(out.structured["success"], true);
    assert_eq!(out.structured["result"], json!({"twice": 42}));
    assert!(
        out.structured["output"]
            .as_str()
            .unwrap()
            .contains("doubling")
    );
    let bad = tool(
        "fail",
        Binding::Script {
            path: failing,
            language: "python".into(),
        },
    );
    let err = d.call(&bad, json!({}), &ctx()).await.unwrap_err();
    assert_eq!(err.code, "script_error");
    assert!(err.message.contains("nope"), "{err:?}");
    let exec = tool("execute_script", Binding::Call("script.execute".into()));
    let out = d
        .call(
            &exec,
            json!({"language": "python", "code": "result = args['a'] + 1", "args": {"a": 1}}),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(out.structured["result"], json!(2));
    d.shutdown().await;
}

#[tokio::test]
async fn file_roots_limit_where_files_go() {
    let root = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.files.roots = vec![root.path().to_path_buf()];
    let d = Dispatcher::new(Arc::new(config), CancellationToken::new()).unwrap();
    let inside = root.path().join("scene.glb");
    let out = d
        .call(
            &call_tool("scene.save_file"),
            json!({"file_path": inside.to_str().unwrap()}),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(out.structured["result"], json!(inside.to_str().unwrap()));
    let sneaky = format!("{}/../escaped.glb", root.path().display());
    let err = d
        .call(
            &call_tool("scene.save_file"),
            json!({"file_path": sneaky}),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "permission_denied");
    assert_eq!(err.details["argument"], "file_path");
    let err = d
        .call(
            &call_tool("render.render_scene"),
            json!({"output_path": "/etc/x.png"}),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "permission_denied");
    let _: Value = out.structured;
}

#[tokio::test]
async fn required_capabilities_the_dcc_lacks_are_unsupported_for_scripts() {
    let mut config = Config::default();
    config.skills.allow_scripts = true;
    let d = Dispatcher::new(Arc::new(config), CancellationToken::new()).unwrap();
    let mut needs_python = tool(
        "needs_python",
        Binding::Script {
            path: PathBuf::from("/nonexistent/never_read.py"),
            language: "python".into(),
        },
    );
    needs_python.requires = vec!["has_embedded_python".into()];
    let err = d.call(&needs_python, json!({}), &ctx()).await.unwrap_err();
    assert_eq!(err.code, "unsupported");
    assert_eq!(
        err.details["missing_capabilities"],
        json!(["has_embedded_python"])
    );
    // A `call:` tool is gated on its method alone (tests/dcc_gating.rs): stage lists it, so the
    // skill's `requires` does not matter.
    let mut listed = call_tool("scene.get_selection");
    listed.requires = vec!["has_embedded_python".into()];
    assert!(d.call(&listed, json!({}), &ctx()).await.is_ok());
}
