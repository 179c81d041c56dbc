//! DCC tools are gated on the methods the DCC lists in its hello, not on a skill's capabilities:
//! a read-only DCC that reports `scene_manager: false` but lists `scene.get_scene_info` and
//! `scene.list_objects` serves those two tools, and only those.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use stagecraft::config::{BridgeKind, Config, DccConfig};
use stagecraft::dispatch::Dispatcher;
use tokio_util::sync::CancellationToken;

mod common;
use common::{call_tool, ctx};

/// A dispatcher whose only DCC is tests/fixtures/adapters/scene_info_only.py, started embedded.
fn dispatcher() -> Dispatcher {
    let adapter = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/adapters/scene_info_only.py");
    let config = Config {
        dcc: vec![DccConfig {
            name: "viewer".into(),
            bridge: BridgeKind::Embedded,
            endpoint: None,
            listen: false,
            token_env: None,
            token_file: None,
            command: vec!["python3".into(), adapter.display().to_string()],
            timeout_seconds: 30,
        }],
        ..Config::default()
    };
    Dispatcher::new(Arc::new(config), CancellationToken::new()).expect("dispatcher")
}

#[tokio::test]
async fn tools_follow_the_listed_methods_not_the_skill_capability() {
    let d = dispatcher();
    let info_tool = call_tool("scene.get_scene_info");
    assert!(
        info_tool.requires.contains(&"scene_manager".to_string()),
        "the scene skill requires scene_manager, which this DCC reports as false"
    );
    // Twice: the first call says hello, the second is gated on what the hello reported.
    for _ in 0..2 {
        let info = d
            .call(&info_tool, json!({"dcc": "viewer"}), &ctx())
            .await
            .expect("get_scene_info on a DCC that lists it");
        assert_eq!(info.structured["name"], "probe");
        let objects = d
            .call(&call_tool("scene.list_objects"), json!({}), &ctx())
            .await
            .expect("list_objects on a DCC that lists it");
        assert_eq!(objects.structured["result"][0]["name"], "Probe");
    }
    // A method the DCC does not list is refused before it is sent, naming the method.
    let err = d
        .call(
            &call_tool("scene.create_object"),
            json!({"object_type": "empty", "name": "X"}),
            &ctx(),
        )
        .await
        .expect_err("create_object is not listed");
    assert_eq!(err.code, "unsupported", "{err:?}");
    assert_eq!(err.details["method"], "scene.create_object");
    let err = d
        .call(
            &call_tool("transform.get_transform"),
            json!({"object_name": "Probe"}),
            &ctx(),
        )
        .await
        .expect_err("get_transform is not listed");
    assert_eq!(err.code, "unsupported", "{err:?}");
    d.shutdown().await;
}
