//! A small subset of Go's text/template, enough for Docker's `--format` flags:
//! `{{.Field}}`, `{{.Field.Sub}}`, `{{json .}}`, pipelines (`{{.X | json}}`),
//! the common Docker functions (`json`, `join`, `index`, `upper`, `lower`,
//! `title`, `split`, `len`, `println`, `truncate`, `eq`, `ne`, `not`, `and`,
//! `or`, `printf` with simple verbs), `{{if}}`/`{{else}}`/`{{range}}`/`{{with}}`
//! and `{{- -}}` trim markers. Templates run on JSON values; field lookup is
//! exact first and then case-insensitive, so both Go names (`.ID`,
//! `.APIVersion`) and JSON names (`.Id`, `.ApiVersion`) work, as they do in
//! Docker, which falls back from the typed struct to the raw JSON map.

use serde_json::Value;

/// A template that failed to parse or to run.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The template text is malformed.
    #[error("template parsing error: template: :1: {message}")]
    Parse {
        /// What is wrong with the text.
        message: String,
    },
    /// The template is well formed but cannot be applied to the data.
    #[error("template: :1: executing \"\" at <{at}>: {message}")]
    Exec {
        /// The action that failed.
        at: String,
        /// Why it failed.
        message: String,
    },
}

impl FormatError {
    /// Both kinds are the user's input being unusable.
    pub fn class(&self) -> berth::api::ErrorClass {
        berth::api::ErrorClass::InvalidArgument
    }
}

fn parse_err(message: impl Into<String>) -> FormatError {
    FormatError::Parse {
        message: message.into(),
    }
}

/// Docker's `--format` value after its keyword expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatSpec {
    /// Whether output is a table (header row, tab-aligned columns).
    pub table: bool,
    /// The template text, with `\t` and `\n` escapes already turned into characters.
    pub template: String,
}

impl FormatSpec {
    /// Expands Docker's keywords: "" and "table" use `default_table`, "json"
    /// means `{{json .}}`, "table X" is a table of X; anything else is a raw template.
    pub fn parse(format: &str, default_table: &str) -> FormatSpec {
        let trimmed = format.trim();
        let (table, body) = if trimmed.is_empty() || trimmed == "table" {
            (true, default_table)
        } else if trimmed == "json" {
            (false, "{{json .}}")
        } else if let Some(rest) = trimmed.strip_prefix("table ") {
            (true, rest)
        } else {
            (false, format)
        };
        // Docker trims spaces around table formats only after removing the
        // keyword, and always expands the two escapes users type in shells.
        let body = if table { body.trim_matches(' ') } else { body };
        FormatSpec {
            table,
            template: body.replace("\\t", "\t").replace("\\n", "\n"),
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline {
    source: String,
    commands: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    Dot(Vec<String>),
    Root(Vec<String>),
    Ident(String),
    Literal(Value),
    Sub(Box<Pipeline>, Vec<String>),
}

/// How a list of nodes ended while parsing.
enum Terminator {
    Eof,
    End,
    Else,
    ElseIf(Pipeline),
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, FormatError> {
        let mut parser = Parser {
            items: split_actions(text)?,
            pos: 0,
        };
        let (nodes, term) = parser.list()?;
        match term {
            Terminator::Eof => Ok(Template { nodes }),
            Terminator::End => Err(parse_err("unexpected {{end}}")),
            Terminator::Else | Terminator::ElseIf(_) => Err(parse_err("unexpected {{else}}")),
        }
    }

    /// Runs the template on `data`.
    pub fn render(&self, data: &Value) -> Result<String, FormatError> {
        let mut out = String::new();
        exec_list(&self.nodes, data, data, &mut out)?;
        Ok(out)
    }
}

/// Raw pieces of a template: literal text or the inside of an action.
enum Item {
    Text(String),
    Action(String),
}

/// Cuts the text at `{{ }}`, applying `{{-` and `-}}` trimming.
fn split_actions(text: &str) -> Result<Vec<Item>, FormatError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let (trim_left, after) = match after.strip_prefix('-') {
            Some(a) if a.starts_with(char::is_whitespace) => (true, a),
            _ => (false, after),
        };
        if trim_left {
            literal = literal.trim_end();
        }
        if !literal.is_empty() {
            items.push(Item::Text(literal.to_string()));
        }
        let end = find_action_end(after).ok_or_else(|| parse_err("unclosed action"))?;
        let mut inner = &after[..end];
        trim_next = false;
        if let Some(stripped) = inner.strip_suffix('-')
            && stripped.ends_with(char::is_whitespace)
        {
            inner = stripped;
            trim_next = true;
        }
        let inner = inner.trim();
        // Comments produce nothing.
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            items.push(Item::Action(inner.to_string()));
        }
        rest = &after[end + 2..];
    }
    let literal = if trim_next { rest.trim_start() } else { rest };
    if !literal.is_empty() {
        items.push(Item::Text(literal.to_string()));
    }
    Ok(items)
}

