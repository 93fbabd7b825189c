//! Image references as Docker's CLI parses them (distribution/reference):
//! `[domain/]path[:tag][@digest]`, normalised to `docker.io/library/...`.

const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";

/// A reference that Docker would reject.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The text does not have the shape of a reference.
    #[error("invalid reference format: {input:?}")]
    Format {
        /// The rejected text.
        input: String,
    },
    /// Repository names are lower-case.
    #[error("invalid reference format: repository name ({path}) must be lowercase")]
    Uppercase {
        /// The repository path that has upper-case letters.
        path: String,
    },
}

impl ReferenceError {
    /// A malformed reference is bad user input.
    pub fn class(&self) -> berth::api::ErrorClass {
        berth::api::ErrorClass::InvalidArgument
    }
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host, `docker.io` when none is given.
    pub domain: String,
    /// Repository path, with `library/` added for official Docker Hub images.
    pub path: String,
    /// The tag, if given.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if given.
    pub digest: Option<String>,
}

fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Reference {
    /// Parses `input` like Docker's `ParseNormalizedNamed`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let format_err = || ReferenceError::Format {
            input: input.to_string(),
        };
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let (algo, hex) = d.split_once(':').ok_or_else(format_err)?;
                if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(format_err());
                }
                (r, Some(d.to_string()))
            }
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !valid_tag(tag) {
                    return Err(format_err());
                }
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(format_err());
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let path =
            if (domain == DEFAULT_DOMAIN || domain == "index.docker.io") && !path.contains('/') {
                format!("{OFFICIAL_PREFIX}{path}")
            } else {
                path
            };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase { path });
        }
        if !path.split('/').all(valid_component) {
            return Err(format_err());
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short repository name people type: `busybox`.
    pub fn familiar_name(&self) -> String {
        familiar_name(&self.name())
    }

    /// The tag, or `latest` when the reference has neither tag nor digest.
    pub fn tag_or_latest(&self) -> Option<String> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t.clone()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        }
    }

    /// `busybox:latest`, `localhost:5000/app@sha256:...`: the familiar form with
    /// the default tag filled in, as Docker prints it in messages.
    pub fn familiar_string_with_default_tag(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = self.tag_or_latest() {
            s.push(':');
            s.push_str(&t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// Strips `docker.io/` and `library/` from a normalised repository name.
pub fn familiar_name(name: &str) -> String {
    let rest = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"));
    match rest {
        Some(r) => match r.strip_prefix(OFFICIAL_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => r.to_string(),
        },
        None => name.to_string(),
    }
}

/// Splits `repo:tag` at the tag colon (not a registry port's colon).
pub fn split_repo_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.familiar_string_with_default_tag(), "busybox:latest");
        let r = Reference::parse("localhost:5000/berth/app:v1").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "berth/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.familiar_name(), "localhost:5000/berth/app");
        let r = Reference::parse("berth/app").unwrap();
        assert_eq!(r.name(), "docker.io/berth/app");
        assert_eq!(r.familiar_name(), "berth/app");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.tag_or_latest(), None);
    }

    #[test]
    fn rejects_bad_references() {
        assert!(matches!(
            Reference::parse("BusyBox"),
            Err(ReferenceError::Uppercase { .. })
        ));
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("a:b:c").is_err());
        assert!(Reference::parse("a b").is_err());
        assert!(Reference::parse("busybox:").is_err());
    }

    #[test]
    fn familiar_and_split() {
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("docker.io/library/a/b"), "library/a/b");
        assert_eq!(familiar_name("busybox"), "busybox");
        assert_eq!(
            split_repo_tag("localhost:5000/a:v1"),
            ("localhost:5000/a", Some("v1"))
        );
        assert_eq!(
            split_repo_tag("localhost:5000/a"),
            ("localhost:5000/a", None)
        );
    }
}
