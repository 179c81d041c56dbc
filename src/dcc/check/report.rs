//! The pass/fail table of a run.

/// One line of the table.
#[derive(Debug, Clone)]
pub struct CheckRow {
    pub check: String,
    /// `None`: skipped (the adapter does not advertise what the check needs).
    pub passed: Option<bool>,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub rows: Vec<CheckRow>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.passed != Some(false))
    }

    pub fn failures(&self) -> Vec<&CheckRow> {
        self.rows
            .iter()
            .filter(|r| r.passed == Some(false))
            .collect()
    }

    /// The pass/fail table, one check per line.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!("{:<6}  {:<width$}  detail\n", "result", "check");
        for r in &self.rows {
            let status = match r.passed {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "skip",
            };
            out.push_str(&format!("{status:<6}  {:<width$}  {}\n", r.check, r.detail));
        }
        let failed = self.failures().len();
        let passed = self.rows.iter().filter(|r| r.passed == Some(true)).count();
        let skipped = self.rows.len() - failed - passed;
        out.push_str(&format!(
            "\n{passed} passed, {failed} failed, {skipped} skipped\n"
        ));
        out
    }
}