/// The index of the `}}` closing an action, skipping quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || b == b'`' {
                    quote = Some(b);
                } else if b == b'}' && bytes.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, Terminator), FormatError> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = &self.items[self.pos];
            self.pos += 1;
            let action = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action(a) => a.clone(),
            };
            let (keyword, rest) = match action.split_once(char::is_whitespace) {
                Some((k, r)) => (k, r.trim()),
                None => (action.as_str(), ""),
            };
            match keyword {
                "end" => return Ok((nodes, Terminator::End)),
                "else" if rest.is_empty() => return Ok((nodes, Terminator::Else)),
                "else" => {
                    let cond = rest
                        .strip_prefix("if")
                        .filter(|r| r.starts_with(char::is_whitespace))
                        .ok_or_else(|| parse_err(format!("unexpected {rest:?} in else")))?;
                    return Ok((nodes, Terminator::ElseIf(parse_pipeline(cond.trim())?)));
                }
                "if" | "range" | "with" => {
                    let pipe = parse_pipeline(rest)?;
                    let (body, otherwise) = self.block(keyword)?;
                    nodes.push(match keyword {
                        "if" => Node::If(pipe, body, otherwise),
                        "range" => Node::Range(pipe, body, otherwise),
                        _ => Node::With(pipe, body, otherwise),
                    });
                }
                _ => nodes.push(Node::Action(parse_pipeline(&action)?)),
            }
        }
        Ok((nodes, Terminator::Eof))
    }

    /// The body and else-branch of a control structure, through its `{{end}}`.
    fn block(&mut self, keyword: &str) -> Result<(Vec<Node>, Vec<Node>), FormatError> {
        let (body, term) = self.list()?;
        let otherwise = match term {
            Terminator::End => Vec::new(),
            Terminator::Else => match self.list()? {
                (nodes, Terminator::End) => nodes,
                _ => return Err(parse_err(format!("expected end for {keyword}"))),
            },
            Terminator::ElseIf(cond) => {
                let (then, otherwise) = self.block("if")?;
                vec![Node::If(cond, then, otherwise)]
            }
            Terminator::Eof => return Err(parse_err(format!("unexpected EOF in {keyword}"))),
        };
        Ok((body, otherwise))
    }
}

/// Splits an action into tokens: words, strings, parentheses and pipes.
fn tokenize(s: &str) -> Result<Vec<String>, FormatError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' || c == '(' {
            tokens.push(c.to_string());
            i += 1;
        } else if c == ')' {
            // A closing parenthesis may be followed by a field chain: `(x).Y`.
            let start = i;
            i += 1;
            while i < chars.len() && !chars[i].is_whitespace() && !"|()".contains(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == '"' || c == '`' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                if c == '"' && chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(parse_err("unterminated quoted string"));
            }
            i += 1;
            tokens.push(chars[start..i].iter().collect());
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"|()".contains(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        }
    }
    Ok(tokens)
}

fn parse_pipeline(s: &str) -> Result<Pipeline, FormatError> {
    let tokens = tokenize(s)?;
    let mut pos = 0;
    let pipe = pipeline_tokens(&tokens, &mut pos, s)?;
    if pos != tokens.len() {
        return Err(parse_err(format!(
            "unexpected {:?} in command",
            tokens[pos]
        )));
    }
    Ok(pipe)
}

