//! Where a SKILL.md's YAML frontmatter is. Shared with build.rs (included there by path), which
//! parses the shipped skills' frontmatter at build time, so it depends on nothing in the crate.

/// Splits `---\n<yaml>\n---\n<body>`; returns the YAML and the file line it starts on.
pub fn split_frontmatter(text: &str) -> Option<(&str, usize)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], 2));
        }
        offset += line.len();
    }
    None
}
