//! Restart policies (`HostConfig.RestartPolicy`), applied by the daemon as
//! dockerd 20.10 applies them (moby `restartmanager` and `daemon/monitor.go`):
//!
//! - at each exit the policy decides: `always` restarts, `unless-stopped`
//!   restarts unless the user stopped or killed the container, `on-failure[:N]`
//!   restarts on a non-zero exit at most N times (0: no limit), `no` never;
//!   a stop or kill through the API cancels any restart until the next start;
//! - a restart waits out a back-off first: 100 ms, doubled at each restart up
//!   to a minute, back to 100 ms once a run lasted 10 s; meanwhile the
//!   container is "restarting" (`State.Running` and `State.Restarting` true,
//!   no pid), as in dockerd;
//! - `RestartCount` counts the policy's restarts and is reset by a start or
//!   restart through the API;
//! - a daemon start restarts the containers whose policy says so for their
//!   last exit (`always` ones even if the user stopped them, `unless-stopped`
//!   ones only if not), as dockerd's restore does;
//! - a daemon stop with `live-restore: false` stops every running container
//!   with its stop signal and timeout, in parallel; the next start restarts
//!   them by policy (a shutdown does not count as a user's stop).
//!
//! The supervisor stays policy-free: while no daemon runs a dead container
//! waits, and the next daemon applies its policy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use berth::api::ErrorClass;
use berth::api::models::{HostConfig, RestartPolicy, RestartPolicyNameEnum};
use chrono::Utc;
use tokio::sync::Notify;

use super::{Container, ContainerService, Status, hostcfg};
use crate::error::{ApiError, ApiResult};

/// The first back-off (moby's `defaultTimeout`).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest back-off (moby's `maxRestartTimeout`).
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);
/// How long a `live-restore: false` shutdown waits for the exits it caused
/// to be fully recorded (network released) before the daemon exits.
const SHUTDOWN_SETTLE: Duration = Duration::from_secs(5);

/// A container's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Never restart (`no` or unset).
    No,
    /// Restart whatever the exit.
    Always,
    /// Like `Always`, unless the user stopped the container.
    UnlessStopped,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        /// `MaximumRetryCount`.
        max_retries: u64,
    },
}

impl Policy {
    /// The policy of a container's host settings.
    pub fn of(h: &HostConfig) -> Policy {
        let Some(p) = &h.restart_policy else {
            return Policy::No;
        };
        match p.name {
            Some(RestartPolicyNameEnum::ALWAYS) => Policy::Always,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED) => Policy::UnlessStopped,
            Some(RestartPolicyNameEnum::ON_FAILURE) => Policy::OnFailure {
                max_retries: u64::try_from(p.maximum_retry_count.unwrap_or(0)).unwrap_or(0),
            },
            Some(RestartPolicyNameEnum::NO | RestartPolicyNameEnum::EMPTY) | None => Policy::No,
        }
    }
}

/// A restart policy dockerd would refuse.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    /// `--rm` with a restart policy.
    #[error("can't create 'AutoRemove' container with restart policy")]
    AutoRemove,
    /// A retry count with a policy other than on-failure.
    #[error("maximum retry count cannot be used with restart policy '{0}'")]
    RetryCountNotAllowed(String),
    /// A negative retry count (dockerd's message, which names no value).
    #[error("maximum retry count cannot be negative")]
    NegativeRetryCount,
}

impl RestartError {
    /// Every one of these is a bad request.
    pub fn class(&self) -> ErrorClass {
        match self {
            RestartError::AutoRemove
            | RestartError::RetryCountNotAllowed(_)
            | RestartError::NegativeRetryCount => ErrorClass::InvalidArgument,
        }
    }
}

impl From<RestartError> for ApiError {
    fn from(e: RestartError) -> ApiError {
        ApiError::new(e.class(), e.to_string())
    }
}

/// dockerd's 409 for what needs a live process (exec, top, pause) while a
/// container waits out its restart back-off.
pub fn restarting_conflict(id: &str) -> ApiError {
    ApiError::conflict(format!(
        "Container {id} is restarting, wait until the container is running"
    ))
}