fn pipeline_tokens(
    tokens: &[String],
    pos: &mut usize,
    source: &str,
) -> Result<Pipeline, FormatError> {
    let mut commands = Vec::new();
    let mut current = Vec::new();
    while *pos < tokens.len() {
        let tok = &tokens[*pos];
        if tok.starts_with(')') {
            break;
        }
        *pos += 1;
        if tok == "|" {
            if current.is_empty() {
                return Err(parse_err("missing command before |"));
            }
            commands.push(std::mem::take(&mut current));
        } else if tok == "(" {
            let inner = pipeline_tokens(tokens, pos, source)?;
            let close = tokens
                .get(*pos)
                .filter(|t| t.starts_with(')'))
                .ok_or_else(|| parse_err("unclosed left paren"))?;
            *pos += 1;
            current.push(Arg::Sub(Box::new(inner), field_chain(&close[1..])?));
        } else {
            current.push(parse_arg(tok)?);
        }
    }
    if current.is_empty() {
        return Err(parse_err(format!(
            "missing value for command in {source:?}"
        )));
    }
    commands.push(current);
    Ok(Pipeline {
        source: source.to_string(),
        commands,
    })
}

fn field_chain(s: &str) -> Result<Vec<String>, FormatError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let rest = s
        .strip_prefix('.')
        .ok_or_else(|| parse_err(format!("unexpected {s:?}")))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('.')
        .map(|f| {
            if f.is_empty() || !f.chars().all(|c| c.is_alphanumeric() || c == '_') {
                Err(parse_err(format!("bad field name {s:?}")))
            } else {
                Ok(f.to_string())
            }
        })
        .collect()
}

fn parse_arg(tok: &str) -> Result<Arg, FormatError> {
    if tok.starts_with('.') {
        return Ok(Arg::Dot(field_chain(tok)?));
    }
    if let Some(rest) = tok.strip_prefix('$') {
        if rest.is_empty() || rest.starts_with('.') {
            return Ok(Arg::Root(field_chain(rest)?));
        }
        return Err(parse_err(format!("undefined variable {tok:?}")));
    }
    if tok.starts_with('"') {
        let s: String =
            serde_json::from_str(tok).map_err(|_| parse_err(format!("bad string {tok}")))?;
        return Ok(Arg::Literal(Value::String(s)));
    }
    if let Some(raw) = tok.strip_prefix('`') {
        return Ok(Arg::Literal(Value::String(
            raw.trim_end_matches('`').to_string(),
        )));
    }
    match tok {
        "true" => return Ok(Arg::Literal(Value::Bool(true))),
        "false" => return Ok(Arg::Literal(Value::Bool(false))),
        "nil" => return Ok(Arg::Literal(Value::Null)),
        _ => {}
    }
    if tok.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        let n: serde_json::Number = tok
            .parse()
            .map_err(|_| parse_err(format!("bad number syntax: {tok:?}")))?;
        return Ok(Arg::Literal(Value::Number(n)));
    }
    if tok.chars().all(|c| c.is_alphanumeric() || c == '_') {
        if FUNCTIONS.contains(&tok) {
            return Ok(Arg::Ident(tok.to_string()));
        }
        return Err(parse_err(format!("function {tok:?} not defined")));
    }
    Err(parse_err(format!("unexpected {tok:?} in command")))
}

const FUNCTIONS: &[&str] = &[
    "json", "join", "index", "upper", "lower", "title", "split", "len", "println", "print",
    "printf", "truncate", "eq", "ne", "not", "and", "or", "pad",
];

fn exec_list(
    nodes: &[Node],
    dot: &Value,
    root: &Value,
    out: &mut String,
) -> Result<(), FormatError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, dot, root)?;
                out.push_str(&print_value(&v));
            }
            Node::If(p, then, otherwise) => {
                if truthy(&eval_pipeline(p, dot, root)?) {
                    exec_list(then, dot, root, out)?;
                } else {
                    exec_list(otherwise, dot, root, out)?;
                }
            }
            Node::With(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, root)?;
                if truthy(&v) {
                    exec_list(body, &v, root, out)?;
                } else {
                    exec_list(otherwise, dot, root, out)?;
                }
            }
            Node::Range(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, root)?;
                let elems: Vec<&Value> = match &v {
                    Value::Array(a) => a.iter().collect(),
                    Value::Object(m) => m.values().collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(exec_err(
                            &p.source,
                            format!("range can't iterate over {}", print_value(other)),
                        ));
                    }
                };
                if elems.is_empty() {
                    exec_list(otherwise, dot, root, out)?;
                }
                for e in elems {
                    exec_list(body, e, root, out)?;
                }
            }
        }
    }
    Ok(())
}

