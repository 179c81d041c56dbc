//! Render: viewport captures and renders.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::files::scratch_path;
use super::suite::{Suite, fail};
use crate::dcc::types::*;

pub(super) async fn check_render(s: &mut Suite<'_>) {
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
