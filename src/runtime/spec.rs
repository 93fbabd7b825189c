//! What the daemon asks the runtime to run: one [`ContainerSpec`], written as
//! `<run_dir>/spec.json` and read by the supervisor.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::RuntimeError;

/// Version of the [`ContainerSpec`] format this runtime reads and writes.
pub const SPEC_VERSION: u32 = 1;

/// A container's runtime configuration, already resolved by the daemon from
/// the image config and the create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// [`SPEC_VERSION`].
    pub version: u32,
    /// The container ID.
    pub id: String,
    /// Overlay lower dirs (the snapshots' `diff` dirs), lowest layer first.
    pub layers: Vec<PathBuf>,
    /// The writable overlay upper dir, created by the daemon.
    pub upper: PathBuf,
    /// The overlay work dir (same filesystem as `upper`), created by the daemon.
    pub work: PathBuf,
    /// Entrypoint and Cmd as Docker combines them; never empty.
    pub args: Vec<String>,
    /// `KEY=value` entries for the process environment.
    pub env: Vec<String>,
    /// Working directory inside the container; created when missing; "" means "/".
    pub cwd: String,
    /// Docker's `user[:group]`, names or numbers, resolved in the container's
    /// `/etc/passwd` and `/etc/group`; "" means root.
    pub user: String,
    /// The container's hostname (UTS namespace, `/etc/hostname`, `/etc/hosts`);
    /// "" means the first 12 characters of the ID, as with Docker.
    pub hostname: String,
    /// Whether the process gets a terminal; only `false` is supported so far.
    pub tty: bool,
    /// Whether stdin is a pipe the daemon writes to (else `/dev/null`).
    pub open_stdin: bool,
    /// The container's dir under the data root; the supervisor writes `exit.json` here.
    pub state_dir: PathBuf,
    /// The container's dir under the exec root: `spec.json`, `sup.sock`,
    /// `supervisor.json`, the generated `/etc/hostname`, `/etc/hosts` and
    /// `/etc/resolv.conf` (bound over the image's files, as Docker does), the
    /// rootfs mount point.
    pub run_dir: PathBuf,
}

impl ContainerSpec {
    /// The hostname the container gets: [`hostname`](Self::hostname), or the
    /// short ID when that is empty.
    pub fn effective_hostname(&self) -> &str {
        if self.hostname.is_empty() {
            self.id.get(..12).unwrap_or(&self.id)
        } else {
            &self.hostname
        }
    }

    /// Checks what the runtime relies on: the version, a command, absolute paths.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |detail: String| RuntimeError::InvalidSpec {
            id: self.id.clone(),
            detail,
        };
        if self.version != SPEC_VERSION {
            return Err(invalid(format!(
                "spec version {} is not {SPEC_VERSION}",
                self.version
            )));
        }
        if self.args.is_empty() || self.args[0].is_empty() {
            return Err(invalid("no command specified".into()));
        }
        if self.tty {
            return Err(invalid("a tty is not supported yet".into()));
        }
        if self.hostname.len() > 64 || self.hostname.contains(['\0', '\n']) {
            return Err(invalid(format!("invalid hostname {:?}", self.hostname)));
        }
        let paths =
            self.layers
                .iter()
                .chain([&self.upper, &self.work, &self.state_dir, &self.run_dir]);
        for p in paths {
            if !p.is_absolute() {
                return Err(invalid(format!("path {} is not absolute", p.display())));
            }
        }
        for a in self.args.iter().chain(&self.env) {
            if a.contains('\0') {
                return Err(invalid(format!("{a:?} contains a nul byte")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid spec rooted at `/r`.
    pub(crate) fn sample() -> ContainerSpec {
        ContainerSpec {
            version: SPEC_VERSION,
            id: "abc".into(),
            layers: vec!["/r/l1".into(), "/r/l2".into()],
            upper: "/r/upper".into(),
            work: "/r/work".into(),
            args: vec!["echo".into(), "hi".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "abc".into(),
            tty: false,
            open_stdin: false,
            state_dir: "/r/state".into(),
            run_dir: "/r/run".into(),
        }
    }

    #[test]
    fn sample_is_valid_and_round_trips() {
        let s = sample();
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ContainerSpec>(&json).unwrap(), s);
    }

    #[test]
    fn empty_hostname_means_short_id() {
        let mut s = sample();
        s.id = "0123456789abcdef".into();
        s.hostname.clear();
        s.validate().unwrap();
        assert_eq!(s.effective_hostname(), "0123456789ab");
    }

    #[test]
    fn bad_specs_are_rejected_with_the_reason() {
        let mut s = sample();
        s.args.clear();
        assert!(s.validate().unwrap_err().to_string().contains("no command"));
        let mut s = sample();
        s.upper = "rel".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("rel is not absolute")
        );
        let mut s = sample();
        s.version = 9;
        assert!(s.validate().is_err());
    }
}
