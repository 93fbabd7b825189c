//! The Dockerfile parser: text → typed instructions grouped into build stages.
//!
//! Modelled on BuildKit's `frontend/dockerfile/parser` (lines, directives, continuations,
//! heredocs) and `frontend/dockerfile/instructions` (per-instruction arguments and flags),
//! with moby 20.10's error wording, which is what `docker build` users see from dockerd.
//! Nothing is expanded here: words keep their quotes and `$VAR`s, and the executor expands
//! them with [`super::expand`] where Docker does.
//!
//! [`parse`] never panics, whatever the input (the `fuzz/` target and a randomised unit test
//! check this), and every error names the line its instruction starts on.

mod lines;
mod words;

use std::collections::HashMap;
use std::time::Duration;

use crate::api::ErrorClass;

use lines::{Directives, is_comment, trim_continuation};
use words::{
    HeredocWord, extract_builder_flags, parse_go_duration, parse_heredoc_word, parse_json_array,
    parse_words, split_whitespace_re,
};

/// A Dockerfile that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error line {line}: {message}")]
pub struct ParseError {
    /// 1-based line on which the failing instruction starts.
    pub line: usize,
    /// What is wrong, in moby's words (`unknown instruction: FOO`, `Unknown flag: foo`, ...).
    pub message: String,
    origin: Origin,
}

/// Which part of dockerd's parser reports an error, which decides how dockerd words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The line parser (directives, continuations, JSON, ENV/LABEL pairs).
    Lines,
    /// The per-instruction parser (arguments, flags).
    Instruction,
    /// The stage grouping (an instruction before any FROM).
    Stages,
}

impl ParseError {
    /// Parse errors are always mistakes in the Dockerfile.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }

    /// The error exactly as dockerd 20.10 words it in its HTTP 400 body: `dockerfile parse
    /// error line N: ...` for instruction errors, `failed to parse Dockerfile: ...` (no line)
    /// for errors of its line parser, and a bare `no build stage in current context`.
    pub fn dockerd_message(&self) -> String {
        match self.origin {
            Origin::Instruction => self.to_string(),
            Origin::Lines => format!("failed to parse Dockerfile: {}", self.message),
            Origin::Stages => self.message.clone(),
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character, from the `# escape=` directive (`\` by default).
    pub escape: char,
    /// The `# syntax=` directive's value (recorded, not acted on).
    pub syntax: Option<String>,
    /// `ARG` instructions before the first `FROM` (each is [`Kind::Arg`]).
    pub meta_args: Vec<Instruction>,
    /// The build stages, in file order. Empty only when the file has nothing but `ARG`s.
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions after it up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position among the stages (what `COPY --from=0` names).
    pub index: usize,
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    /// The `FROM` instruction itself ([`Kind::From`]).
    pub from: Instruction,
    /// The instructions after `FROM`.
    pub instructions: Vec<Instruction>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line the instruction starts on.
    pub line: usize,
    /// The instruction as Docker prints it in `Step N/M : <original>`: the keyword as written
    /// and the rest, continuation lines joined, trimmed (moby's `node.Original`).
    pub original: String,
    /// What the instruction does, with its arguments.
    pub kind: Kind,
}

/// An instruction's type and arguments; words are raw (quotes and `$VAR`s intact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        /// The image reference, `scratch`, or a stage name.
        image: String,
        /// `--platform`.
        platform: Option<String>,
        /// The `AS` name, lower-cased.
        alias: Option<String>,
    },
    /// `RUN [--mount=...] [--network=...] command`.
    Run {
        /// The command; a heredoc-only `RUN <<EOF` is the heredoc's body in shell form.
        command: Command,
        /// `--mount` flags (BuildKit).
        mounts: Vec<RunMount>,
        /// `--network=default|none|host` (BuildKit).
        network: Option<String>,
    },
    /// `CMD`; no arguments at all gives `Shell("")` (dockerd then sets `Cmd` to the SHELL
    /// alone, `["/bin/sh","-c"]`).
    Cmd(Command),
    /// `ENTRYPOINT`; no arguments at all gives `Exec([])`: dockerd resets `Entrypoint` to null.
    Entrypoint(Command),
    /// `ENV k=v ...` or legacy `ENV k v` (the value is then the whole rest of the line).
    Env(Vec<(String, String)>),
    /// `ARG name[=default] ...`.
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL k=v ...` (or legacy `LABEL k v`).
    Label(Vec<(String, String)>),
    /// `EXPOSE port[/proto] ...`.
    Expose(Vec<String>),
    /// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
    Volume(Vec<String>),
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD`.
    Add(CopySpec),
    /// `WORKDIR path`.
    Workdir(String),
    /// `USER user[:group]`.
    User(String),
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK [flags] CMD ...`; `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<Healthcheck>),
    /// `SHELL ["exe", "args"...]` (JSON form only).
    Shell(Vec<String>),
    /// `ONBUILD <instruction>`: the trigger, parsed. Its `original` is what goes into the
    /// image's `OnBuild` list (with any heredoc bodies appended, as BuildKit does).
    Onbuild(Box<Instruction>),
    /// `MAINTAINER name`.
    Maintainer(String),
}

