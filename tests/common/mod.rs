//! Helpers shared by the integration tests (each test binary uses some of them).
#![allow(dead_code)]

use std::path::PathBuf;

pub mod stage;

/// The example toy adapter (examples/adapter), the small real DCC adapter the bridge tests run.
pub fn toy() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/adapter/toy_adapter.py")
        .display()
        .to_string()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

/// File descriptors this test process holds open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// This test process's resident memory, KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The shipped tool bound to `method` (`call: method` in its SKILL.md).
pub fn call_tool(method: &str) -> stagecraft::skills::ToolSpec {
    let registry = stagecraft::dispatch::shipped_registry(true);
    registry
        .tools
        .values()
        .find(|t| t.binding == stagecraft::skills::Binding::Call(method.into()))
        .map(|t| t.as_ref().clone())
        .unwrap_or_else(|| panic!("no shipped tool calls {method}"))
}

/// A call context with a generous deadline for a loaded CI machine.
pub fn ctx() -> stagecraft::call::CallContext {
    stagecraft::call::CallContext::new(std::time::Duration::from_secs(30))
}
