//! Races in the MCP layer, driven through the real `StagecraftServer` over in-memory byte pipes
//! (the same transport code as stdio): a client that subscribes while a broadcast is under way,
//! and a tool call that outlives its deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio_util::sync::CancellationToken;

use stagecraft::config::Config;
use stagecraft::dispatch::{self, Dispatcher};
use stagecraft::mcp::StagecraftServer;
use stagecraft::skills::{SharedRegistry, SkillSources};

/// Generous for a loaded 2-core machine; only reached when the server is wrong.
const PATIENCE: Duration = Duration::from_secs(20);

fn write_skill(dir: &Path, tool: &str) {
    let folder = dir.join("probe");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(
        folder.join("SKILL.md"),
        format!(
            "---\nname: probe\ndescription: A probe skill.\ntools:\n  - name: {tool}\n    description: Lists objects.\n    input_schema:\n      type: object\n      additionalProperties: false\n    call: scene.list_objects\n    read_only: true\n---\n# probe\nUse {tool}.\n"
        ),
    )
    .expect("write SKILL.md");
}

fn server_with(
    config: Config,
    skills: &Path,
    shutdown: &CancellationToken,
) -> (StagecraftServer, SharedRegistry) {
    let registry = SharedRegistry::load(
        SkillSources {
            builtin: false,
            paths: vec![skills.to_path_buf()],
            allow_scripts: false,
        },
        dispatch::binding_rules(),
    );
    let dispatcher = Dispatcher::new(Arc::new(config), shutdown.clone()).expect("dispatcher");
    let server = StagecraftServer::new(registry.clone(), Arc::new(dispatcher));
    server.spawn_change_notifier(shutdown.clone());
    (server, registry)
}

/// One client connection: the server side is served in a task; the client side is returned. A
/// small `buffer` lets a client that stops reading hold up the server's writes to it.
fn connect(server: &StagecraftServer, buffer: usize) -> DuplexStream {
    let (client, server_end) = tokio::io::duplex(buffer);
    let server = server.clone();
    tokio::spawn(async move {
        let (read, write) = tokio::io::split(server_end);
        if let Ok(running) = server.serve((read, write)).await {
            let _ = running.waiting().await;
        }
    });
    client
}

async fn send(client: &mut (impl AsyncWriteExt + Unpin), message: Value) {
    let mut line = message.to_string();
    line.push('\n');
    client
        .write_all(line.as_bytes())
        .await
        .expect("write to server");
}

/// Reads messages until one satisfies `wanted`, within PATIENCE.
async fn read_until(
    lines: &mut (impl AsyncBufReadExt + Unpin),
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    tokio::time::timeout(PATIENCE, next_message(lines, what, wanted))
        .await
        .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
}

async fn next_message(
    lines: &mut (impl AsyncBufReadExt + Unpin),
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines.read_line(&mut line).await.expect("read from server");
        assert!(
            n > 0,
            "the server closed the connection while waiting for {what}"
        );
        if let Ok(message) = serde_json::from_str::<Value>(&line)
            && wanted(&message)
        {
            return message;
        }
    }
}

/// A 2026-07-28 `subscriptions/listen` for list changes.
fn listen_request(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "subscriptions/listen",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
            "notifications": {"toolsListChanged": true, "resourcesListChanged": true},
        },
    })
}

fn method_is(message: &Value, method: &str) -> bool {
    message["method"] == method
}

/// Changes the tool list (a new tool each time) until `subscriber` is told, within PATIENCE.
/// rmcp acknowledges a subscription just before our handler records it, so a change made right
/// after the acknowledgment may come too early for it; a subscription that is never recorded is
/// never told, and this fails.
async fn change_until_told(
    skills: &Path,
    registry: &SharedRegistry,
    changes: &mut u32,
    subscriber: &mut (impl AsyncBufReadExt + Unpin),
) {
    let started = tokio::time::Instant::now();
    while started.elapsed() < PATIENCE {
        *changes += 1;
        write_skill(skills, &format!("probe_{changes}"));
        assert!(registry.reload(), "the tool list changed");
        let told = next_message(subscriber, "list_changed", |m| {
            method_is(m, "notifications/tools/list_changed")
        });
        if tokio::time::timeout(Duration::from_secs(1), told)
            .await
            .is_ok()
        {
            // The resource list change follows; read it so that this broadcast is over.
            read_until(subscriber, "notifications/resources/list_changed", |m| {
                method_is(m, "notifications/resources/list_changed")
            })
            .await;
            return;
        }
    }
    panic!("the subscriber was not told of {changes} changes in {PATIENCE:?}");
}

/// A client that subscribes while list_changed is being sent to another, slow, subscriber must
/// still be told about the next change (the broadcast used to overwrite the list of subscribers
/// with the ones it had started with).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_made_during_a_broadcast_gets_the_next_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_skill(dir.path(), "probe_one");
    let shutdown = CancellationToken::new();
    let (server, registry) = server_with(Config::default(), dir.path(), &shutdown);

    let mut changes = 1;

    // The slow subscriber: its pipe holds 16 bytes, and it stops reading once it has seen that
    // its subscription works.
    let slow = connect(&server, 16);
    let (slow_read, mut slow_write) = tokio::io::split(slow);
    let mut slow_read = BufReader::new(slow_read);
    send(&mut slow_write, listen_request(1)).await;
    read_until(
        &mut slow_read,
        "the slow subscription's acknowledgment",
        |m| method_is(m, "notifications/subscriptions/acknowledged"),
    )
    .await;
    change_until_told(dir.path(), &registry, &mut changes, &mut slow_read).await;

    // A change: the broadcast starts writing to the slow subscriber and is held up there.
    write_skill(dir.path(), "probe_held_up");
    assert!(registry.reload(), "the tool list changed");
    let mut first_bytes = [0u8; 8];
    tokio::time::timeout(PATIENCE, slow_read.read_exact(&mut first_bytes))
        .await
        .expect("the broadcast reached the slow subscriber")
        .expect("read");

    // Meanwhile another client subscribes.
    let fresh = connect(&server, 64 * 1024);
    let (fresh_read, mut fresh_write) = tokio::io::split(fresh);
    let mut fresh_read = BufReader::new(fresh_read);
    send(&mut fresh_write, listen_request(2)).await;
    read_until(
        &mut fresh_read,
        "the new subscription's acknowledgment",
        |m| method_is(m, "notifications/subscriptions/acknowledged"),
    )
    .await;
    // Let the handler record the subscription while the broadcast is still held up, which is the
    // race under test. (How long this takes cannot make a correct server fail, see below.)
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The slow subscriber goes away; the held-up broadcast finishes.
    drop(slow_read);
    drop(slow_write);

    // Later changes reach the client that subscribed during the broadcast.
    change_until_told(dir.path(), &registry, &mut changes, &mut fresh_read).await;
    shutdown.cancel();
}