/// A command line of `RUN`, `CMD`, `ENTRYPOINT` or `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// JSON array form: run as is.
    Exec(Vec<String>),
    /// Shell form: the raw text, run with the stage's `SHELL` (`/bin/sh -c` by default).
    Shell(String),
}

/// Arguments of `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// Source words (raw, unexpanded; JSON form decoded); heredoc sources are in `heredocs`.
    pub sources: Vec<String>,
    /// The destination word (raw).
    pub dest: String,
    /// `--from=stage|image` (COPY only).
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=octal`.
    pub chmod: Option<String>,
    /// `--checksum=sha256:...` (ADD only).
    pub checksum: Option<String>,
    /// `--link` (accepted; the copy is done the same way).
    pub link: bool,
    /// `--keep-git-dir` (ADD only; accepted, git sources are not supported).
    pub keep_git_dir: bool,
    /// Inline files: `COPY <<EOF /dest` (BuildKit).
    pub heredocs: Vec<Heredoc>,
}

/// A heredoc body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word after `<<` with its quotes removed; for `COPY` also the file name.
    pub name: String,
    /// The lines between the instruction and the delimiter, each with its newline; for
    /// `<<-` the leading tabs are already removed.
    pub content: String,
    /// Unquoted delimiter: `$VAR`s in `content` are to be expanded.
    pub expand: bool,
    /// `<<-`: leading tabs were removed from every line.
    pub chomp_tabs: bool,
}

/// One `RUN --mount=...` (BuildKit's `instructions.Mount`), values raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// `bind` (default), `cache`, `tmpfs`, `secret` or `ssh`.
    pub kind: String,
    /// Where it appears in the container.
    pub target: String,
    /// Cache ID (`id=`); BuildKit defaults it to the target.
    pub id: Option<String>,
    /// `shared` (default), `private` or `locked` (cache mounts only).
    pub sharing: Option<String>,
    /// Read-only: explicit `ro`/`readonly`, else true for bind/secret/ssh mounts.
    pub readonly: bool,
    /// `from=` stage or image for bind and cache mounts.
    pub from: Option<String>,
    /// `source=` path inside `from` (or the context).
    pub source: Option<String>,
    /// `mode=` (octal) for cache/secret/ssh mounts.
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// A `HEALTHCHECK CMD` instruction's settings; unset durations inherit the base image's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// The probe (`CMD` exec form or `CMD-SHELL`).
    pub test: Command,
    /// `--interval`.
    pub interval: Option<Duration>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--start-period`.
    pub start_period: Option<Duration>,
    /// `--retries`.
    pub retries: Option<u32>,
}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut directives = Directives::default();
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut seen_instruction = false;
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let first = directives
            .process(lines[i], true)
            .map_err(|m| error(start, m))?;
        i += 1;
        let escape = directives.escape;
        let (mut joined, mut end_of_line) = trim_continuation(&first, escape);
        if end_of_line && joined.is_empty() {
            continue;
        }
        while !end_of_line && i < lines.len() {
            let raw = lines[i];
            let processed = directives
                .process(raw, false)
                .map_err(|m| error(i + 1, m))?;
            i += 1;
            // Comments and blank lines inside a continuation are skipped, as Docker does.
            if is_comment(raw) || processed.trim_start().is_empty() {
                continue;
            }
            let (part, eol) = trim_continuation(&processed, escape);
            joined.push_str(&part);
            end_of_line = eol;
        }

        let mut node = node_from_line(&joined, escape, 0).map_err(|m| error(start, m))?;
        if node.can_contain_heredoc() && joined.contains("<<") {
            let specs = heredocs_from_line(&joined).map_err(|m| error(start, m))?;
            for spec in specs {
                let mut content = String::new();
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let mut candidate = raw.trim_end_matches(['\r', '\n']);
                    if spec.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == spec.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(error(start, "unterminated heredoc".into()));
                }
                node.heredocs.push(RawHeredoc { spec, content });
            }
        }

        seen_instruction = true;
        let instruction = instruction_from_node(node, start).map_err(|message| ParseError {
            line: start,
            message,
            origin: Origin::Instruction,
        })?;
        match instruction.kind {
            Kind::From { ref alias, .. } => stages.push(Stage {
                index: stages.len(),
                name: alias.clone(),
                from: instruction,
                instructions: Vec::new(),
            }),
            Kind::Arg(_) if stages.is_empty() => meta_args.push(instruction),
            _ => match stages.last_mut() {
                Some(stage) => stage.instructions.push(instruction),
                None => {
                    return Err(ParseError {
                        line: start,
                        message: "no build stage in current context".into(),
                        origin: Origin::Stages,
                    });
                }
            },
        }
    }
    if !seen_instruction {
        return Err(error(
            lines.len().max(1),
            "file with no instructions".into(),
        ));
    }
    Ok(Dockerfile {
        escape: directives.escape,
        syntax: directives.syntax,
        meta_args,
        stages,
    })
}

