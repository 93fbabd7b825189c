//! Image references as Docker parses them (`github.com/distribution/reference`):
//! `busybox` is `docker.io/library/busybox:latest`, shown to users as `busybox:latest`.

use std::fmt;

use crate::image::ImageError;

/// The registry Docker assumes when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_MAX: usize = 255;

/// A normalised, validated image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), `docker.io` by default.
    pub domain: String,
    /// Repository path, `library/busybox` for official images.
    pub path: String,
    /// Tag, if the reference carries one.
    pub tag: Option<String>,
    /// `sha256:<hex>` digest, if the reference carries one.
    pub digest: Option<String>,
}

/// What a user-supplied string designates: a reference or an image ID (`sha256:<hex>` or 64 hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyReference {
    /// A repository reference.
    Named(Reference),
    /// A full image ID, always `sha256:<hex>`.
    Id(String),
}

fn invalid(input: &str, reason: &str) -> ImageError {
    ImageError::InvalidReference {
        input: input.to_string(),
        reason: reason.to_string(),
    }
}

/// Whether `s` is exactly 64 lower-case hex digits (an image ID without its algorithm).
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Validates a `sha256:<64 hex>` digest.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_full_hex_id)
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host(:port)?` where host is dot-separated `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` or `[ipv6]`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                    return false;
                }
                match after {
                    "" => return true,
                    p => match p.strip_prefix(':') {
                        Some(port) => {
                            return !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
                        }
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// `[\w][\w.-]{0,127}`
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// Docker's `splitDockerDomain`: the first component is a registry only if it looks like one.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        rest = format!("{OFFICIAL_REPO_PREFIX}{rest}");
    }
    (domain, rest)
}

/// Docker's `FamiliarName` on a repository name string as the daemon reports it
/// (`docker.io/library/busybox` is `busybox`, `docker.io/library/a/b` stays `library/a/b`);
/// unlike [`Reference::familiar_name`] it needs no parse, so it also takes names it would reject.
pub fn familiar_name(name: &str) -> String {
    let rest = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"));
    match rest {
        Some(r) => match r.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => r.to_string(),
        },
        None => name.to_string(),
    }
}

/// Splits `repo:tag` at the tag's colon, never at a registry port's (`localhost:5000/a`).
pub fn split_repo_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

/// The repository path Docker derives from `input` before validating it, tag and digest
/// removed (`Foo:v1` gives `library/Foo`), for wording errors about references that do not parse.
pub fn repository_path(input: &str) -> String {
    let (_, remainder) = split_docker_domain(input);
    let named = remainder
        .split_once('@')
        .map_or(remainder.as_str(), |(n, _)| n);
    split_repo_tag(named).0.to_string()
}

impl Reference {
    /// Parses a user-supplied reference the way `docker` does (`ParseNormalizedNamed`).
    pub fn parse(input: &str) -> Result<Reference, ImageError> {
        if is_full_hex_id(input) {
            return Err(invalid(
                input,
                "cannot specify 64-byte hexadecimal strings as a repository name",
            ));
        }
        if input.is_empty() {
            return Err(invalid(input, "empty reference"));
        }
        let (domain, remainder) = split_docker_domain(input);
        let (named, digest) = match remainder.split_once('@') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (remainder, None),
        };
        let (path, tag) = match named.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p.to_string(), Some(t.to_string())),
            _ => (named, None),
        };
        if path.to_lowercase() != path {
            return Err(invalid(input, "repository name must be lowercase"));
        }
        if !valid_domain(&domain) {
            return Err(invalid(input, "invalid registry host"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(invalid(input, "invalid repository name"));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_MAX {
            return Err(invalid(
                input,
                "repository name must not be more than 255 characters",
            ));
        }
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(invalid(input, "invalid tag"));
        }
        if let Some(d) = &digest
            && !is_sha256_digest(d)
        {
            return Err(invalid(
                input,
                "invalid digest (only sha256 with 64 lower-case hex digits)",
            ));
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `ParseAnyReference`: a full image ID (`<64 hex>` or `sha256:<64 hex>`) or a reference.
    pub fn parse_any(input: &str) -> Result<AnyReference, ImageError> {
        if is_full_hex_id(input) {
            return Ok(AnyReference::Id(format!("sha256:{input}")));
        }
        if is_sha256_digest(input) {
            return Ok(AnyReference::Id(input.to_string()));
        }
        Reference::parse(input).map(AnyReference::Named)
    }

    /// Adds `:latest` when the reference has neither tag nor digest (`TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// Whether the reference names only a repository (no tag, no digest).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox` (Docker's `FamiliarName`).
    pub fn familiar_name(&self) -> String {
        familiar_name(&self.name())
    }

    /// `busybox:latest` / `busybox@sha256:...` (Docker's `FamiliarString`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
    }
}

/// The fully qualified form, used as the index key: `docker.io/library/busybox:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

