//! Credentials (`X-Registry-Auth`, `POST /auth` bodies) and the `WWW-Authenticate`
//! challenge a registry answers `GET /v2/` with.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// Docker's `AuthConfig` JSON (`types.AuthConfig`), as clients send it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Password (or a personal access token).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// `base64(username:password)`, as config.json stores it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    /// Deprecated by Docker, accepted and ignored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// The registry these credentials are for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// A refresh token from an earlier login.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// A bearer token to send to the registry as is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

// Credentials never reach logs, even through `{:?}`.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .field("has_secret", &self.has_secret())
            .finish()
    }
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header: base64url (padded or not; plain base64 is
    /// accepted too) of the JSON. Like dockerd, an undecodable header means no credentials.
    pub fn from_header(value: &str) -> AuthConfig {
        let value = value.trim();
        if value.is_empty() {
            return AuthConfig::default();
        }
        let bytes = URL_SAFE
            .decode(value)
            .or_else(|_| URL_SAFE_NO_PAD.decode(value))
            .or_else(|_| STANDARD.decode(value));
        bytes
            .ok()
            .and_then(|b| serde_json::from_slice::<AuthConfig>(&b).ok())
            .map(AuthConfig::normalized)
            .unwrap_or_default()
    }

    /// Encodes the config as an `X-Registry-Auth` header value.
    pub fn to_header(&self) -> String {
        URL_SAFE.encode(serde_json::to_vec(self).expect("auth config serialises"))
    }

    /// Fills `username`/`password` from `auth` when only that is given.
    pub fn normalized(mut self) -> AuthConfig {
        if self.username.is_empty()
            && self.password.is_empty()
            && !self.auth.is_empty()
            && let Ok(raw) = STANDARD.decode(self.auth.trim())
            && let Ok(s) = String::from_utf8(raw)
            && let Some((u, p)) = s.split_once(':')
        {
            self.username = u.to_string();
            self.password = p.to_string();
        }
        self
    }

    /// Whether there is anything to authenticate with.
    pub fn has_secret(&self) -> bool {
        !self.password.is_empty()
            || !self.identitytoken.is_empty()
            || !self.registrytoken.is_empty()
    }

    /// `Basic base64(user:pass)`, if a user name and password are set.
    pub fn basic_header(&self) -> Option<String> {
        (!self.username.is_empty() || !self.password.is_empty()).then(|| {
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", self.username, self.password))
            )
        })
    }
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower-cased (`bearer`, `basic`).
    pub scheme: String,
    /// Its parameters (`realm`, `service`, `scope`, ...), names lower-cased.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a `WWW-Authenticate` header value into its challenges
/// (`Bearer realm="https://auth",service="reg",scope="repository:a:pull"`, `Basic realm="x"`).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let start = *i;
        while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b',' | b'=' | b'"') {
            *i += 1;
        }
        header[start..*i].to_string()
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let word = token(&mut i);
        if word.is_empty() {
            i += 1;
            continue;
        }
        // `name=` continues the current challenge; a bare word starts a new one.
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = header[i..].chars().next().expect("in bounds");
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
                v
            } else {
                token(&mut i)
            };
            out.last_mut()
                .expect("checked non-empty")
                .params
                .push((word.to_ascii_lowercase(), value));
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    out
}

/// A token server's answer (`token` or the OAuth2 `access_token`).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    #[serde(default)]
    pub token: String,
    /// The same, OAuth2-style.
    #[serde(default)]
    pub access_token: String,
}

impl TokenResponse {
    /// Whichever of the two fields is set.
    pub fn bearer(self) -> Option<String> {
        [self.token, self.access_token]
            .into_iter()
            .find(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_challenges_parse() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/busybox:pull,push")
        );
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        let c = parse_challenges(r#"Basic realm=x, Bearer realm="a\"b", error=invalid_token"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some("x"));
        assert_eq!(c[1].param("realm"), Some("a\"b"));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn registry_auth_header_decodes_all_encodings() {
        let json = r#"{"username":"u","password":"p+/?","serveraddress":"127.0.0.1:5000"}"#;
        for enc in [
            URL_SAFE.encode(json),
            URL_SAFE_NO_PAD.encode(json),
            STANDARD.encode(json),
        ] {
            let a = AuthConfig::from_header(&enc);
            assert_eq!(a.username, "u");
            assert_eq!(a.password, "p+/?");
            assert_eq!(a.serveraddress, "127.0.0.1:5000");
        }
        assert_eq!(AuthConfig::from_header("!!!"), AuthConfig::default());
        assert_eq!(AuthConfig::from_header(""), AuthConfig::default());
        let a = AuthConfig {
            username: "x".into(),
            password: "y".into(),
            ..Default::default()
        };
        assert_eq!(AuthConfig::from_header(&a.to_header()), a);
    }

    #[test]
    fn auth_field_fills_user_and_password() {
        let a = AuthConfig {
            auth: STANDARD.encode("me:se:cret"),
            ..Default::default()
        }
        .normalized();
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("me", "se:cret")
        );
        assert_eq!(
            a.basic_header().unwrap(),
            format!("Basic {}", STANDARD.encode("me:se:cret"))
        );
        assert!(AuthConfig::default().basic_header().is_none());
        // Secrets stay out of debug output.
        assert!(!format!("{a:?}").contains("se:cret"));
    }

    #[test]
    fn token_responses_accept_both_fields() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(t.bearer().as_deref(), Some("a"));
        let t: TokenResponse = serde_json::from_str(r#"{"token":"t","access_token":"a"}"#).unwrap();
        assert_eq!(t.bearer().as_deref(), Some("t"));
        let t: TokenResponse = serde_json::from_str("{}").unwrap();
        assert!(t.bearer().is_none());
    }
}
