//! `--tls`/`--tlsverify` to a daemon's `tcp://` address, with the docker
//! CLI's flags, environment and defaults: `DOCKER_TLS_VERIFY` (or
//! `--tlsverify`) verifies the daemon's certificate against `--tlscacert`;
//! `--tls` alone encrypts without verifying; the client certificate and key
//! (which berthd's `--tlsverify` demands) default to `cert.pem`/`key.pem` in
//! `$DOCKER_CERT_PATH` (else `~/.docker`) when those files exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use berth::api::ErrorClass;
use berth::tls::{AcceptAnyCertificate, TlsFileError};

/// The global TLS flags.
#[derive(Debug, Default, clap::Args)]
pub struct TlsArgs {
    /// Use TLS; implied by --tlsverify
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust certs signed only by this CA (default: $DOCKER_CERT_PATH/ca.pem, ~/.docker/ca.pem)
    #[arg(long, value_name = "string", global = true)]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default: $DOCKER_CERT_PATH/cert.pem, ~/.docker/cert.pem)
    #[arg(long, value_name = "string", global = true)]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default: $DOCKER_CERT_PATH/key.pem, ~/.docker/key.pem)
    #[arg(long, value_name = "string", global = true)]
    pub tlskey: Option<PathBuf>,
    /// Use TLS and verify the remote
    #[arg(long, global = true)]
    pub tlsverify: bool,
}

/// The environment variables the docker CLI reads for TLS.
#[derive(Debug, Default)]
pub struct TlsEnv {
    /// `DOCKER_TLS_VERIFY`: non-empty means verify.
    pub verify: Option<String>,
    /// `DOCKER_TLS`: non-empty means TLS.
    pub tls: Option<String>,
    /// `DOCKER_CERT_PATH`: where the default files are.
    pub cert_path: Option<String>,
    /// `HOME`, for `~/.docker`.
    pub home: Option<String>,
}

impl TlsEnv {
    /// This process' environment.
    pub fn from_process() -> TlsEnv {
        let var = |k| std::env::var(k).ok();
        TlsEnv {
            verify: var("DOCKER_TLS_VERIFY"),
            tls: var("DOCKER_TLS"),
            cert_path: var("DOCKER_CERT_PATH"),
            home: var("HOME"),
        }
    }
}

/// TLS settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file is unreadable or holds nothing usable.
    #[error(transparent)]
    File(#[from] TlsFileError),
    /// A certificate without its key, or the reverse.
    #[error("a client certificate needs its key: give both --tlscert and --tlskey, or neither")]
    HalfPair,
    /// rustls refused the combination.
    #[error("tls configuration: {0}")]
    Config(String),
}

impl TlsError {
    /// Bad files and flags are the user's to fix.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// The files TLS uses after defaults, and whether the server is verified.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    verify: bool,
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

fn set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

/// Applies the docker CLI's rules; `None` when TLS is off.
fn plan(args: &TlsArgs, env: &TlsEnv) -> Option<Plan> {
    let verify = args.tlsverify || set(&env.verify);
    if !(verify || args.tls || set(&env.tls)) {
        return None;
    }
    let dir = match &env.cert_path {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env.home.as_deref().unwrap_or("/root")).join(".docker"),
    };
    // A default client file counts only if it exists; a named one always.
    let pick = |flag: &Option<PathBuf>, name: &str| {
        flag.clone()
            .or_else(|| Some(dir.join(name)).filter(|p| p.exists()))
    };
    Some(Plan {
        verify,
        ca: args.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem")),
        cert: pick(&args.tlscert, "cert.pem"),
        key: pick(&args.tlskey, "key.pem"),
    })
}

/// The connector for `tcp://` hosts, or `None` when TLS is off.
pub fn connector(args: &TlsArgs, env: &TlsEnv) -> Result<Option<TlsConnector>, TlsError> {
    let Some(plan) = plan(args, env) else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if plan.verify {
        builder.with_root_certificates(berth::tls::roots(&plan.ca)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    };
    let config = match (&plan.cert, &plan.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(berth::tls::chain(cert)?, berth::tls::key(key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfPair),
    };
    Ok(Some(TlsConnector::from(Arc::new(config))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(verify: &str, cert_path: &str, home: &str) -> TlsEnv {
        TlsEnv {
            verify: Some(verify.into()),
            tls: None,
            cert_path: Some(cert_path.into()),
            home: Some(home.into()),
        }
    }

    #[test]
    fn flags_and_environment_follow_the_docker_cli() {
        let none = TlsArgs::default();
        assert_eq!(plan(&none, &TlsEnv::default()), None);
        assert_eq!(plan(&none, &env("", "", "/h")), None);
        // DOCKER_TLS_VERIFY alone: verify, files from ~/.docker; the client
        // pair only where the files exist.
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        std::fs::create_dir(dir.path().join(".docker")).unwrap();
        std::fs::write(dir.path().join(".docker/cert.pem"), "").unwrap();
        assert_eq!(
            plan(&none, &env("1", "", home)),
            Some(Plan {
                verify: true,
                ca: dir.path().join(".docker/ca.pem"),
                cert: Some(dir.path().join(".docker/cert.pem")),
                key: None,
            })
        );
        // DOCKER_CERT_PATH moves the defaults; flags override them.
        let args = TlsArgs {
            tls: true,
            tlskey: Some("/k.pem".into()),
            ..TlsArgs::default()
        };
        assert_eq!(
            plan(&args, &env("", "/certs", home)),
            Some(Plan {
                verify: false,
                ca: "/certs/ca.pem".into(),
                cert: None,
                key: Some("/k.pem".into()),
            })
        );
    }

    #[test]
    fn unusable_settings_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let verify = TlsArgs {
            tlsverify: true,
            ..TlsArgs::default()
        };
        // No CA where --tlsverify looks for it.
        let Err(e) = connector(&verify, &env("", d, d)) else {
            panic!("--tlsverify without a CA file was accepted");
        };
        assert!(
            e.to_string()
                .starts_with(&format!("tls configuration from {d}/ca.pem: ")),
            "{e}"
        );
        let half = TlsArgs {
            tls: true,
            tlscert: Some(dir.path().join("cert.pem")),
            ..TlsArgs::default()
        };
        assert!(matches!(
            connector(&half, &env("", d, d)),
            Err(TlsError::HalfPair)
        ));
    }
}
