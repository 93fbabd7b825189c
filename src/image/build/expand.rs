//! Shell-word variable expansion as Dockerfile instructions use it (BuildKit's
//! `frontend/dockerfile/shell/lex.go`, `ProcessWord` / `ProcessWords`).
//!
//! Quotes are removed (`'...'` literal, `"..."` expanding `$` and honouring the escape
//! character before `"`, `$` and itself), the escape character quotes the next character,
//! and `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`,
//! `${VAR:?message}` and `${VAR?message}` are substituted from the caller's lookup. Nothing
//! else of the shell (command substitution, arithmetic, globbing) exists here: RUN, CMD and
//! ENTRYPOINT are never expanded by the builder, their shell does that.

use crate::api::ErrorClass;

/// Nested `${...}` deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 64;

/// A word that could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {message}")]
pub struct ExpandError {
    /// The whole word (or text) being expanded.
    pub word: String,
    /// What was wrong, in BuildKit's words (`syntax error: bad substitution`, `X: is not
    /// allowed to be unset`, ...).
    pub message: String,
}

impl ExpandError {
    /// Expansion errors are always mistakes in the Dockerfile or build args.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// Expands one word: quotes removed, variables substituted, escapes applied (`ProcessWord`).
/// Whitespace is kept as is; `env` answers `None` for an unset variable.
pub fn expand_word(
    word: &str,
    env: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, ExpandError> {
    Lexer::new(word, env, escape, Mode::default())
        .run()
        .map(|(word, _)| word)
}

/// Expands `text` and splits it into words on unquoted whitespace, including whitespace that
/// comes out of an unquoted variable (`ProcessWords`). Empty words are dropped.
pub fn expand_words(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    Lexer::new(text, env, escape, Mode::default())
        .run()
        .map(|(_, words)| words)
}

/// Expands a heredoc body (`COPY <<EOF` with an unquoted delimiter) as BuildKit does
/// (`SkipProcessQuotes`): `$VAR`, `${VAR...}` and `\` escapes work as in a word, but quote
/// characters are ordinary text and kept. The escape character is always `\` here.
pub fn expand_heredoc(
    content: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mode = Mode {
        skip_quotes: true,
        ..Mode::default()
    };
    Lexer::new(content, env, '\\', mode)
        .run()
        .map(|(text, _)| text)
}

/// Lexer switches the Dockerfile parser needs to find heredoc words (BuildKit's
/// `RawQuotes`, `RawEscapes`, `SkipUnsetEnv`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mode {
    /// Keep the quote characters in the output.
    pub raw_quotes: bool,
    /// Keep the escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written instead of expanding them to "".
    pub skip_unset: bool,
    /// Quote characters are ordinary characters.
    pub skip_quotes: bool,
}

/// `ProcessWords` with BuildKit's lexer switches and no variables set (the Dockerfile
/// parser uses it to find heredoc words).
pub(crate) fn split_words_raw(
    text: &str,
    escape: char,
    mode: Mode,
) -> Result<Vec<String>, ExpandError> {
    let none = |_: &str| None;
    Lexer::new(text, &none, escape, mode)
        .run()
        .map(|(_, words)| words)
}

/// BuildKit's `wordsStruct`: accumulates the current word and the finished ones.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct Lexer<'a> {
    source: &'a str,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
    escape: char,
    mode: Mode,
    depth: usize,
}

impl<'a> Lexer<'a> {
    fn new(
        source: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
        escape: char,
        mode: Mode,
    ) -> Self {
        Lexer {
            source,
            chars: source.chars().collect(),
            pos: 0,
            env,
            escape,
            mode,
            depth: 0,
        }
    }

    fn run(mut self) -> Result<(String, Vec<String>), ExpandError> {
        self.process_stop_on(None).map_err(|message| ExpandError {
            word: self.source.to_string(),
            message,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Reads up to (and consumes) `stop`, or to the end when `stop` is `None`.
    fn process_stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '\'' if !self.mode.skip_quotes => {
                    let value = self.process_single_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' if !self.mode.skip_quotes => {
                    let value = self.process_double_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.mode.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape character quotes the next one; at the end it vanishes.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.mode.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.mode.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.mode.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.mode.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(mut ch) => {
                    self.next();
                    if ch == self.escape {
                        if self.mode.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape at the very end is dropped; the missing quote errors next.
                            None => continue,
                            // Only these can be escaped inside double quotes; otherwise the
                            // escape character is literal.
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                ch = next;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.mode.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        if ch == '}' {
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.mode.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            });
        }
        let (null_is_unset, modifier) = match ch {
            ':' => (true, self.next()),
            '+' | '-' | '?' => (false, Some(ch)),
            _ => return Err("missing ':' in substitution".into()),
        };
        let Some(modifier @ ('+' | '-' | '?')) = modifier else {
            let shown: String = modifier.into_iter().collect();
            return Err(format!("unsupported modifier ({shown}) in substitution"));
        };
        if self.depth >= MAX_NESTING {
            return Err("syntax error: substitutions nested too deeply".into());
        }
        self.depth += 1;
        let word = self.process_stop_on(Some('}'));
        self.depth -= 1;
        let word = match word {
            Ok((word, _)) => word,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.lookup(&name);
        if value.is_none() && self.mode.skip_unset {
            let colon = if null_is_unset { ":" } else { "" };
            return Ok(format!("${{{name}{colon}{modifier}{word}}}"));
        }
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match modifier {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            _ => match value {
                None => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(_) if unset => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits (positional
    /// parameters); or one special parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }
}

#[cfg(test)]
mod tests;
