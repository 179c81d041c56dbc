//! Scripts: `script.execute`.

use serde_json::json;

use super::suite::{Suite, fail};
use crate::dcc::types::*;

pub(super) async fn check_scripts(s: &mut Suite<'_>, hello: &Hello) {
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