/// dockerd's `validateRestartPolicy`: a retry count only with on-failure,
/// never negative.
pub fn validate_policy(p: &RestartPolicy) -> Result<(), RestartError> {
    let count = p.maximum_retry_count.unwrap_or(0);
    match p.name {
        Some(RestartPolicyNameEnum::ON_FAILURE) if count < 0 => {
            Err(RestartError::NegativeRetryCount)
        }
        Some(
            name @ (RestartPolicyNameEnum::ALWAYS
            | RestartPolicyNameEnum::UNLESS_STOPPED
            | RestartPolicyNameEnum::NO),
        ) if count != 0 => Err(RestartError::RetryCountNotAllowed(name.to_string())),
        _ => Ok(()),
    }
}

/// What create checks: the policy itself, and no policy with `AutoRemove`.
pub fn validate(h: &HostConfig) -> Result<(), RestartError> {
    if h.auto_remove == Some(true) && Policy::of(h) != Policy::No {
        return Err(RestartError::AutoRemove);
    }
    h.restart_policy.as_ref().map_or(Ok(()), validate_policy)
}

/// One container's restart manager (moby's `restartManager`), in memory:
/// the back-off and whether a stop or kill cancelled restarts. A start
/// through the API replaces it with a fresh one.
#[derive(Debug, Default)]
pub struct Manager {
    /// The back-off before the next restart; zero before the first.
    backoff: Duration,
    /// A stop or kill through the API (or the daemon's shutdown) asked the
    /// container to stay down.
    cancelled: bool,
    /// Wakes a pending restart when it is cancelled.
    wake: Arc<Notify>,
}

/// A restart the policy decided on: start again after `delay`, unless woken
/// by a cancel first.
#[derive(Debug)]
pub struct Pending {
    /// The back-off.
    pub delay: Duration,
    wake: Arc<Notify>,
}

/// The facts of one exit the policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// Exit code (128+N after signal N).
    pub code: i64,
    /// The user stopped or killed it through the API.
    pub manually_stopped: bool,
    /// Restarts the policy made so far (`RestartCount`).
    pub restart_count: u64,
    /// How long the run lasted.
    pub ran_for: Duration,
}

impl Manager {
    /// moby's `ShouldRestart`: whether `policy` restarts after `exit`, and
    /// the back-off to wait first. Advances the back-off as moby does (also
    /// when the answer is no, except for policy `no` or a cancelled manager).
    pub fn decide(&mut self, policy: Policy, exit: Exit) -> Option<Duration> {
        if policy == Policy::No || self.cancelled {
            return None;
        }
        if exit.ran_for >= RESET_AFTER {
            self.backoff = Duration::ZERO;
        }
        self.backoff = if self.backoff.is_zero() {
            FIRST_BACKOFF
        } else {
            (self.backoff * 2).min(MAX_BACKOFF)
        };
        let restart = match policy {
            Policy::No => false,
            Policy::Always => true,
            Policy::UnlessStopped => !exit.manually_stopped,
            Policy::OnFailure { max_retries } => {
                (max_retries == 0 || exit.restart_count < max_retries) && exit.code != 0
            }
        };
        restart.then_some(self.backoff)
    }

    /// Cancels restarts until the next start through the API, waking a
    /// pending one.
    pub fn cancel(&mut self) {
        self.cancelled = true;
        self.wake.notify_one();
    }

