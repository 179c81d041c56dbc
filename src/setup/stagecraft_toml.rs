//! The `[[dcc]]` entry setup writes into stagecraft's own config, edited in place (comments,
//! order and the other entries stay as they are).

use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::Config;

/// The connection setup configures, and the add-on starts by itself when it finds the token
/// file (adapters/blender/stagecraft_blender/panel.py).
pub const DCC_NAME: &str = "blender";
pub const BLENDER_ENDPOINT: &str = "ws://127.0.0.1:9876";

#[derive(Debug)]
pub enum TomlPlan {
    Write {
        before: Option<String>,
        after: String,
    },
    Unchanged,
    /// Left as it is, with the reason.
    Refused(String),
}

/// Adds (or, with `remove`, takes out) the `[[dcc]]` entry named "blender" that reads the
/// bridge token from `token_file`. An entry of that name that setup did not write (another
/// token, another bridge) is the user's, and stays.
pub fn plan(path: &Path, text: Option<&str>, token_file: &Path, remove: bool) -> TomlPlan {
    let mut doc = match text.unwrap_or("").parse::<DocumentMut>() {
        Ok(doc) => doc,
        Err(e) => return TomlPlan::Refused(format!("not valid TOML, left as it is: {e}")),
    };
    let token_file = token_file.to_string_lossy().into_owned();
    let wanted = [
        ("name", DCC_NAME),
        ("bridge", "websocket"),
        ("endpoint", BLENDER_ENDPOINT),
        ("token_file", token_file.as_str()),
    ];
    let has = |table: &Table, key: &str, v: &str| table.get(key).and_then(Item::as_str) == Some(v);
    if doc
        .get("dcc")
        .is_some_and(|d| d.as_array_of_tables().is_none())
    {
        return TomlPlan::Refused("`dcc` is not a list of [[dcc]] tables: left as it is".into());
    }
    let entries = doc
        .entry("dcc")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let Some(entries) = entries.as_array_of_tables_mut() else {
        return TomlPlan::Refused("`dcc` is not a list of [[dcc]] tables: left as it is".into());
    };
    let found = entries.iter().position(|t| has(t, "name", DCC_NAME));
    match (found, remove) {
        (None, true) => return TomlPlan::Unchanged,
        (None, false) => {
            let mut table = Table::new();
            for (k, v) in wanted {
                table.insert(k, value(v));
            }
            entries.push(table);
        }
        (Some(at), _) => {
            let Some(table) = entries.get_mut(at) else {
                return TomlPlan::Unchanged;
            };
            let ours = has(table, "token_file", &token_file);
            if !ours {
                return if remove {
                    TomlPlan::Unchanged
                } else {
                    TomlPlan::Refused(format!(
                        "it already has a [[dcc]] named {DCC_NAME:?} that setup did not write: left as it is \
                         (remove it and run setup again to let setup manage it)"
                    ))
                };
            }
            if remove {
                entries.remove(at);
            } else if wanted.iter().all(|(k, v)| has(table, k, v)) {
                return TomlPlan::Unchanged;
            } else {
                for (k, v) in wanted {
                    table.insert(k, value(v));
                }
            }
        }
    }
    if doc
        .get("dcc")
        .and_then(Item::as_array_of_tables)
        .is_some_and(ArrayOfTables::is_empty)
    {
        doc.remove("dcc");
    }
    let after = doc.to_string();
    // Never write a config stagecraft itself would refuse to start with.
    if let Err(e) = Config::parse(&after, path) {
        return TomlPlan::Refused(format!(
            "the edited config would not load ({e}): left as it is"
        ));
    }
    TomlPlan::Write {
        before: text.map(str::to_string),
        after,
    }
}
