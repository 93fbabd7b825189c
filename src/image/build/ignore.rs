//! `.dockerignore`: reading the file as moby's `dockerignore.ReadAll` does and
//! matching context paths with the rules of moby's `fileutils.PatternMatcher`
//! (Docker 20.10), which both `docker build` (choosing what to send) and
//! dockerd (dropping what must not be used) apply.
//!
//! Docker turns each pattern into a regular expression: `*` is any run of
//! characters but `/`, `?` one character but `/`, `**` any number of whole
//! directories (`**` at the end: anything), `[...]` a character class (`^`
//! negates it, and a class also matches `/`), `\x` the character `x`. A path
//! is excluded when the last pattern matching it, or matching one of its
//! parent directories, is not a `!` exception. Docker passes the regexp
//! metacharacters `+ ( ) | { } ^` through unescaped by accident; here they
//! match themselves, which is what anybody writing them means.

use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// Failures reading patterns or walking a context directory.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    /// A line that is only `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// A pattern Go's `filepath.Match` rejects (an unclosed `[`, a trailing `\`).
    #[error("syntax error in pattern {pattern:?}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
    },
    /// A directory of the context could not be read.
    #[error("can't read {}: {source}", path.display())]
    Walk {
        /// The directory or file that failed.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

impl IgnoreError {
    /// The error's class.
    pub fn class(&self) -> crate::api::ErrorClass {
        match self {
            IgnoreError::IllegalExclusion | IgnoreError::BadPattern { .. } => {
                crate::api::ErrorClass::InvalidArgument
            }
            IgnoreError::Walk { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                crate::api::ErrorClass::Forbidden
            }
            IgnoreError::Walk { .. } => crate::api::ErrorClass::Internal,
        }
    }
}

/// Reads a `.dockerignore` file's patterns as moby's `ReadAll`: a UTF-8 BOM is
/// dropped, lines starting with `#` are comments, lines are trimmed and blank
/// ones skipped, each pattern (after a leading `!`) is cleaned like Go's
/// `filepath.Clean` and loses a leading `/`.
pub fn read_all(content: &[u8]) -> Vec<String> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut out = Vec::new();
    for line in split_lines(content) {
        let line = String::from_utf8_lossy(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

/// Go's `bufio.ScanLines`: lines end at `\n`, a `\r` before it is dropped,
/// and a last line without `\n` still counts.
fn split_lines(content: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
    if content.is_empty() || content.ends_with(b"\n") {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// Go's `path.Clean` on a slash-separated path: the shortest equivalent path,
/// `.` for an empty one.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned.
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_string(),
    }
}

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character that matches itself.
    Literal(char),
    /// `?`: any one character but `/`.
    One,
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` (or `**/`) before more pattern: nothing, or anything ending in `/`.
    Dirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One `.dockerignore` pattern, cleaned and compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    dirs: usize,
    exclusion: bool,
    tokens: Vec<Token>,
}

impl Pattern {
    /// The cleaned pattern, without its `!` (moby's `Pattern.String`).
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is a `!` exception.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// Whether the pattern's regexp matches `path` as a whole.
    fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        match_tokens(&self.tokens, &chars)
    }
}

/// moby's `PatternMatcher`: an ordered list of patterns where the last one
/// matching a path (or one of its parents) decides.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Compiles `patterns` as `NewPatternMatcher`: trimmed, blank ones
    /// skipped, cleaned, `!` marking exceptions.
    pub fn new<I, S>(patterns: I) -> Result<PatternMatcher, IgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut pm = PatternMatcher::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(IgnoreError::IllegalExclusion);
                }
                p.remove(0);
                pm.exclusions = true;
            }
            if !valid_glob(&p) {
                return Err(IgnoreError::BadPattern { pattern: p });
            }
            pm.patterns.push(Pattern {
                dirs: p.split('/').count(),
                tokens: compile(&p),
                cleaned: p,
                exclusion,
            });
        }
        Ok(pm)
    }

    /// Whether `file` (slash-separated, relative to the context) is excluded:
    /// the last pattern that matches it, or matches the parent directory
    /// with as many components as the pattern has, decides.
    pub fn matches(&self, file: &str) -> bool {
        let parent = dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            let mut hit = pattern.matches(file);
            if !hit && parent != "." && pattern.dirs <= parent_dirs.len() {
                hit = pattern.matches(&parent_dirs[..pattern.dirs].join("/"));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether any pattern is a `!` exception.
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether an excluded directory `dir` may be skipped with all its
    /// contents, as moby's `TarWithOptions` decides: only when no exception
    /// pattern starts with `dir/` (an exception elsewhere, such as
    /// `!**/keep`, does not reach into an excluded directory).
    pub fn skips_dir(&self, dir: &str) -> bool {
        if !self.exclusions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        !self
            .patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir_slash))
    }
}

/// moby's `fileutils.Matches`: whether `file` is excluded by `patterns`; the
/// context root itself never is.
pub fn matches<S: AsRef<str>>(file: &str, patterns: &[S]) -> Result<bool, IgnoreError> {
    let pm = PatternMatcher::new(patterns)?;
    let file = clean(file);
    if file == "." {
        return Ok(false);
    }
    Ok(pm.matches(&file))
}

/// docker CLI's `TrimBuildFilesFromExcludes`: the `.dockerignore` and the
/// Dockerfile (unless it comes from stdin) are always sent, whatever the
/// patterns say, by adding exceptions for them.
pub fn keep_build_files(
    mut excludes: Vec<String>,
    dockerfile: &str,
    dockerfile_from_stdin: bool,
) -> Vec<String> {
    if matches(".dockerignore", &excludes).unwrap_or(false) {
        excludes.push("!.dockerignore".to_string());
    }
    if !dockerfile_from_stdin && matches(dockerfile, &excludes).unwrap_or(false) {
        excludes.push(format!("!{dockerfile}"));
    }
    excludes
}

/// Go's `filepath.Match` syntax check: every `[...]` is closed and holds
/// ranges (`]` and `-` only escaped), and no `\` ends the pattern.
fn valid_glob(pattern: &str) -> bool {
    let c: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // Go's getEsc: one possibly escaped character that must not end the pattern.
    let esc = |i: &mut usize| -> Option<()> {
        match c.get(*i)? {
            '-' | ']' => return None,
            '\\' => *i += 1,
            _ => {}
        }
        c.get(*i)?;
        *i += 1;
        (*i < c.len()).then_some(())
    };
    while i < c.len() {
        match c[i] {
            '\\' => {
                if i + 1 >= c.len() {
                    return false;
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if c.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    if esc(&mut i).is_none() {
                        return false;
                    }
                    if c[i] == '-' {
                        i += 1;
                        if esc(&mut i).is_none() {
                            return false;
                        }
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// moby's `Pattern.compile`, producing tokens instead of a regexp.
fn compile(pattern: &str) -> Vec<Token> {
    let c: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        i += 1;
        match ch {
            '*' if c.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is the same as `**`.
                if c.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= c.len() {
                    Token::Rest
                } else {
                    Token::Dirs
                });
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            // A trailing `\` stays itself.
            '\\' => match c.get(i) {
                Some(&next) => {
                    i += 1;
                    tokens.push(Token::Literal(next));
                }
                None => tokens.push(Token::Literal('\\')),
            },
            '[' => {
                let (class, next) = compile_class(&c, i);
                tokens.push(class);
                i = next;
            }
            other => tokens.push(Token::Literal(other)),
        }
    }
    tokens
}

/// A validated `[...]` class starting after its `[` at `i`; returns the token
/// and the index after its `]`.
fn compile_class(c: &[char], mut i: usize) -> (Token, usize) {
    let negated = c.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let one = |i: &mut usize| {
        if c[*i] == '\\' {
            *i += 1;
        }
        let ch = c[*i];
        *i += 1;
        ch
    };
    while i < c.len() && (c[i] != ']' || ranges.is_empty()) {
        let lo = one(&mut i);
        let mut hi = lo;
        if c.get(i) == Some(&'-') {
            i += 1;
            hi = one(&mut i);
        }
        ranges.push((lo, hi));
    }
    (Token::Class { negated, ranges }, i + 1)
}

/// Whether `tokens` match all of `s`, by dynamic programming over
/// (token, position) so that many stars cannot make it exponential.
fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let n = s.len();
    // next[j]: tokens[t+1..] match s[j..]; cur[j]: tokens[t..] match s[j..].
    let mut next = vec![false; n + 1];
    next[n] = true;
    for token in tokens.iter().rev() {
        let mut cur = vec![false; n + 1];
        for j in (0..=n).rev() {
            cur[j] = match token {
                Token::Literal(ch) => j < n && s[j] == *ch && next[j + 1],
                Token::One => j < n && s[j] != '/' && next[j + 1],
                Token::Class { negated, ranges } => {
                    j < n
                        && ranges.iter().any(|(lo, hi)| *lo <= s[j] && s[j] <= *hi) != *negated
                        && next[j + 1]
                }
                Token::Star => next[j] || (j < n && s[j] != '/' && cur[j + 1]),
                // Regexp `.` does not match a newline.
                Token::Rest => next[j] || (j < n && s[j] != '\n' && cur[j + 1]),
                Token::Dirs => {
                    next[j]
                        || s[j..]
                            .iter()
                            .take_while(|ch| **ch != '\n')
                            .enumerate()
                            .any(|(k, ch)| *ch == '/' && next[j + k + 1])
                }
            };
        }
        next = cur;
    }
    next[0]
}

/// One file, directory or link `docker build` sends from a context directory.
#[derive(Debug)]
pub struct ContextEntry {
    /// The path relative to the context root, `/`-separated.
    pub rel: PathBuf,
    /// The path on the host.
    pub path: PathBuf,
    /// Its `lstat`.
    pub metadata: Metadata,
}

/// Walks `root` as moby's `TarWithOptions` does with `matcher` as its
/// exclude patterns: depth first in lexical order, symlinks not followed, the
/// root itself not listed, excluded files left out and excluded directories
/// skipped whole unless [`PatternMatcher::skips_dir`] says an exception may
/// match inside (then only the directory's own entry is left out).
pub fn walk_context(
    root: &Path,
    matcher: &PatternMatcher,
) -> Result<Vec<ContextEntry>, IgnoreError> {
    let mut out = Vec::new();
    walk_dir(root, &PathBuf::new(), matcher, &mut out)?;
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel_dir: &Path,
    matcher: &PatternMatcher,
    out: &mut Vec<ContextEntry>,
) -> Result<(), IgnoreError> {
    let walk_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IgnoreError::Walk { path, source }
    };
    let mut names: Vec<OsString> = std::fs::read_dir(dir)
        .map_err(walk_err(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(walk_err(dir))?;
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        let path = dir.join(&name);
        let rel = rel_dir.join(&name);
        let metadata = std::fs::symlink_metadata(&path).map_err(walk_err(&path))?;
        let rel_str = rel.to_string_lossy();
        let is_dir = metadata.is_dir();
        if matcher.matches(&rel_str) {
            if is_dir && !matcher.skips_dir(&rel_str) {
                walk_dir(&path, &rel, matcher, out)?;
            }
            continue;
        }
        out.push(ContextEntry {
            rel: rel.clone(),
            path: path.clone(),
            metadata,
        });
        if is_dir {
            walk_dir(&path, &rel, matcher, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(patterns: &[&str]) -> PatternMatcher {
        PatternMatcher::new(patterns).unwrap()
    }

    /// moby pkg/fileutils TestMatches (20.10), each pattern alone.
    #[test]
    fn moby_match_table() {
        let table: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a\\*b", "a*b", true),
        ];
        for (pattern, text, want) in table {
            assert_eq!(
                pm(&[pattern]).matches(text),
                *want,
                "pattern={pattern:?} text={text:?}"
            );
        }
    }

    /// The rest of moby's fileutils tests: `Matches` and the matcher's bookkeeping.
    #[test]
    fn moby_matches_cases() {
        assert!(matches("fileutils.go", &["*"]).unwrap());
        assert!(matches("fileutils.go", &["*.go"]).unwrap());
        assert!(matches("fileutils.go", &["!fileutils.go", "*.go"]).unwrap());
        assert!(!matches("docs/README.md", &["docs", "!docs/README.md"]).unwrap());
        assert!(!matches("docs/README.md", &["docs/", "!docs/README.md"]).unwrap());
        assert!(!matches("docs/README.md", &["docs/*", "!docs/README.md"]).unwrap());
        assert!(!matches("fileutils.go", &["*.go", "!fileutils.go"]).unwrap());
        assert!(!matches(".", &["*.go"]).unwrap());
        assert!(!matches::<&str>("/any/path/there", &[]).unwrap());
        assert!(matches!(
            matches("fileutils.go", &["!"]),
            Err(IgnoreError::IllegalExclusion)
        ));
        assert!(matches!(
            matches("/any/path/there", &["["]),
            Err(IgnoreError::BadPattern { .. })
        ));
        assert_eq!(pm(&["docs", "config", ""]).patterns().len(), 2);
        assert!(pm(&["docs", "!docs/README.md"]).exclusions());
        assert!(pm(&["docs", "  !docs/README.md"]).exclusions());
        assert!(pm(&["docs", "!docs/README.md  "]).exclusions());
        assert!(!pm(&["docs"]).exclusions());
    }

    #[test]
    fn go_match_syntax_errors() {
        for bad in [
            "[", "a[", "[]", "[]a]", "[-]", "[a-]", "a\\", "[^]", "[\\", "x/[z",
        ] {
            assert!(
                PatternMatcher::new([bad]).is_err(),
                "{bad:?} should be rejected"
            );
        }
        for good in ["[a-c]", "[\\]]", "[^a]", "a\\b", "[!a]", "[a-cx-z]", "[a]]"] {
            assert!(
                PatternMatcher::new([good]).is_ok(),
                "{good:?} should be accepted"
            );
        }
        assert_eq!(
            IgnoreError::BadPattern {
                pattern: "[".into()
            }
            .to_string(),
            "syntax error in pattern \"[\""
        );
    }

    #[test]
    fn classes_follow_the_regexp() {
        // A negated class matches `/` too (it is a regexp class).
        assert!(pm(&["a[^b]c"]).matches("a/c"));
        // `[!x]` is not a negation in Docker: `!` is one of the class's characters.
        assert!(pm(&["a[!x]c"]).matches("a!c"));
        assert!(pm(&["a[!x]c"]).matches("axc"));
        assert!(!pm(&["a[!x]c"]).matches("ayc"));
        assert!(pm(&["[\\]]"]).matches("]"));
        assert!(pm(&["f[.]o"]).matches("f.o"));
        assert!(!pm(&["f[.]o"]).matches("fxo"));
        assert!(pm(&["*.tx?"]).matches("a.txt"));
        assert!(!pm(&["*.tx?"]).matches("dir/a.txt"));
    }

    #[test]
    fn double_star_exceptions_and_order() {
        let m = pm(&["**/*.log", "!important.log"]);
        assert!(m.matches("a.log"));
        assert!(m.matches("x/y/z.log"));
        assert!(!m.matches("important.log"));
        assert!(m.matches("sub/important.log"));
        // The last matching pattern wins.
        let m = pm(&["!keep.txt", "*.txt"]);
        assert!(m.matches("keep.txt"));
        let m = pm(&["*", "!src", "src/*.tmp"]);
        assert!(m.matches("README"));
        assert!(!m.matches("src/main.c"));
        assert!(m.matches("src/x.tmp"));
        // A pattern matching a parent directory excludes what is inside.
        let m = pm(&["build"]);
        assert!(m.matches("build/out/a.o"));
        assert!(!m.matches("src/build"));
        let m = pm(&["*/temp*"]);
        assert!(m.matches("somedir/temporary.txt"));
        assert!(m.matches("somedir/temp/x"));
        assert!(!m.matches("temp"));
        let m = pm(&["temp?"]);
        assert!(m.matches("tempa"));
        assert!(!m.matches("temp/a"));
    }

    #[test]
    fn skipping_excluded_dirs_like_tar_with_options() {
        let m = pm(&["docs", "!docs/README.md"]);
        assert!(!m.skips_dir("docs"));
        assert!(m.skips_dir("other"));
        // Exceptions that do not name the directory do not reach into it.
        let m = pm(&["vendor", "!**/keep"]);
        assert!(m.skips_dir("vendor"));
        assert!(pm(&["vendor"]).skips_dir("vendor"));
    }

    #[test]
    fn read_all_like_moby() {
        let file = b"\xEF\xBB\xBF# comment\n\n  foo/../bar  \r\n/abs/path\n!/keep//me\n! spaced \n  # not a comment\n/\n./x/.\n!\nlast";
        assert_eq!(
            read_all(file),
            vec![
                "bar",
                "abs/path",
                "!keep/me",
                "!spaced",
                "# not a comment",
                "/",
                "x",
                "!",
                "last"
            ]
        );
        assert!(read_all(b"").is_empty());
        assert_eq!(read_all(b"a\n"), vec!["a"]);
        // A leading `/` is the context root.
        let m = PatternMatcher::new(read_all(b"/foo\n")).unwrap();
        assert!(m.matches("foo"));
        assert!(m.matches("foo/bar"));
        assert!(!m.matches("sub/foo"));
    }

    #[test]
    fn go_clean_and_dir() {
        for (input, want) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../../a", "../../a"),
            ("a//b/./", "a/b"),
            ("/", "/"),
            ("./", "."),
            ("a/..", "."),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
        assert_eq!(dir("file/"), "file");
        assert_eq!(dir("/"), "/");
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("a/b/c"), "a/b");
    }

    #[test]
    fn keeps_dockerfile_and_dockerignore() {
        let ex = keep_build_files(vec!["*".into()], "Dockerfile", false);
        assert_eq!(ex, vec!["*", "!.dockerignore", "!Dockerfile"]);
        let ex = keep_build_files(vec!["*".into()], "Dockerfile", true);
        assert_eq!(ex, vec!["*", "!.dockerignore"]);
        let ex = keep_build_files(vec!["*.md".into()], "sub/Dockerfile", false);
        assert_eq!(ex, vec!["*.md"]);
    }

    #[test]
    fn walks_like_tar_with_options() {
        let dir = tempfile::Builder::new()
            .prefix("berth-ignore")
            .tempdir()
            .unwrap();
        let root = dir.path();
        for d in ["docs/sub", "vendor/lib", "src", "b"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "docs/README.md",
            "docs/other.md",
            "docs/sub/x",
            "vendor/lib/keep",
            "src/main.rs",
            "src/x.tmp",
            "b/z",
            "a.txt",
            "Dockerfile",
        ] {
            std::fs::write(root.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let m = pm(&["docs", "!docs/README.md", "vendor", "!**/keep", "**/*.tmp"]);
        let rels: Vec<String> = walk_context(root, &m)
            .unwrap()
            .iter()
            .map(|e| e.rel.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rels,
            vec![
                "Dockerfile",
                "a.txt",
                "b",
                "b/z",
                "docs/README.md",
                "link",
                "src",
                "src/main.rs",
            ]
        );
    }
}