fn error(line: usize, message: String) -> ParseError {
    ParseError {
        line,
        message,
        origin: Origin::Lines,
    }
}

/// The line-level parse of one instruction (BuildKit's `parser.Node`).
struct Node {
    /// The keyword as written.
    cmd: String,
    /// The whole joined line.
    original: String,
    /// Raw `--flag[=value]` words.
    flags: Vec<String>,
    args: Args,
    /// The arguments were a JSON array.
    json: bool,
    heredocs: Vec<RawHeredoc>,
}

/// Arguments as the line parser for the keyword splits them.
enum Args {
    /// Words, a JSON array, or the single raw rest of the line.
    Words(Vec<String>),
    /// ENV / LABEL pairs.
    Pairs(Vec<(String, String)>),
    /// HEALTHCHECK: the type word and its command words.
    Health(Option<(String, Vec<String>)>),
    /// ONBUILD: the trigger, unless missing (or a nested ONBUILD, rejected later).
    Sub(Option<Box<Node>>),
    /// An unknown keyword.
    Unknown,
}

struct RawHeredoc {
    spec: HeredocWord,
    /// Body lines as written (tabs not yet removed for `<<-`).
    content: String,
}

impl Node {
    fn can_contain_heredoc(&self) -> bool {
        let node = match &self.args {
            Args::Sub(Some(sub)) if self.cmd.eq_ignore_ascii_case("onbuild") => sub,
            _ => self,
        };
        let cmd = node.cmd.to_ascii_lowercase();
        matches!(cmd.as_str(), "run" | "copy" | "add") && !node.json
    }

    fn words(&self) -> &[String] {
        match &self.args {
            Args::Words(w) => w,
            _ => &[],
        }
    }
}