fn exec_err(at: &str, message: impl Into<String>) -> FormatError {
    FormatError::Exec {
        at: at.to_string(),
        message: message.into(),
    }
}

/// The marker for a field that does not exist, printed by Go as `<no value>`.
const MISSING: &str = "\u{0}<no value>";

fn missing() -> Value {
    Value::String(MISSING.to_string())
}

fn lookup(mut v: Value, fields: &[String], at: &str) -> Result<Value, FormatError> {
    for f in fields {
        v = match v {
            Value::Object(mut m) => {
                if let Some(x) = m.remove(f) {
                    x
                } else if let Some(k) = m.keys().find(|k| k.eq_ignore_ascii_case(f)).cloned() {
                    m.remove(&k).unwrap_or(Value::Null)
                } else {
                    missing()
                }
            }
            // Go: a field of a nil map or pointer yields no value.
            Value::Null => missing(),
            Value::String(s) if s == MISSING => missing(),
            other => {
                return Err(exec_err(
                    at,
                    format!("can't evaluate field {f} in type {}", type_name(&other)),
                ));
            }
        };
    }
    Ok(v)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn eval_pipeline(p: &Pipeline, dot: &Value, root: &Value) -> Result<Value, FormatError> {
    let mut prev: Option<Value> = None;
    for cmd in &p.commands {
        prev = Some(eval_command(cmd, prev, dot, root, &p.source)?);
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn eval_arg(a: &Arg, dot: &Value, root: &Value, at: &str) -> Result<Value, FormatError> {
    match a {
        Arg::Dot(fields) => lookup(dot.clone(), fields, at),
        Arg::Root(fields) => lookup(root.clone(), fields, at),
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Sub(p, fields) => lookup(eval_pipeline(p, dot, root)?, fields, at),
        Arg::Ident(name) => call(name, Vec::new(), at),
    }
}

fn eval_command(
    cmd: &[Arg],
    piped: Option<Value>,
    dot: &Value,
    root: &Value,
    at: &str,
) -> Result<Value, FormatError> {
    match &cmd[0] {
        Arg::Ident(name) => {
            let mut args = cmd[1..]
                .iter()
                .map(|a| eval_arg(a, dot, root, at))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(name, args, at)
        }
        first => {
            if cmd.len() > 1 || piped.is_some() {
                return Err(exec_err(at, "can't give argument to non-function"));
            }
            eval_arg(first, dot, root, at)
        }
    }
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) if s == MISSING => String::new(),
        Value::String(s) => s.clone(),
        other => print_value(other),
    }
}

fn call(name: &str, args: Vec<Value>, at: &str) -> Result<Value, FormatError> {
    let want = |n: usize| -> Result<(), FormatError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(exec_err(
                at,
                format!(
                    "error calling {name}: wrong number of args: want {n} got {}",
                    args.len()
                ),
            ))
        }
    };
    let s = |v: String| Ok(Value::String(v));
    match name {
        "json" => {
            want(1)?;
            let v = if matches!(&args[0], Value::String(s) if s == MISSING) {
                Value::Null
            } else {
                args[0].clone()
            };
            s(go_json(&v))
        }
        "join" => {
            want(2)?;
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(as_str).collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![as_str(other)],
            };
            s(items.join(&as_str(&args[1])))
        }
        "split" => {
            want(2)?;
            let parts = as_str(&args[0])
                .split(as_str(&args[1]).as_str())
                .map(|p| Value::String(p.to_string()))
                .collect();
            Ok(Value::Array(parts))
        }
        "index" => {
            if args.is_empty() {
                return Err(exec_err(at, "error calling index: missing argument"));
            }
            let mut v = args[0].clone();
            for key in &args[1..] {
                v = match (&v, key) {
                    (Value::Object(m), k) => m.get(&as_str(k)).cloned().unwrap_or_else(missing),
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .ok_or_else(|| {
                            exec_err(at, format!("error calling index: index out of range: {n}"))
                        })?,
                    (Value::Null, _) => missing(),
                    (other, _) => {
                        return Err(exec_err(
                            at,
                            format!(
                                "error calling index: can't index item of type {}",
                                type_name(other)
                            ),
                        ));
                    }
                };
            }
            Ok(v)
        }
        "upper" => {
            want(1)?;
            s(as_str(&args[0]).to_uppercase())
        }
        "lower" => {
            want(1)?;
            s(as_str(&args[0]).to_lowercase())
        }
        "title" => {
            want(1)?;
            s(title_case(&as_str(&args[0])))
        }
        "len" => {
            want(1)?;
            let n = match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(st) => st.len(),
                Value::Null => 0,
                other => {
                    return Err(exec_err(
                        at,
                        format!("error calling len: len of type {}", type_name(other)),
                    ));
                }
            };
            Ok(Value::from(n))
        }
        "truncate" => {
            want(2)?;
            let n = args[1].as_u64().unwrap_or(0) as usize;
            s(as_str(&args[0]).chars().take(n).collect())
        }
        "pad" => {
            want(3)?;
            let before = args[1].as_u64().unwrap_or(0) as usize;
            let after = args[2].as_u64().unwrap_or(0) as usize;
            s(format!(
                "{}{}{}",
                " ".repeat(before),
                as_str(&args[0]),
                " ".repeat(after)
            ))
        }
        "print" | "println" => {
            // Go's fmt.Sprint puts spaces only between operands that are not strings.
            let mut text = String::new();
            for (i, a) in args.iter().enumerate() {
                let sep =
                    name == "println" || (i > 0 && !a.is_string() && !args[i - 1].is_string());
                if i > 0 && sep {
                    text.push(' ');
                }
                text.push_str(&print_value(a));
            }
            if name == "println" {
                text.push('\n');
            }
            s(text)
        }
        "printf" => {
            if args.is_empty() {
                return Err(exec_err(at, "error calling printf: missing format"));
            }
            s(sprintf(&as_str(&args[0]), &args[1..]))
        }
        "eq" | "ne" => {
            want(2)?;
            let equal = args[0] == args[1];
            Ok(Value::Bool(if name == "eq" { equal } else { !equal }))
        }
        "not" => {
            want(1)?;
            Ok(Value::Bool(!truthy(&args[0])))
        }
        "and" => Ok(args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "or" => Ok(args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        _ => Err(exec_err(at, format!("function {name:?} not defined"))),
    }
}

