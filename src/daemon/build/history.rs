//! The image history's `created_by` strings, byte for byte as dockerd 20.10's
//! classic builder writes them: Go's `%q`/`%v` formatting of the values, the
//! `#(nop)` comment commands, and the `|N K=v` build-arg prefix of RUN.

use super::args::{BuildArgs, env_key};

/// The shell a shell-form command runs with: `SHELL`, else `/bin/sh -c`.
pub fn shell_of(shell: Option<&[String]>) -> Vec<String> {
    match shell {
        Some(s) if !s.is_empty() => s.to_vec(),
        _ => vec!["/bin/sh".to_owned(), "-c".to_owned()],
    }
}

/// `created_by` of a metadata step: `/bin/sh -c #(nop)  ENV A=b` (moby's
/// two-word comment, hence the two spaces).
pub fn nop(shell: &[String], comment: &str) -> String {
    let mut words = shell.to_vec();
    words.push("#(nop) ".to_owned());
    words.push(comment.to_owned());
    words.join(" ")
}

/// `created_by` of WORKDIR, COPY and ADD: one-word comment, one space.
pub fn nop_single(shell: &[String], comment: &str) -> String {
    let mut words = shell.to_vec();
    words.push(format!("#(nop) {comment}"));
    words.join(" ")
}

/// The command RUN records (and the cache compares): with build args in effect,
/// `|N K=v ...` (sorted, proxy args only when an ARG declared them) before it.
pub fn run_command(args: &BuildArgs, in_effect: &[String], cmd: &[String]) -> Vec<String> {
    if in_effect.is_empty() {
        return cmd.to_vec();
    }
    let mut shown: Vec<String> = in_effect
        .iter()
        .filter(|e| args.is_referenced_or_not_builtin(env_key(e)))
        .cloned()
        .collect();
    shown.sort();
    let mut out = vec![format!("|{}", shown.len())];
    out.extend(shown);
    out.extend(cmd.iter().cloned());
    out
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() => {
            if (c as u32) <= 0xffff {
                out.push_str(&format!("\\u{:04x}", c as u32))
            } else {
                out.push_str(&format!("\\U{:08x}", c as u32))
            }
        }
        c => out.push(c),
    }
}

/// Go's `%q` of an int (a rune literal): `'\x03'`.
pub fn go_quote_rune(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some(c) => {
            let mut out = String::from("'");
            push_escaped(&mut out, c, '\'');
            out.push('\'');
            out
        }
        None => "'\u{fffd}'".to_owned(),
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Go's `time.Duration.String()` of `ns` nanoseconds: `1m30s`, `500ms`, `0s`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        // Below a second: the largest unit that keeps an integer part.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(u, div));
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s_str = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s_str}s")
    } else if m > 0 {
        format!("{sign}{m}m{s_str}s")
    } else {
        format!("{sign}{s_str}s")
    }
}

/// `v / div` with its fraction, trailing zeros dropped (`1.5`, `2`).
fn frac(v: u64, div: u64) -> String {
    let (int, rem) = (v / div, v % div);
    if rem == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nop_comments_match_dockerd() {
        let sh = shell_of(None);
        assert_eq!(nop(&sh, "ENV A=b"), "/bin/sh -c #(nop)  ENV A=b");
        assert_eq!(
            nop(
                &sh,
                &format!("CMD {}", go_quote_list(&strs(&["sh", "-c", "echo \"x\""])))
            ),
            r#"/bin/sh -c #(nop)  CMD ["sh" "-c" "echo \"x\""]"#
        );
        assert_eq!(
            nop_single(&sh, "WORKDIR /srv"),
            "/bin/sh -c #(nop) WORKDIR /srv"
        );
        let bash = strs(&["/bin/bash", "-c"]);
        assert_eq!(
            nop(&bash, &format!("SHELL {}", go_list(&bash))),
            "/bin/bash -c #(nop)  SHELL [/bin/bash -c]"
        );
    }

    #[test]
    fn run_records_declared_args_sorted() {
        let mut args = BuildArgs::new(BTreeMap::from([
            ("B".to_string(), Some("2".to_string())),
            ("HTTP_PROXY".to_string(), Some("p".to_string())),
        ]));
        args.add_arg("B", None);
        args.add_arg("A", Some("1".into()));
        let env = args.filter_allowed(&[]);
        let cmd = run_command(&args, &env, &strs(&["/bin/sh", "-c", "echo hi"]));
        assert_eq!(cmd.join(" "), "|2 A=1 B=2 /bin/sh -c echo hi");
        let none = BuildArgs::default();
        assert_eq!(run_command(&none, &[], &strs(&["true"])), strs(&["true"]));
        // Only an undeclared proxy arg: dockerd still writes the count.
        let proxy_only = BuildArgs::new(BTreeMap::from([(
            "HTTP_PROXY".to_string(),
            Some("p".to_string()),
        )]));
        let env = proxy_only.filter_allowed(&[]);
        assert_eq!(
            run_command(&proxy_only, &env, &strs(&["true"])).join(" "),
            "|0 true"
        );
    }

    #[test]
    fn go_formatting() {
        assert_eq!(go_quote("a\tb\u{1}é"), "\"a\\tb\\x01é\"");
        assert_eq!(go_quote_rune(3), "'\\x03'");
        assert_eq!(go_quote_rune(65), "'A'");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(5_000_000_000), "5s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(300_000_000_000), "5m0s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500), "1.5µs");
    }
}
