//! The real `stagecraft serve` binary driven by rmcp's own client over stdio.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Watcher {
    changed: Arc<Notify>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }
}

async fn start(
    skills: &Path,
    config: &Path,
    watcher: Watcher,
) -> RunningService<RoleClient, Watcher> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"));
    command
        .arg("serve")
        .arg("--skills")
        .arg(skills)
        .arg("--log-level")
        .arg("warn")
        // An empty config file: the test must not pick up a developer's own config.
        .env("STAGECRAFT_CONFIG", config)
        .kill_on_drop(true);
    let transport = TokioChildProcess::new(command).expect("spawn stagecraft");
    watcher.serve(transport).await.expect("MCP handshake")
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn write_skill(dir: &Path, name: &str, tool: &str, description: &str) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(
        folder.join("SKILL.md"),
        format!(
            "---\nname: {name}\ndescription: {description}\ntools:\n  - name: {tool}\n    description: {description}\n    input_schema:\n      type: object\n      additionalProperties: false\n      properties:\n        object_type: {{type: string}}\n    call: scene.list_objects\n    read_only: true\n---\n# {name}\nUse {tool} to list objects.\n"
        ),
    )
    .expect("write SKILL.md");
}

#[tokio::test]
async fn lists_calls_validates_reads_and_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("stagecraft.toml");
    std::fs::write(&config, "").expect("config");
    let skills = dir.path().join("skills");
    std::fs::create_dir_all(&skills).expect("mkdir");
    let watcher = Watcher::default();
    let client = start(&skills, &config, watcher.clone()).await;

    // Every shipped tool is listed, in name order.
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "list_dccs",
        "get_transform",
        "generate_motion",
        "capture_viewport",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "tools/list order must be stable (by name)");
    // Scripts are off by default: execute_script is hidden.
    assert!(!names.contains(&"execute_script"));

    // A wrong argument type is a tool error that names the field.
    let result = client
        .call_tool(
            CallToolRequestParams::new("set_transform").with_arguments(args(
                json!({"object_name": "Cube", "translate": [1, 2, "three"]}),
            )),
        )
        .await
        .expect("tools/call");
    assert_eq!(result.is_error, Some(true));
    let structured = result.structured_content.expect("structured error");
    assert_eq!(structured["code"], "invalid_arguments");
    assert_eq!(structured["details"]["errors"][0]["field"], "translate[2]");

    // A real call to the built-in stage DCC.
    let result = client
        .call_tool(CallToolRequestParams::new("get_scene_info").with_arguments(args(json!({}))))
        .await
        .expect("tools/call");
    assert_ne!(result.is_error, Some(true), "{result:?}");

    // An unknown tool is a JSON-RPC error.
    let err = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool");
    assert!(
        err.to_string().contains("-32602") || err.to_string().contains("unknown tool"),
        "{err}"
    );

    // Skill bodies are resources.
    let resource = client
        .read_resource(ReadResourceRequestParams::new("skill://transform/SKILL.md"))
        .await
        .expect("resources/read");
    let text = serde_json::to_value(&resource.contents[0]).expect("json");
    assert!(
        text["text"]
            .as_str()
            .unwrap_or("")
            .contains("set_transform")
    );

    // Hot reload: add, change, remove a skill on disk; each time list_changed arrives.
    write_skill(&skills, "my-tools", "my_list", "first version");
    expect_change(&watcher).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let mine = tools
        .iter()
        .find(|t| t.name == "my_list")
        .expect("new tool listed");
    assert_eq!(mine.description.as_deref(), Some("first version"));

    write_skill(&skills, "my-tools", "my_list", "second version");
    expect_change(&watcher).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let mine = tools
        .iter()
        .find(|t| t.name == "my_list")
        .expect("tool still listed");
    assert_eq!(mine.description.as_deref(), Some("second version"));

    std::fs::remove_dir_all(skills.join("my-tools")).expect("rm");
    expect_change(&watcher).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(!tools.iter().any(|t| t.name == "my_list"));

    client.cancel().await.expect("close");
}

async fn expect_change(watcher: &Watcher) {
    tokio::time::timeout(Duration::from_secs(10), watcher.changed.notified())
        .await
        .expect("notifications/tools/list_changed within 10 s");
}