/// Go's `path.Match`: `*` and `?` never match `/`, `[...]` classes with ranges and `^`/`!`
/// negation, `\` escapes. Malformed patterns match nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len())
            .take_while(|&i| i == 0 || n[i - 1] != '/')
            .any(|i| glob_at(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && n[0] != '/' && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some((&c, rest)) = n.split_first() else {
                return false;
            };
            let mut i = 1;
            let negate = matches!(p.get(1), Some('^') | Some('!'));
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            loop {
                let Some(&lo) = p.get(i) else { return false };
                if lo == ']' && !first {
                    i += 1;
                    break;
                }
                first = false;
                let (lo, mut next) = if lo == '\\' {
                    match p.get(i + 1) {
                        Some(&e) => (e, i + 2),
                        None => return false,
                    }
                } else {
                    (lo, i + 1)
                };
                let mut hi = lo;
                if p.get(next) == Some(&'-') && p.get(next + 1).is_some_and(|&h| h != ']') {
                    hi = p[next + 1];
                    next += 2;
                }
                if lo <= c && c <= hi {
                    matched = true;
                }
                i = next;
            }
            matched != negate && c != '/' && glob_at(&p[i..], rest)
        }
        Some('\\') => match p.get(1) {
            Some(&e) => n.first() == Some(&e) && glob_at(&p[2..], &n[1..]),
            None => false,
        },
        Some(&c) => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().with_default_tag().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            full("index.docker.io/library/x"),
            "docker.io/library/x:latest"
        );
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(full("localhost:5000/a/b:v1"), "localhost:5000/a/b:v1");
        assert_eq!(full("quay.io/org/img"), "quay.io/org/img:latest");
        assert_eq!(full("[::1]:5000/x"), "[::1]:5000/x:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}"))
            .unwrap()
            .with_default_tag();
        assert_eq!(r.tag, None);
        assert_eq!(r.familiar(), format!("busybox@{d}"));
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
    }

    #[test]
    fn familiar_names_keep_library_for_nested_paths() {
        let r = Reference::parse("docker.io/library/a/b:1").unwrap();
        assert_eq!(r.familiar(), "library/a/b:1");
        assert_eq!(
            Reference::parse("library/busybox").unwrap().familiar_name(),
            "busybox"
        );
    }

    #[test]
    fn familiar_forms() {
        assert_eq!(
            Reference::parse("docker.io/library/busybox:latest")
                .unwrap()
                .familiar(),
            "busybox:latest"
        );
        assert_eq!(
            Reference::parse("docker.io/user/app").unwrap().familiar(),
            "user/app"
        );
        assert_eq!(
            Reference::parse("localhost:5000/x:1").unwrap().familiar(),
            "localhost:5000/x:1"
        );
        assert_eq!(
            Reference::parse("busybox").unwrap().familiar_name(),
            "busybox"
        );
    }

    #[test]
    fn rejects_invalid_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "a/",
            "-a",
            "a..b",
            "a@sha256:1234",
            "a@md5:0123456789abcdef0123456789abcdef",
            &"a".repeat(64).replace('a', "b"),
            &format!("x/{}", "a".repeat(300)),
            "foo bar",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(
                matches!(e, ImageError::InvalidReference { .. }),
                "{bad}: {e}"
            );
            assert_eq!(e.class(), crate::api::ErrorClass::InvalidArgument);
        }
        assert!(Reference::parse("x/a__b.c-d---e").is_ok());
    }

    #[test]
    fn familiar_name_of_strings() {
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("index.docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("docker.io/library/a/b"), "library/a/b");
        assert_eq!(familiar_name("docker.io/berth/app"), "berth/app");
        assert_eq!(
            familiar_name("localhost:5000/berth/app"),
            "localhost:5000/berth/app"
        );
        assert_eq!(familiar_name("busybox"), "busybox");
    }

    #[test]
    fn splits_repo_and_tag() {
        assert_eq!(
            split_repo_tag("localhost:5000/a:v1"),
            ("localhost:5000/a", Some("v1"))
        );
        assert_eq!(
            split_repo_tag("localhost:5000/a"),
            ("localhost:5000/a", None)
        );
        assert_eq!(
            split_repo_tag("busybox:latest"),
            ("busybox", Some("latest"))
        );
        assert_eq!(split_repo_tag("busybox"), ("busybox", None));
    }

    #[test]
    fn repository_path_before_validation() {
        assert_eq!(repository_path("BusyBox"), "library/BusyBox");
        assert_eq!(repository_path("Foo:v1"), "library/Foo");
        assert_eq!(
            repository_path("localhost:5000/Berth/App@sha256:ab"),
            "Berth/App"
        );
        assert_eq!(repository_path("index.docker.io/x:1"), "library/x");
    }

    #[test]
    fn parses_cli_examples() {
        let r = Reference::parse("localhost:5000/berth/app:v1").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "berth/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.familiar_name(), "localhost:5000/berth/app");
        let r = Reference::parse("berth/app").unwrap();
        assert_eq!(r.name(), "docker.io/berth/app");
        assert_eq!(r.familiar_name(), "berth/app");
        assert!(Reference::parse("a:b:c").is_err());
        assert!(Reference::parse("a b").is_err());
    }

    #[test]
    fn parse_any_recognises_ids() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            Reference::parse_any(&hex).unwrap(),
            AnyReference::Id(format!("sha256:{hex}"))
        );
        assert_eq!(
            Reference::parse_any(&format!("sha256:{hex}")).unwrap(),
            AnyReference::Id(format!("sha256:{hex}"))
        );
        assert!(matches!(
            Reference::parse_any("abc").unwrap(),
            AnyReference::Named(_)
        ));
    }

    #[test]
    fn glob_matches_like_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("*", "busybox"));
        assert!(!glob_match("*", "user/app"));
        assert!(glob_match("*/*", "user/app"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("[^a-c]usybox", "busybox"));
        assert!(!glob_match("alpine", "busybox"));
    }
}