    /// Whether a stop or kill cancelled restarts.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl ContainerService {
    /// At an exit of `c` with `code`: the restart its policy asks for, if
    /// any. Nothing restarts while the daemon shuts down.
    pub(super) fn restart_decision(&self, c: &Container, code: i64) -> Option<Pending> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return None;
        }
        let st = c.state();
        let ran_for = st
            .started_at
            .and_then(|t| (Utc::now() - t).to_std().ok())
            .unwrap_or_default();
        let exit = Exit {
            code,
            manually_stopped: st.manually_stopped,
            restart_count: st.restart_count,
            ran_for,
        };
        let mut m = c.restart.lock().expect("restart lock");
        let delay = m.decide(Policy::of(&c.host_config()), exit)?;
        Some(Pending {
            delay,
            wake: m.wake.clone(),
        })
    }

    /// Waits out the back-off of a restarting container, then starts it
    /// again, unless it was stopped, killed or removed meanwhile. Boxed: the
    /// start spawns the exit pump that calls this, a cycle of futures whose
    /// `Send` the compiler cannot otherwise prove.
    pub(super) fn restart_after(
        self: Arc<Self>,
        c: Arc<Container>,
        p: Pending,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            tracing::info!(id = %c.def.id, delay = ?p.delay, "restarting container by its restart policy");
            tokio::select! {
                () = tokio::time::sleep(p.delay) => {}
                () = p.wake.notified() => {}
            }
            // An adopted container may exit before the networks are back.
            let _ = self.started_up.subscribe().wait_for(|up| *up).await;
            let _op = c.op.lock().await;
            if !self.contains(&c) || !c.state().restarting {
                return;
            }
            let cancelled = c.restart.lock().expect("restart lock").is_cancelled();
            if cancelled || self.shutting_down.load(Ordering::SeqCst) {
                self.end_restarting(&c);
                return;
            }
            let started = self.start_locked(&c).await;
            let cancelled = c.restart.lock().expect("restart lock").is_cancelled();
            match started {
                // A kill (which takes no op lock) came while this started it:
                // it found nothing to signal, so the new run gets its SIGKILL.
                Ok(_) if cancelled => {
                    if let Err(e) = self.kill(&c, libc::SIGKILL).await {
                        tracing::warn!(id = %c.def.id, error = %e.message, "killing a restart a kill cancelled");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(id = %c.def.id, error = %e.message, "restarting container");
                    self.end_restarting(&c);
                }
            }
        })
    }

    /// Leaves the restarting state for exited and wakes whoever waits for
    /// the container to stop (dockerd's `SetStopped`).
    fn end_restarting(&self, c: &Container) {
        let done = self.set_state(c, |st| {
            st.restarting = false;
            st.status = Status::Exited;
            st.pid = 0;
        });
        let code = match done {
            Ok(st) => st.exit_code,
            Err(e) => {
                tracing::error!(id = %c.def.id, error = %e, "recording the end of a restart");
                c.state().exit_code
            }
        };
        for w in c.exit_waiters.lock().expect("waiter lock").drain(..) {
            let _ = w.send(code);
        }
    }

    /// A stop (or forced removal) of `c` with its op lock held: when it is
    /// restarting, cancels the restart and marks it exited now. Returns
    /// whether it was restarting.
    pub(super) fn stop_restarting(&self, c: &Container) -> ApiResult<bool> {
        if !c.state().restarting {
            return Ok(false);
        }
        c.restart.lock().expect("restart lock").cancel();
        if !self.shutting_down.load(Ordering::SeqCst) {
            self.set_state(c, |st| st.manually_stopped = true)?;
        }
        self.end_restarting(c);
        Ok(true)
    }

    /// Before a kill through the API sends `signal` (dockerd's
    /// `killWithSignal`): marks the container stopped by the user (not
    /// during the daemon's shutdown) and, for SIGKILL or its stop signal
    /// (any signal when it has no StopSignal), cancels restarts. A
    /// restarting container gets no signal: returns true, and its pending
    /// restart, woken, leaves it exited.
    pub(super) fn before_kill(&self, c: &Container, signal: i32) -> ApiResult<bool> {
        let st = c.state();
        if st.status != Status::Running {
            return Ok(false);
        }
        if !self.shutting_down.load(Ordering::SeqCst) && !st.manually_stopped {
            self.set_state(c, |st| st.manually_stopped = true)?;
        }
        let custom = c
            .def
            .config
            .stop_signal
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        if !custom
            || signal == libc::SIGKILL
            || hostcfg::stop_signal(&c.def.config).is_ok_and(|s| s == signal)
        {
            c.restart.lock().expect("restart lock").cancel();
        }
        Ok(st.restarting)
    }

    /// A start through the API: a fresh restart manager and `RestartCount`
    /// 0, as dockerd's `containerStart(resetRestartManager: true)`.
    pub(super) fn reset_restart(&self, c: &Container) {
        *c.restart.lock().expect("restart lock") = Manager::default();
    }

    /// A container the previous daemon left restarting: marked exited, so
    /// [`ContainerService::apply_restart_policies`] decides about it.
    pub(super) fn settle_restarting(&self, c: &Container) -> bool {
        if !c.state().restarting {
            return false;
        }
        if let Err(e) = self.set_state(c, |st| {
            st.restarting = false;
            st.status = Status::Exited;
            st.pid = 0;
        }) {
            tracing::error!(id = %c.def.id, error = %e, "recording a restart the previous daemon left");
        }
        true
    }

    /// At daemon start, after adoption and the networks: starts every exited
    /// container whose policy restarts it for its last exit (dockerd's
    /// restore), in parallel. Until this runs, no restart happens.
    pub async fn apply_restart_policies(self: &Arc<Self>) {
        // Restarts of adopted containers that exited meanwhile may go now.
        self.started_up.send_replace(true);
        let mut starts = tokio::task::JoinSet::new();
        for c in self.all() {
            let st = c.state();
            if st.status != Status::Exited || st.started_at.is_none() {
                continue;
            }
            let ran_for = match (st.started_at, st.finished_at.as_deref()) {
                (Some(s), Some(f)) => chrono::DateTime::parse_from_rfc3339(f)
                    .ok()
                    .and_then(|f| (f.with_timezone(&Utc) - s).to_std().ok())
                    .unwrap_or_default(),
                _ => Duration::ZERO,
            };
            let exit = Exit {
                code: st.exit_code,
                manually_stopped: st.manually_stopped,
                restart_count: st.restart_count,
                ran_for,
            };
            if Manager::default()
                .decide(Policy::of(&c.host_config()), exit)
                .is_none()
            {
                continue;
            }
            let svc = self.clone();
            starts.spawn(async move {
                let _op = c.op.lock().await;
                if !svc.contains(&c) || c.state().status != Status::Exited {
                    return;
                }
                match svc.start_locked(&c).await {
                    Ok(_) => tracing::info!(id = %c.def.id, "started container by its restart policy"),
                    Err(e) => {
                        tracing::error!(id = %c.def.id, error = %e.message, "starting container by its restart policy")
                    }
                }
            });
        }
        while starts.join_next().await.is_some() {}
    }

    /// The daemon is stopping: no restarts from now on. Without
    /// `live_restore`, every running container is stopped with its stop
    /// signal and timeout, all at once, and the daemon waits for each to be
    /// recorded exited; with it, containers keep running under their
    /// supervisors for the next daemon to adopt.
    pub async fn shutdown(self: &Arc<Self>, live_restore: bool) {
        self.shutting_down.store(true, Ordering::SeqCst);
        if live_restore {
            return;
        }
        let mut stops = tokio::task::JoinSet::new();
        for c in self.all() {
            if c.state().status != Status::Running {
                continue;
            }
            let svc = self.clone();
            stops.spawn(async move {
                match svc.stop(&c, None).await {
                    Ok(_) => tracing::info!(id = %c.def.id, "container stopped for shutdown"),
                    Err(e) => {
                        tracing::error!(id = %c.def.id, error = %e.message, "stopping container for shutdown")
                    }
                }
                // The exit is recorded; its network goes right after.
                let deadline = tokio::time::Instant::now() + SHUTDOWN_SETTLE;
                while svc.networks.sandbox(&c.def.id).is_some()
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
        while stops.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i64, count: u64, secs: u64) -> Exit {
        Exit {
            code,
            manually_stopped: false,
            restart_count: count,
            ran_for: Duration::from_secs(secs),
        }
    }

    fn policy(json: &str) -> HostConfig {
        serde_json::from_str(&format!(r#"{{"RestartPolicy": {json}}}"#)).unwrap()
    }

    #[test]
    fn policies_parse_from_host_config() {
        assert_eq!(Policy::of(&HostConfig::default()), Policy::No);
        assert_eq!(Policy::of(&policy(r#"{"Name": ""}"#)), Policy::No);
        assert_eq!(Policy::of(&policy(r#"{"Name": "no"}"#)), Policy::No);
        assert_eq!(Policy::of(&policy(r#"{"Name": "always"}"#)), Policy::Always);
        assert_eq!(
            Policy::of(&policy(r#"{"Name": "unless-stopped"}"#)),
            Policy::UnlessStopped
        );
        assert_eq!(
            Policy::of(&policy(r#"{"Name": "on-failure", "MaximumRetryCount": 3}"#)),
            Policy::OnFailure { max_retries: 3 }
        );
    }

    #[test]
    fn on_failure_restarts_non_zero_exits_up_to_the_limit() {
        let p = Policy::OnFailure { max_retries: 3 };
        let mut m = Manager::default();
        assert!(m.decide(p, exit(0, 0, 0)).is_none());
        for count in 0..3 {
            assert!(m.decide(p, exit(1, count, 0)).is_some(), "restart {count}");
        }
        assert!(m.decide(p, exit(1, 3, 0)).is_none());
        let unlimited = Policy::OnFailure { max_retries: 0 };
        assert!(
            Manager::default()
                .decide(unlimited, exit(1, 1000, 0))
                .is_some()
        );
        assert!(
            Manager::default()
                .decide(unlimited, exit(0, 0, 0))
                .is_none()
        );
    }

    #[test]
    fn always_and_unless_stopped_differ_only_after_a_manual_stop() {
        let stopped = Exit {
            manually_stopped: true,
            ..exit(0, 0, 0)
        };
        assert!(Manager::default().decide(Policy::Always, stopped).is_some());
        assert!(
            Manager::default()
                .decide(Policy::UnlessStopped, stopped)
                .is_none()
        );
        assert!(
            Manager::default()
                .decide(Policy::UnlessStopped, exit(0, 0, 0))
                .is_some()
        );
        assert!(
            Manager::default()
                .decide(Policy::No, exit(1, 0, 0))
                .is_none()
        );
    }

    #[test]
    fn backoff_doubles_caps_at_a_minute_and_resets_after_ten_seconds() {
        let mut m = Manager::default();
        let delays: Vec<_> = (0..12)
            .map(|_| m.decide(Policy::Always, exit(1, 0, 0)).unwrap())
            .collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[2], Duration::from_millis(400));
        assert_eq!(delays[9], Duration::from_millis(51_200));
        assert_eq!(delays[10], MAX_BACKOFF);
        assert_eq!(delays[11], MAX_BACKOFF);
        assert_eq!(
            m.decide(Policy::Always, exit(1, 0, 10)).unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            m.decide(Policy::Always, exit(1, 0, 9)).unwrap(),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn a_cancelled_manager_never_restarts() {
        let mut m = Manager::default();
        m.cancel();
        assert!(m.is_cancelled());
        assert!(m.decide(Policy::Always, exit(1, 0, 0)).is_none());
    }

    #[test]
    fn validation_matches_dockerd() {
        let mut h = policy(r#"{"Name": "always"}"#);
        h.auto_remove = Some(true);
        assert_eq!(
            validate(&h).unwrap_err().to_string(),
            "can't create 'AutoRemove' container with restart policy"
        );
        h.restart_policy = None;
        assert!(validate(&h).is_ok());
        let e = validate(&policy(r#"{"Name": "always", "MaximumRetryCount": 2}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "maximum retry count cannot be used with restart policy 'always'"
        );
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        assert!(
            validate(&policy(
                r#"{"Name": "on-failure", "MaximumRetryCount": -1}"#
            ))
            .is_err()
        );
        assert!(validate(&policy(r#"{"Name": "on-failure", "MaximumRetryCount": 5}"#)).is_ok());
    }
}