/// BuildKit's `newNodeFromLine`: keyword, flags, and the keyword's own argument split.
/// `depth` > 0 inside ONBUILD, where a further ONBUILD is not descended into.
fn node_from_line(line: &str, escape: char, depth: usize) -> Result<Node, String> {
    let trimmed = line.trim();
    let (cmd, rest, flags) = match split_whitespace_re(trimmed) {
        Some((cmd, after)) => {
            let (rest, flags) = extract_builder_flags(after, escape);
            (cmd, rest.trim().to_string(), flags)
        }
        None => (trimmed, String::new(), Vec::new()),
    };
    let mut json = false;
    let args = match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => match parse_json_array(&rest)? {
            Some(list) => {
                json = true;
                Args::Words(list)
            }
            None => Args::Words(whitespace_delimited(&rest)),
        },
        "arg" => Args::Words(parse_words(&rest, escape)),
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (words, is_json) = maybe_json(&rest)?;
            json = is_json;
            Args::Words(words)
        }
        "env" => Args::Pairs(name_values(&rest, "ENV", escape)?),
        "label" => Args::Pairs(name_values(&rest, "LABEL", escape)?),
        "expose" | "from" => Args::Words(whitespace_delimited(&rest)),
        "healthcheck" => {
            if rest.is_empty() {
                Args::Health(None)
            } else {
                let (typ, cmdline) = match rest.find(char::is_whitespace) {
                    Some(sep) => (&rest[..sep], rest[sep..].trim_start()),
                    None => (rest.as_str(), ""),
                };
                let (words, is_json) = maybe_json(cmdline)?;
                json = is_json;
                Args::Health(Some((typ.to_string(), words)))
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => Args::Words(if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.clone()]
        }),
        "onbuild" => {
            let sub_is_onbuild = split_whitespace_re(&rest)
                .map_or(rest.as_str(), |(c, _)| c)
                .eq_ignore_ascii_case("onbuild");
            if rest.is_empty() || (depth > 0 && sub_is_onbuild) {
                Args::Sub(None)
            } else {
                Args::Sub(Some(Box::new(node_from_line(&rest, escape, depth + 1)?)))
            }
        }
        _ => Args::Unknown,
    };
    Ok(Node {
        cmd: cmd.to_string(),
        original: line.to_string(),
        flags,
        args,
        json,
        heredocs: Vec::new(),
    })
}

/// BuildKit's `parseStringsWhitespaceDelimited`.
fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(['\t', '\u{b}', '\u{c}', '\r', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// BuildKit's `parseMaybeJSON`: a JSON string array, or the raw text as one word.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match parse_json_array(rest)? {
        Some(list) => (list, true),
        None => (vec![rest.to_string()], false),
    })
}

