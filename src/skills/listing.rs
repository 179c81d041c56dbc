//! The CLI's views of a [`Registry`]: `stagecraft skills list` (a table or JSON) and `skills check`.

use serde_json::{Value, json};

use super::{Binding, Registry, ToolSpec};

impl Registry {
    /// `stagecraft skills list --json`: skills, tools (with schemas, annotations and whether they are
    /// hidden) and diagnostics.
    pub fn to_json(&self) -> Value {
        let tool = |t: &ToolSpec, hidden: bool| {
            let binding = match &t.binding {
                Binding::Call(m) => json!({"call": m}),
                Binding::Script { path, language } => {
                    json!({"script": path, "language": language})
                }
            };
            json!({
                "name": t.name,
                "title": t.title,
                "skill": t.skill,
                "description": t.description,
                "binding": binding,
                "input_schema": *t.input_schema,
                "read_only": t.read_only,
                "destructive": t.destructive,
                "idempotent": t.idempotent,
                "open_world": t.open_world,
                "timeout_seconds": t.timeout_seconds,
                "ui_resource": t.ui_resource,
                "hidden": hidden,
                "context_bytes": t.context_bytes(),
            })
        };
        json!({
            "skills": self.skills.values().map(|s| json!({
                "name": s.name,
                "description": s.description,
                "uri": s.uri,
                "dir": s.dir,
                "tools": s.tools,
            })).collect::<Vec<_>>(),
            "tools": self.tools.values().map(|t| tool(t, false))
                .chain(self.hidden.values().map(|t| tool(t, true)))
                .collect::<Vec<_>>(),
            "diagnostics": self.diagnostics.iter().map(|d| json!({
                "file": d.file,
                "line": d.line,
                "message": d.message,
                "fix": d.fix,
            })).collect::<Vec<_>>(),
        })
    }

    /// `stagecraft skills list`: each skill and its tools, with their tools/list context cost.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for skill in self.skills.values() {
            let origin = match &skill.dir {
                Some(dir) => dir.display().to_string(),
                None => "built-in".into(),
            };
            out.push_str(&format!("{}  ({origin})\n", skill.name));
            for name in &skill.tools {
                let (tool, hidden) = match self.tools.get(name) {
                    Some(t) => (t, false),
                    None => match self.hidden.get(name) {
                        Some(t) => (t, true),
                        None => continue,
                    },
                };
                let binding = match &tool.binding {
                    Binding::Call(m) => format!("call {m}"),
                    Binding::Script { path, language } => {
                        format!("script {} ({language})", path.display())
                    }
                };
                let mut flags = Vec::new();
                if tool.read_only {
                    flags.push("read-only");
                }
                if tool.destructive {
                    flags.push("destructive");
                }
                if hidden {
                    flags.push("hidden: allow_scripts = false");
                }
                out.push_str(&format!(
                    "  {:<22} {:>6} B  {binding}  {}\n",
                    tool.name,
                    tool.context_bytes(),
                    flags.join(", ")
                ));
            }
        }
        let listed: usize = self.tools.values().map(|t| t.context_bytes()).sum();
        out.push_str(&format!(
            "{listed} B of tools/list context (name, description, input schema) for the {} tools listed by default\n",
            self.tools.len()
        ));
        out
    }

    /// `stagecraft skills check`: every diagnostic, then a count of what loaded.
    pub fn check_report(&self) -> String {
        let mut report = String::new();
        for d in &self.diagnostics {
            report.push_str(&format!("{d}\n"));
        }
        report.push_str(&format!(
            "{} skills, {} tools loaded; {} problem{}\n",
            self.skills.len(),
            self.tools.len() + self.hidden.len(),
            self.diagnostics.len(),
            if self.diagnostics.len() == 1 { "" } else { "s" }
        ));
        report
    }
}
