//! Word-level helpers of the line parser: keyword split, builder flags, quote-keeping word
//! split, JSON arrays, heredoc words, Go durations and CSV mount options.

use std::time::Duration;

use crate::image::build::expand::{Mode, split_words_raw};

/// moby's `reWhitespace` (`[\t\v\f\r ]+`).
fn is_re_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// `reWhitespace.Split(s, 2)`: the text before the first blank run and the text after it.
pub(super) fn split_whitespace_re(s: &str) -> Option<(&str, &str)> {
    let start = s.find(is_re_whitespace)?;
    let after = s[start..].trim_start_matches(is_re_whitespace);
    Some((&s[..start], after))
}

/// BuildKit's `extractBuilderFlags`: leading `--flag[=value]` words (quotes and escapes
/// removed), and the rest of the line from the first word that is not a flag.
pub(super) fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let n = chars.len();
    let rest_from = |pos: usize| line[chars.get(pos).map_or(line.len(), |c| c.0)..].to_string();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= n {
        let ch = chars.get(pos).map_or('\0', |c| c.1);
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || chars.get(pos + 1).map(|c| c.1) != Some('-') {
                return (rest_from(pos), words);
            }
            phase = Phase::Word;
        }
        if pos == n {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        let mut ch = ch;
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = chars[pos].1;
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // Inside quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == escape {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = chars[pos].1;
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

/// BuildKit's `parseWords`: splits on whitespace outside quotes, keeping quotes and escapes
/// in the words (they are removed at expansion time).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= n {
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if chars[pos].is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == n {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        let ch = chars[pos];
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                // Unquoted, the escape and the character after it are both kept.
                word.push(ch);
                pos += 1;
            }
            word.push(chars[pos]);
            pos += 1;
            continue;
        }
        // Inside quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        // Nothing escapes inside single quotes.
        if ch == escape && quote != '\'' {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            word.push(ch);
            pos += 1;
        }
        word.push(chars[pos]);
        pos += 1;
    }
    words
}

/// A JSON array of strings (`Some`), not a JSON array at all (`None`, the caller falls back
/// to shell form), or an array with something other than strings (an error, as in Docker).
/// Only the leading array is read; text after it is ignored, as dockerd 20.10 does.
pub(super) fn parse_json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    // Like moby 20.10's json.Decoder: the first value counts, whatever follows it
    // (`CMD ["a"] x` is `["a"]`).
    let first = serde_json::Deserializer::from_str(rest)
        .into_iter::<Vec<serde_json::Value>>()
        .next();
    let Some(Ok(values)) = first else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => {
                Err("when using JSON array syntax, arrays must be comprised of strings only".into())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A heredoc opener word (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeredocWord {
    /// The delimiter, quotes removed.
    pub name: String,
    /// No part of the delimiter was quoted.
    pub expand: bool,
    /// `<<-`.
    pub chomp: bool,
}

/// BuildKit's `ParseHeredoc`: `^(\d*)<<(-?)\s*([^<]*)$` with a single-word delimiter.
pub(super) fn parse_heredoc_word(src: &str) -> Result<Option<HeredocWord>, String> {
    let Some(s) = src
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .strip_prefix("<<")
    else {
        return Ok(None);
    };
    let (chomp, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let rest = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let mut mode = Mode {
        raw_quotes: false,
        raw_escapes: false,
        skip_unset: true,
        skip_quotes: false,
    };
    let words = split_words_raw(rest, '\\', mode).map_err(|e| e.to_string())?;
    let [word] = words.as_slice() else {
        return Ok(None);
    };
    mode.raw_quotes = true;
    let raw = split_words_raw(rest, '\\', mode).map_err(|e| e.to_string())?;
    let [raw] = raw.as_slice() else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    };
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(HeredocWord {
        name: word.clone(),
        expand: quotes(word) == quotes(raw),
        chomp,
    }))
}

/// Go's `time.ParseDuration`: `Some(d)` for a non-negative duration, `None` for a negative
/// one (which no caller accepts), errors worded as Go's.
pub(super) fn parse_go_duration(orig: &str) -> Result<Option<Duration>, String> {
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let mut s = orig;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(Some(Duration::ZERO));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_part, r) = s.split_at(int_len);
        s = r;
        let mut value: u128 = 0;
        for d in int_part.bytes() {
            value = value * 10 + u128::from(d - b'0');
            if value > LIMIT {
                return Err(invalid());
            }
        }
        let mut frac: u128 = 0;
        let mut scale: f64 = 1.0;
        let mut has_frac = false;
        if let Some(r) = s.strip_prefix('.') {
            let frac_len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            has_frac = frac_len > 0;
            let mut overflow = false;
            for d in r[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                let next = frac * 10 + u128::from(d - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                frac = next;
                scale *= 10.0;
            }
            s = &r[frac_len..];
        }
        if int_part.is_empty() && !has_frac {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{orig}\""));
        }
        let (unit_name, r) = s.split_at(unit_len);
        s = r;
        let unit: u128 = match unit_name {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit_name}\" in duration \"{orig}\""
                ));
            }
        };
        if value > LIMIT / unit {
            return Err(invalid());
        }
        value *= unit;
        if frac > 0 {
            // Go computes the fraction in float64 too.
            value += (frac as f64 * (unit as f64 / scale)) as u128;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total == 0).then_some(Duration::ZERO));
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(Some(Duration::from_nanos(total as u64)))
}

/// One CSV record (Go's `encoding/csv` for a single line): `"` quotes a field, `""` inside
/// quotes is a quote.
pub(super) fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    if value.is_empty() {
        return Err("EOF".into());
    }
    let mut fields = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') => match chars.peek() {
                        Some('"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some(',') | None => break,
                        Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
                    },
                    Some(c) => field.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            _ => return Ok(fields),
        }
    }
}