/// BuildKit's `parseNameVal`: `k=v k2=v2` or legacy `k value with spaces`.
fn name_values(rest: &str, key: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        return match split_whitespace_re(rest) {
            Some((name, value)) => Ok(vec![(name.to_string(), value.to_string())]),
            None => Err(format!("{key} must have two arguments")),
        };
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// The heredocs a line opens, in order (BuildKit's `heredocsFromLine`).
fn heredocs_from_line(line: &str) -> Result<Vec<HeredocWord>, String> {
    let mode = super::expand::Mode {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        skip_quotes: false,
    };
    let words = super::expand::split_words_raw(line, '\\', mode).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc_word(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// BuildKit's `ChompHeredocContent`: leading tabs off every line.
fn chomp_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    Str,
    List,
}

/// Flags given to one instruction, checked against the ones it accepts (moby's `BFlags`).
struct Flags {
    values: HashMap<&'static str, Vec<String>>,
}

impl Flags {
    fn parse(raw: &[String], allowed: &[(&'static str, FlagType)]) -> Result<Flags, String> {
        let mut values: HashMap<&'static str, Vec<String>> = HashMap::new();
        for arg in raw {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("Arg should start with -- : {arg}"));
            };
            if body.is_empty() {
                break;
            }
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(key, typ)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(format!("Unknown flag: {name}"));
            };
            if values.contains_key(key) && typ != FlagType::List {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            let value = match (typ, value) {
                (FlagType::Bool, None) => "true".to_string(),
                (FlagType::Bool, Some("")) => {
                    return Err(format!("Missing a value on flag: {name}"));
                }
                (FlagType::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    b @ ("true" | "false") => b.to_string(),
                    _ => {
                        return Err(format!("Expecting boolean value for flag {name}, not: {v}"));
                    }
                },
                (_, None) => return Err(format!("Missing a value on flag: {name}")),
                (_, Some(v)) => v.to_string(),
            };
            values.entry(key).or_default().push(value);
        }
        Ok(Flags { values })
    }

    /// A string flag's value; an empty value counts as unset, as in moby.
    fn string(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .filter(|v| !v.is_empty())
            .cloned()
    }

    fn boolean(&self, name: &str) -> bool {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .is_some_and(|v| v == "true")
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

/// BuildKit's `ParseInstruction`: the typed instruction with moby's validation.
fn instruction_from_node(node: Node, line: usize) -> Result<Instruction, String> {
    use FlagType::{List, Str};
    let keyword = node.cmd.to_ascii_uppercase();
    let original = node.original.trim().to_string();
    let no_flags = |node: &Node| Flags::parse(&node.flags, &[]).map(|_| ());
    let exactly_one = |node: &Node| -> Result<String, String> {
        match node.words() {
            [one] => Ok(one.clone()),
            _ => Err(format!("{keyword} requires exactly one argument")),
        }
    };
    let kind = match keyword.as_str() {
        "FROM" => {
            let words = node.words();
            let alias = match words {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let lower = name.to_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        ));
                    }
                    Some(lower)
                }
                [_] => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            let flags = Flags::parse(&node.flags, &[("platform", Str)])?;
            Kind::From {
                image: words[0].clone(),
                platform: flags.string("platform"),
                alias,
            }
        }
        "RUN" => {
            let flags = Flags::parse(
                &node.flags,
                &[("mount", List), ("network", Str), ("security", Str)],
            )?;
            let network = flags.string("network");
            if let Some(n) = &network
                && !matches!(n.as_str(), "default" | "none" | "host")
            {
                return Err(format!("invalid network mode {n:?}"));
            }
            match flags.string("security").as_deref() {
                None | Some("sandbox") => {}
                Some("insecure") => return Err("RUN --security=insecure is not supported".into()),
                Some(other) => return Err(format!("security {other:?} is not valid")),
            }
            let mounts = flags
                .list("mount")
                .iter()
                .map(|m| parse_mount(m))
                .collect::<Result<Vec<_>, _>>()?;
            Kind::Run {
                command: shell_dependent(&node),
                mounts,
                network,
            }
        }
        "CMD" => {
            no_flags(&node)?;
            Kind::Cmd(shell_dependent(&node))
        }
        "ENTRYPOINT" => {
            no_flags(&node)?;
            Kind::Entrypoint(if node.words().is_empty() {
                Command::Exec(Vec::new())
            } else {
                shell_dependent(&node)
            })
        }
        "ENV" | "LABEL" => {
            no_flags(&node)?;
            let pairs = match &node.args {
                Args::Pairs(p) if !p.is_empty() => p.clone(),
                _ => return Err(format!("{keyword} requires at least one argument")),
            };
            if pairs.iter().any(|(k, _)| k.is_empty()) {
                return Err(format!("{keyword} names can not be blank"));
            }
            if keyword == "ENV" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "ARG" => {
            no_flags(&node)?;
            if node.words().is_empty() {
                return Err("ARG requires at least one argument".into());
            }
            let mut args = Vec::new();
            for word in node.words() {
                match word.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => args.push((k.to_string(), Some(v.to_string()))),
                    None => args.push((word.clone(), None)),
                }
            }
            Kind::Arg(args)
        }
        "MAINTAINER" => {
            let name = exactly_one(&node)?;
            no_flags(&node)?;
            Kind::Maintainer(name)
        }
        "WORKDIR" => {
            let path = exactly_one(&node)?;
            no_flags(&node)?;
            Kind::Workdir(path)
        }
        "USER" => {
            let user = exactly_one(&node)?;
            no_flags(&node)?;
            Kind::User(user)
        }
        "STOPSIGNAL" => {
            let signal = exactly_one(&node)?;
            no_flags(&node)?;
            Kind::StopSignal(signal)
        }
        "EXPOSE" => {
            if node.words().is_empty() {
                return Err("EXPOSE requires at least one argument".into());
            }
            no_flags(&node)?;
            Kind::Expose(node.words().to_vec())
        }
        "VOLUME" => {
            no_flags(&node)?;
            if node.words().is_empty() {
                return Err("VOLUME requires at least one argument".into());
            }
            let mut volumes = Vec::new();
            for v in node.words() {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.push(v.to_string());
            }
            Kind::Volume(volumes)
        }
        "SHELL" => {
            no_flags(&node)?;
            if node.words().is_empty() {
                return Err("SHELL requires at least one argument".into());
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Kind::Shell(node.words().to_vec())
        }
        "COPY" | "ADD" => copy_spec(&node, &keyword)?,
        "HEALTHCHECK" => healthcheck(&node)?,
        "ONBUILD" => return onbuild(node, line),
        // moby 20.10 upper-cases the keyword in this message.
        _ => return Err(format!("unknown instruction: {keyword}")),
    };
    Ok(Instruction {
        line,
        original,
        kind,
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// RUN/CMD/ENTRYPOINT: exec form, shell form, or a heredoc run through the shell as
/// BuildKit's `dispatchRun` does.
fn shell_dependent(node: &Node) -> Command {
    if node.json {
        return Command::Exec(node.words().to_vec());
    }
    let line = node.words().join(" ");
    if node.heredocs.is_empty() {
        return Command::Shell(line);
    }
    // `RUN <<EOF` alone: the body is the script. Anything else keeps the heredocs for the
    // shell, which reads them itself.
    if let Ok(Some(_)) = parse_heredoc_word(&line)
        && let Some(doc) = node.heredocs.first()
    {
        return Command::Shell(if doc.spec.chomp {
            chomp_tabs(&doc.content)
        } else {
            doc.content.clone()
        });
    }
    let mut full = line;
    for doc in &node.heredocs {
        full.push('\n');
        full.push_str(&doc.content);
        full.push_str(&doc.spec.name);
    }
    Command::Shell(full)
}

fn copy_spec(node: &Node, keyword: &str) -> Result<Kind, String> {
    use FlagType::{Bool, Str};
    let words = node.words();
    if words.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let add = keyword == "ADD";
    let allowed: &[(&'static str, FlagType)] = if add {
        &[
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Str),
        ]
    } else {
        &[
            ("chown", Str),
            ("from", Str),
            ("chmod", Str),
            ("link", Bool),
        ]
    };
    let flags = Flags::parse(&node.flags, allowed)?;
    let Some((dest, srcs)) = words.split_last() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !node.json && parse_heredoc_word(dest).ok().flatten().is_some() {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    let mut spec = CopySpec {
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        checksum: flags.string("checksum"),
        link: flags.boolean("link"),
        keep_git_dir: flags.boolean("keep-git-dir"),
        ..CopySpec::default()
    };
    for src in srcs {
        let doc = if node.json {
            None
        } else {
            parse_heredoc_word(src).ok().flatten()
        };
        match doc {
            Some(word) => {
                let raw = node.heredocs.iter().find(|h| h.spec.name == word.name);
                let content = raw.map(|h| h.content.as_str()).unwrap_or_default();
                spec.heredocs.push(Heredoc {
                    content: if word.chomp {
                        chomp_tabs(content)
                    } else {
                        content.to_string()
                    },
                    name: word.name,
                    expand: word.expand,
                    chomp_tabs: word.chomp,
                });
            }
            None => spec.sources.push(src.clone()),
        }
    }
    Ok(if add {
        Kind::Add(spec)
    } else {
        Kind::Copy(spec)
    })
}

fn healthcheck(node: &Node) -> Result<Kind, String> {
    use FlagType::Str;
    let Args::Health(Some((typ, words))) = &node.args else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !words.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Kind::Healthcheck(None));
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("retries", Str),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    if words.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test = if node.json {
        Command::Exec(words.clone())
    } else {
        Command::Shell(words.join(" "))
    };
    let interval = |name: &str| -> Result<Option<Duration>, String> {
        let Some(value) = flags.string(name) else {
            return Ok(None);
        };
        let d = parse_go_duration(&value)?;
        // moby 20.10 refuses 0 too (later BuildKit lets 0 mean "inherit").
        match d {
            Some(d) if d >= Duration::from_millis(1) => Ok(Some(d)),
            _ => Err(format!("Interval {name:?} cannot be less than 1ms")),
        }
    };
    let retries = match flags.string("retries") {
        None => None,
        Some(v) => {
            let n: i64 = v
                .parse()
                .ok()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))?;
            if n < 1 {
                return Err(format!("--retries must be at least 1 (not {n})"));
            }
            u32::try_from(n).ok()
        }
    };
    Ok(Kind::Healthcheck(Some(Healthcheck {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        retries,
    })))
}

fn onbuild(node: Node, line: usize) -> Result<Instruction, String> {
    let original = node.original.trim().to_string();
    let Args::Sub(sub) = node.args else {
        return Err("ONBUILD requires at least one argument".into());
    };
    let trigger_keyword = match &sub {
        Some(sub) => sub.cmd.to_ascii_uppercase(),
        None => {
            // A nested ONBUILD is not descended into; anything else is just missing.
            let rest = original.split_whitespace().nth(1).unwrap_or_default();
            if rest.eq_ignore_ascii_case("onbuild") {
                "ONBUILD".to_string()
            } else {
                return Err("ONBUILD requires at least one argument".into());
            }
        }
    };
    Flags::parse(&node.flags, &[])?;
    match trigger_keyword.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!(
                "{trigger_keyword} isn't allowed as an ONBUILD trigger"
            ));
        }
        _ => {}
    }
    let Some(mut sub) = sub else {
        return Err("ONBUILD requires at least one argument".into());
    };
    sub.heredocs = node.heredocs;
    // BuildKit's OnbuildCommand.Expression: the trigger text, heredoc bodies appended, so
    // the child build re-parses exactly what was written.
    let mut expression = sub.original.trim().to_string();
    for doc in &sub.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.spec.name);
    }
    let mut trigger = instruction_from_node(*sub, line)?;
    trigger.original = expression;
    Ok(Instruction {
        line,
        original,
        kind: Kind::Onbuild(Box::new(trigger)),
    })
}

