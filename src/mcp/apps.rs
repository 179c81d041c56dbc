//! MCP Apps (the `io.modelcontextprotocol/ui` extension, spec 2026-01-26): the interactive views
//! stagecraft serves as `ui://` resources, and the `_meta` that ties a tool to its view
//! (docs/viewer.md). A tool names its view with `ui_resource` in its SKILL.md
//! (docs/skills.md#tool-level-keys).
//!
//! The views are single self-contained HTML files compiled into the binary: hosts load them under
//! a CSP that allows no network, so everything they need is inline, and the data comes from the
//! tool result and from `resources/read` through the host.

use rmcp::model::{MetaObject, ReadResourceResult, Resource, ResourceContents};
use serde_json::{Map, Value, json};

/// The MIME type MCP Apps requires of an HTML view.
pub const APP_MIME_TYPE: &str = "text/html;profile=mcp-app";

/// One view.
pub struct App {
    pub uri: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub html: &'static str,
}

/// Every view stagecraft serves.
pub const APPS: &[App] = &[App {
    uri: "ui://stagecraft/take-viewer",
    name: "take-viewer",
    description: "Interactive 3D viewer of a motion take: play, scrub, compare samples, apply to a rig, save as .glb",
    html: include_str!("apps/take_viewer.html"),
}];

pub fn find(uri: &str) -> Option<&'static App> {
    APPS.iter().find(|app| app.uri == uri)
}

/// The views, for `resources/list`.
pub fn resources() -> impl Iterator<Item = Resource> {
    APPS.iter().map(|app| {
        Resource::new(app.uri, app.name)
            .with_description(app.description)
            .with_mime_type(APP_MIME_TYPE)
            .with_size(app.html.len() as u64)
    })
}

/// `resources/read` of a view. No `csp` is declared: the host's restrictive default (no network,
/// inline scripts and styles only) is all a view needs.
pub fn read(app: &App) -> ReadResourceResult {
    let meta = json!({"ui": {"prefersBorder": true}});
    ReadResourceResult::new(vec![
        ResourceContents::text(app.html, app.uri)
            .with_mime_type(APP_MIME_TYPE)
            .with_meta(meta_object(meta)),
    ])
}

/// A tool's `_meta` naming its view. The flat `ui/resourceUri` key is the spec's deprecated form,
/// still read by hosts built before it settled; both cost no model context (only the name,
/// description and schema of a tool reach the model).
pub fn tool_meta(uri: &str) -> MetaObject {
    meta_object(json!({"ui": {"resourceUri": uri}, "ui/resourceUri": uri}))
}

fn meta_object(value: Value) -> MetaObject {
    match value {
        Value::Object(map) => MetaObject(map),
        _ => MetaObject(Map::new()),
    }
}

/// `take://<take_id>/positions/<sample>`: one sample's joint positions for the take viewer.
pub fn parse_positions_uri(uri: &str) -> Option<(&str, usize)> {
    let rest = uri.strip_prefix("take://")?;
    let (id, sample) = rest.split_once("/positions/")?;
    Some((id, sample.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_uris() {
        assert_eq!(
            parse_positions_uri("take://take_1a2b3c4d/positions/3"),
            Some(("take_1a2b3c4d", 3))
        );
        assert_eq!(parse_positions_uri("take://take_1a2b3c4d"), None);
        assert_eq!(parse_positions_uri("take://t/positions/x"), None);
        assert_eq!(parse_positions_uri("take://t/positions/-1"), None);
    }

    /// Hosts refuse more than the spec's budget, and a CSP without network rules out anything
    /// that is fetched: the view must be whole and small.
    #[test]
    fn views_are_self_contained_html_under_1_5_mb() {
        for app in APPS {
            assert!(app.uri.starts_with("ui://"));
            assert!(app.html.len() <= 1_500_000, "{} bytes", app.html.len());
            assert!(app.html.trim_start().starts_with("<!DOCTYPE html>"));
            for fetched in [
                "src=\"http",
                "href=\"http",
                "<link",
                "fetch(",
                "eval(",
                "new Function",
            ] {
                assert!(!app.html.contains(fetched), "{} uses {fetched}", app.uri);
            }
        }
    }

    /// Every `ui_resource` a shipped tool names is a view served here.
    #[test]
    fn shipped_tools_name_served_views() {
        let registry = crate::dispatch::shipped_registry(true);
        let with_views: Vec<&str> = registry
            .tools
            .values()
            .filter_map(|t| {
                let uri = t.ui_resource.as_deref()?;
                assert!(find(uri).is_some(), "{} names {uri}", t.name);
                Some(t.name.as_str())
            })
            .collect();
        for tool in ["generate_motion", "preview_motion", "apply_motion"] {
            assert!(with_views.contains(&tool), "{tool} has no view");
        }
    }
}
