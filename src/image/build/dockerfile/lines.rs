//! Line handling: parser directives, comments and line continuations (BuildKit's
//! `parser.go` / `directives.go`).

/// Parser directive state: `# escape=` / `# syntax=` are honoured only in the comment
/// lines at the very top, before any blank line, other comment or instruction.
pub(super) struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
    done: bool,
    seen: Vec<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            done: false,
            seen: Vec::new(),
        }
    }
}

impl Directives {
    /// BuildKit's `processLine`: the line without its newline (and leading whitespace when
    /// `strip_left`), empty if it is a comment; directives are taken from it on the way.
    pub fn process(&mut self, raw: &str, strip_left: bool) -> Result<String, String> {
        let mut token = raw.trim_end_matches(['\r', '\n']);
        if strip_left {
            token = token.trim_start();
        }
        self.parse_line(token)?;
        Ok(if is_comment(token) {
            String::new()
        } else {
            token.to_string()
        })
    }

    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = line.strip_prefix('#').and_then(directive) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        match key.as_str() {
            "escape" => {
                self.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ));
                    }
                }
            }
            "syntax" => self.syntax = Some(value.to_string()),
            _ => {}
        }
        self.seen.push(key);
        Ok(())
    }
}

/// `^\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on the text after `#`.
fn directive(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let key_len = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, rest) = text.split_at(key_len);
    let after = rest
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .strip_prefix('=')?;
    let value = after.trim_matches(|c: char| c.is_ascii_whitespace());
    if !value.is_empty() {
        return Some((key, value));
    }
    // All blanks: the regex's lazy `(.+?)` still takes the last one.
    let last = after.char_indices().last()?.0;
    Some((key, &after[last..]))
}

/// A comment line: `#` after optional leading whitespace.
pub(super) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing line-continuation escape (with trailing blanks after it). The escape
/// does not continue the line when it is itself escaped (`foo \\`). Returns the line and
/// whether it ends the instruction.
pub(super) fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape)
        && (before.is_empty() || !before.ends_with(escape))
    {
        return (before.to_string(), false);
    }
    (line.to_string(), true)
}