/// BuildKit's `parseMount`, values kept raw (the executor expands them).
fn parse_mount(value: &str) -> Result<RunMount, String> {
    let fields =
        words::csv_fields(value).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut kind = "bind".to_string();
    let mut target = None;
    let mut m = RunMount {
        kind: String::new(),
        target: String::new(),
        id: None,
        sharing: None,
        readonly: false,
        from: None,
        source: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    let parse_bool = |key: &str, v: &str| match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    };
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v),
            None => {
                match field.to_ascii_lowercase().as_str() {
                    "readonly" | "ro" => m.readonly = true,
                    "readwrite" | "rw" => m.readonly = false,
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
                ro_auto = false;
                continue;
            }
        };
        match key.as_str() {
            "type" => {
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
                    return Err(format!("unsupported mount type {value:?}"));
                }
                kind = v;
            }
            "from" => m.from = Some(value.to_string()),
            "source" | "src" => m.source = Some(value.to_string()),
            "target" | "dst" | "destination" => target = Some(value.to_string()),
            "readonly" | "ro" => {
                m.readonly = parse_bool(&key, value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(&key, value)?;
                ro_auto = false;
            }
            "id" => m.id = Some(value.to_string()),
            "sharing" => {
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "shared" | "private" | "locked") {
                    return Err(format!("unsupported sharing value {value:?}"));
                }
                m.sharing = Some(v);
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                );
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                );
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                );
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info_allowed = matches!(kind.as_str(), "secret" | "ssh" | "cache");
    if !file_info_allowed {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!("{name} not allowed for {kind:?} type mounts"));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(kind.as_str(), "cache" | "tmpfs");
    }
    if m.sharing.is_some() && kind != "cache" {
        return Err(format!("invalid cache sharing set for {kind} mount"));
    }
    m.target = match target {
        Some(t) if !t.is_empty() => t,
        _ if matches!(kind.as_str(), "secret" | "ssh") => String::new(),
        _ => return Err(format!("mount type {kind} requires a target")),
    };
    m.kind = kind;
    Ok(m)
}

#[cfg(test)]
mod tests;