/// Docker's `title`: upper-case the first letter of every word.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

/// `printf` with the verbs people use in formats: `%s`, `%v`, `%d`, `%q`, `%%`.
fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => match args.next() {
                Some(v) => out.push_str(&serde_json::to_string(&as_str(v)).unwrap_or_default()),
                None => out.push_str("%!q(MISSING)"),
            },
            Some(verb) => match args.next() {
                Some(v) => out.push_str(&print_value(v)),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != MISSING,
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `%v` rendering of a value decoded from JSON.
pub fn print_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s == MISSING => "<no value>".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(print_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", print_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Compact JSON escaped the way Go's encoding/json does (`<`, `>`, `&` as `\u003c`...).
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".to_string());
    go_escape(&s)
}

/// Applies Go's HTML-safe escaping to already-encoded JSON text; the three
/// characters can only occur inside strings there, so a plain replace is exact.
fn go_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Re-indents JSON text like Go's `json.Indent(dst, src, "", "    ")`, keeping
/// key order and string escapes exactly as the daemon sent them.
pub fn indent_json(src: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // An opener's newline is deferred so that `{}` and `[]` stay compact.
    let mut pending_open = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    for c in src.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if pending_open && c != '}' && c != ']' {
            pending_open = false;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                pending_open = true;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if pending_open {
                    pending_open = false;
                } else {
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_and_literals() {
        let v = json!({"ID": "abc", "Config": {"Env": ["A=1", "B=2"], "User": ""}, "Size": 42});
        assert_eq!(render("id={{.ID}} size={{.Size}}", &v), "id=abc size=42");
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.config.env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.Missing}}", &v), "<no value>");
        assert_eq!(render("{{.Missing.Deeper}}", &v), "<no value>");
        assert_eq!(render("{{.}}", &json!("x")), "x");
        assert_eq!(render("{{ .ID }}\t{{.Size}}\n", &v), "abc\t42\n");
    }

    #[test]
    fn json_function_matches_go() {
        let v = json!({"B": "<none>", "A": 1});
        assert_eq!(
            render("{{json .}}", &v),
            r#"{"A":1,"B":"\u003cnone\u003e"}"#
        );
        assert_eq!(render("{{json .B}}", &v), r#""\u003cnone\u003e""#);
        assert_eq!(render("{{.A | json}}", &v), "1");
        assert_eq!(render("{{json .Nope}}", &v), "null");
    }

    #[test]
    fn functions() {
        let v = json!({"L": ["a", "b"], "M": {"k": "v"}, "S": "hello world"});
        assert_eq!(render(r#"{{join .L ","}}"#, &v), "a,b");
        assert_eq!(render(r#"{{index .M "k"}}"#, &v), "v");
        assert_eq!(render("{{index .L 1}}", &v), "b");
        assert_eq!(
            render("{{upper .S}} {{title .S}}", &v),
            "HELLO WORLD Hello World"
        );
        assert_eq!(render("{{len .L}}", &v), "2");
        assert_eq!(render("{{truncate .S 5}}", &v), "hello");
        assert_eq!(render(r#"{{printf "%s-%d" .S 3}}"#, &v), "hello world-3");
        assert_eq!(render(r#"{{(index .L 0) | upper}}"#, &v), "A");
    }

    #[test]
    fn control_structures_and_trim() {
        let v = json!({"L": ["a", "b"], "T": true, "E": [], "Env": {"K": "V"}});
        assert_eq!(render("{{range .L}}<{{.}}>{{end}}", &v), "<a><b>");
        assert_eq!(render("{{range .E}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(render("{{if .T}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(render("{{if .E}}a{{else if .T}}b{{else}}c{{end}}", &v), "b");
        assert_eq!(render("{{with .Env}}{{.K}}{{end}}", &v), "V");
        assert_eq!(render("a  {{- .T -}}  b", &v), "atrueb");
        assert_eq!(render("{{range .L}}{{println .}}{{end}}", &v), "a\nb\n");
        assert_eq!(render(r#"{{if eq .T true}}t{{end}}"#, &v), "t");
        assert_eq!(render("{{range .L}}{{$.T}}{{end}}", &v), "truetrue");
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            Template::parse("{{.ID"),
            Err(FormatError::Parse { .. })
        ));
        assert!(matches!(
            Template::parse("{{if .X}}"),
            Err(FormatError::Parse { .. })
        ));
        assert!(matches!(
            Template::parse("{{nosuch .X}}"),
            Err(FormatError::Parse { .. })
        ));
        assert!(matches!(
            Template::parse("{{end}}"),
            Err(FormatError::Parse { .. })
        ));
        let err = Template::parse("{{.A.B}}")
            .unwrap()
            .render(&json!({"A": "s"}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: :1: executing \"\" at <.A.B>: can't evaluate field B in type string"
        );
    }

    #[test]
    fn format_spec_keywords() {
        let d = "{{.ID}}\\t{{.Size}}";
        assert_eq!(
            FormatSpec::parse("", d),
            FormatSpec {
                table: true,
                template: "{{.ID}}\t{{.Size}}".into()
            }
        );
        assert!(FormatSpec::parse("table", d).table);
        assert_eq!(
            FormatSpec::parse("json", d),
            FormatSpec {
                table: false,
                template: "{{json .}}".into()
            }
        );
        assert_eq!(
            FormatSpec::parse("table {{.ID}}\\t{{.Tag}}", d),
            FormatSpec {
                table: true,
                template: "{{.ID}}\t{{.Tag}}".into()
            }
        );
        assert_eq!(
            FormatSpec::parse("{{.ID}}\\n", d),
            FormatSpec {
                table: false,
                template: "{{.ID}}\n".into()
            }
        );
    }

    #[test]
    fn indent_like_go() {
        let src =
            r#"[{"Id":"sha256:1","RepoTags":["a:b"],"Config":{},"E":[],"S":"x, {y}: \"z\""}]"#;
        let want = "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"a:b\"\n        ],\n        \"Config\": {},\n        \"E\": [],\n        \"S\": \"x, {y}: \\\"z\\\"\"\n    }\n]";
        assert_eq!(indent_json(src), want);
    }
}
