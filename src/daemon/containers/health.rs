//! Health checks (image `HEALTHCHECK`, `--health-*`), as dockerd 20.10's
//! `daemon/health.go` runs them: one monitor task per running container
//! whose config has a `CMD` or `CMD-SHELL` test. Every interval it runs the
//! test as an exec through the [`ExecService`] (so probes publish
//! `exec_create`, `exec_start` and `exec_die` like any exec), records the
//! result in `State.Health` (the last [`MAX_LOG_ENTRIES`], persisted in
//! `state.json` so inspect survives a daemon restart) and publishes
//! `health_status: <status>` when the status changes.
//!
//! A start (or the adoption of a running container) resets the status to
//! `starting` and the failing streak to 0, keeping the log, as dockerd's
//! `initHealthMonitor` does. The monitor ends when the run ends (the
//! container's control handle goes away) or a new run replaces it; a paused
//! container is not probed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use berth::api::ErrorClass;
use berth::api::models::{
    ContainerConfig, Health as HealthModel, HealthConfig, HealthStatusEnum, HealthcheckResult,
};
use berth::runtime::client::Event;

use super::{Container, ContainerService, Status, write_json};
use crate::execs::{ExecConfig, ExecService};

/// How many probe results `State.Health.Log` keeps (dockerd's maxLogEntries).
pub const MAX_LOG_ENTRIES: usize = 5;
/// Longest probe output kept, in bytes; more is cut and marked with `...`.
pub const MAX_OUTPUT_LEN: usize = 4096;
/// Time between probes when the config says 0 (also before the first).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Longest a probe may run when the config says 0.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive failures that make a container unhealthy when the config says 0.
pub const DEFAULT_RETRIES: i64 = 3;
/// How long a timed-out probe gets between SIGTERM and SIGKILL (dockerd's
/// `termProcessTimeout` for execs whose context ended).
const TERM_GRACE: Duration = Duration::from_secs(10);
/// dockerd's `containertypes.MinimumDuration` (1ms), in nanoseconds.
const MINIMUM_DURATION: i64 = 1_000_000;

/// A health status, with Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No probe has succeeded yet, or the failures are still within the
    /// start period or below the retries.
    Starting,
    /// The last probe succeeded.
    Healthy,
    /// `retries` probes in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's string (`starting`, `healthy`, `unhealthy`).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The text `docker ps` puts in parentheses after "Up …" (dockerd's
    /// `Health.String()`).
    pub fn ps_suffix(self) -> &'static str {
        match self {
            HealthStatus::Starting => "health: starting",
            other => other.as_str(),
        }
    }
}

/// One probe's outcome (Docker's `HealthcheckResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    /// When the probe started.
    pub start: DateTime<Utc>,
    /// When it ended (or timed out).
    pub end: DateTime<Utc>,
    /// 0 healthy; anything else is a failure (-1: timeout or the probe could not run).
    pub exit_code: i64,
    /// Its stdout and stderr, at most [`MAX_OUTPUT_LEN`] bytes.
    pub output: String,
}

/// A container's health (Docker's `State.Health`), kept in `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// The current status.
    pub status: HealthStatus,
    /// Failures in a row that counted.
    pub failing_streak: i64,
    /// The last results, oldest first.
    pub log: Vec<ProbeResult>,
}

impl Health {
    /// The health of a run that just started: `starting` with no failures,
    /// keeping the previous runs' log (dockerd's `initHealthMonitor`).
    pub fn restart(previous: Option<Health>) -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: previous.map(|h| h.log).unwrap_or_default(),
        }
    }

    /// Records a probe result as dockerd's `handleProbeResult`: success
    /// makes the container healthy; a failure counts (and `retries` of them
    /// in a row make it unhealthy) unless the container is still starting
    /// and the probe began within `start_period` of `started_at`. Returns
    /// whether the status changed.
    pub fn record(
        &mut self,
        result: ProbeResult,
        started_at: DateTime<Utc>,
        start_period: Duration,
        retries: i64,
    ) -> bool {
        let old = self.status;
        let since_start = result.start - started_at;
        let healthy = result.exit_code == 0;
        if self.log.len() >= MAX_LOG_ENTRIES {
            self.log.drain(..=self.log.len() - MAX_LOG_ENTRIES);
        }
        self.log.push(result);
        if healthy {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let grace = self.status == HealthStatus::Starting
                && chrono::Duration::from_std(start_period).is_ok_and(|p| since_start < p);
            if !grace {
                self.failing_streak += 1;
                if self.failing_streak >= retries {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        self.status != old
    }

    /// Docker's `State.Health` for inspect.
    pub fn to_model(&self) -> HealthModel {
        let status = match self.status {
            HealthStatus::Starting => HealthStatusEnum::STARTING,
            HealthStatus::Healthy => HealthStatusEnum::HEALTHY,
            HealthStatus::Unhealthy => HealthStatusEnum::UNHEALTHY,
        };
        HealthModel {
            status: Some(status),
            failing_streak: Some(self.failing_streak),
            log: Some(
                self.log
                    .iter()
                    .map(|r| HealthcheckResult {
                        start: Some(go_time(&r.start)),
                        end: Some(go_time(&r.end)),
                        exit_code: Some(r.exit_code),
                        output: Some(r.output.clone()),
                    })
                    .collect(),
            ),
        }
    }
}

/// Go's `time.RFC3339Nano` in UTC, as dockerd's JSON has it: the fraction
/// without trailing zeros, none at all on a whole second.
fn go_time(t: &DateTime<Utc>) -> String {
    let nanos = t.timestamp_subsec_nanos();
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// The `health` value `ps --filter` matches a container by: its status, or
/// `none` without a health check.
pub fn filter_value(health: Option<&Health>) -> &'static str {
    health.map_or("none", |h| h.status.as_str())
}

/// The values `ps --filter health=` accepts (dockerd's `IsValidHealthString`).
pub fn is_valid_filter(value: &str) -> bool {
    matches!(value, "starting" | "healthy" | "unhealthy" | "none")
}

/// Why a create request's healthcheck is refused (dockerd's words, which
/// clients show, hence capitalised).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    /// A duration between 0 (inherit) and 1ms, or negative.
    #[error("{field} in Healthcheck cannot be less than 1ms")]
    TooShort {
        /// `Interval`, `Timeout` or `StartPeriod`.
        field: &'static str,
    },
    /// Negative retries.
    #[error("Retries in Healthcheck cannot be negative")]
    NegativeRetries,
}

impl HealthError {
    /// Every refusal is the client's error.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// dockerd's `verifyContainerSettings` checks of the request's healthcheck
/// (made before the image's is merged in).
pub fn validate(config: &ContainerConfig) -> Result<(), HealthError> {
    let Some(h) = &config.healthcheck else {
        return Ok(());
    };
    for (field, value) in [("Interval", h.interval), ("Timeout", h.timeout)] {
        if value.is_some_and(|v| v != 0 && v < MINIMUM_DURATION) {
            return Err(HealthError::TooShort { field });
        }
    }
    if h.retries.is_some_and(|r| r < 0) {
        return Err(HealthError::NegativeRetries);
    }
    if h.start_period
        .is_some_and(|v| v != 0 && v < MINIMUM_DURATION)
    {
        return Err(HealthError::TooShort {
            field: "StartPeriod",
        });
    }
    Ok(())
}

/// dockerd's merge of the image's healthcheck into the request's: the
/// image's whole healthcheck when the request has none, else each unset
/// (empty or zero) field from the image.
pub fn merge(user: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(image) = image else {
        return user;
    };
    let Some(mut user) = user else {
        return Some(image.clone());
    };
    if user.test.as_ref().is_none_or(Vec::is_empty) {
        user.test.clone_from(&image.test);
    }
    for (mine, theirs) in [
        (&mut user.interval, image.interval),
        (&mut user.timeout, image.timeout),
        (&mut user.start_period, image.start_period),
        (&mut user.retries, image.retries),
    ] {
        if mine.is_none_or(|v| v == 0) {
            *mine = theirs;
        }
    }
    Some(user)
}

/// The command a probe runs (dockerd's `getProbe`): `CMD` args as they are,
/// `CMD-SHELL` through the container's Shell (default `/bin/sh -c`). `None`
/// without a healthcheck, for `NONE` and for an unknown test type.
pub fn probe_command(config: &ContainerConfig) -> Option<Vec<String>> {
    let test = config.healthcheck.as_ref()?.test.as_ref()?;
    let (kind, args) = test.split_first()?;
    match kind.as_str() {
        "CMD" => Some(args.to_vec()),
        "CMD-SHELL" => {
            let mut cmd = config
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".to_owned(), "-c".to_owned()]);
            cmd.extend(args.iter().cloned());
            Some(cmd)
        }
        _ => None,
    }
}

/// A configured duration in nanoseconds, or `default` for unset or 0.
fn duration_or(nanos: Option<i64>, default: Duration) -> Duration {
    match nanos {
        Some(n) if n > 0 => Duration::from_nanos(n.unsigned_abs()),
        _ => default,
    }
}

/// Go's `time.Duration.String()` (`200ms`, `1.5s`, `1m30s`, `1h0m0s`), which
/// dockerd prints in "Health check exceeded timeout (…)".
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    // The fraction after `digits` integer places, without trailing zeros.
    let frac = |value: u128, digits: u32| -> String {
        let scale = 10u128.pow(digits);
        let (whole, rest) = (value / scale, value % scale);
        if rest == 0 {
            return whole.to_string();
        }
        let rest = format!("{rest:0width$}", width = digits as usize);
        format!("{whole}.{}", rest.trim_end_matches('0'))
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", frac(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", frac(nanos, 6));
    }
    let secs = nanos / 1_000_000_000;
    let seconds = frac(nanos % 60_000_000_000, 9);
    let minutes = secs / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// Probe output up to [`MAX_OUTPUT_LEN`] bytes (dockerd's `limitedBuffer`).
#[derive(Debug, Default)]
struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    fn write(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT_LEN
            .saturating_sub(self.buf.len())
            .min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    /// The text, with `...` appended when something was cut.
    fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            out.push_str("...");
        }
        out
    }
}

/// The running monitors and what they need, owned by the container service.
#[derive(Default)]
pub struct Monitors {
    /// Set once the daemon's exec service exists; no monitor runs before.
    execs: OnceLock<Arc<ExecService>>,
    /// Per container ID: the current monitor's generation and stop switch.
    running: Mutex<HashMap<String, (u64, watch::Sender<bool>)>>,
    next: std::sync::atomic::AtomicU64,
}

/// The settings one monitor runs with.
struct Probe {
    cmd: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    retries: i64,
}

impl Probe {
    fn of(config: &ContainerConfig) -> Option<Probe> {
        let cmd = probe_command(config)?;
        let h = config.healthcheck.clone().unwrap_or_default();
        Some(Probe {
            cmd,
            interval: duration_or(h.interval, DEFAULT_INTERVAL),
            timeout: duration_or(h.timeout, DEFAULT_TIMEOUT),
            start_period: duration_or(h.start_period, Duration::ZERO),
            retries: h.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        })
    }
}

impl ContainerService {
    /// Lets health checks run from now on, through `execs`, and starts the
    /// monitors of the containers already running (adopted ones).
    pub fn enable_health_checks(self: &Arc<Self>, execs: Arc<ExecService>) {
        if self.health.execs.set(execs).is_err() {
            return;
        }
        for c in self.all() {
            if c.state().status == Status::Running {
                self.monitor_health(&c);
            }
        }
    }

    /// Starts the health monitor of a container that just started (or was
    /// adopted), replacing any monitor of an earlier run; resets its health
    /// to `starting`. Does nothing for a container without a probe.
    pub(super) fn monitor_health(self: &Arc<Self>, c: &Arc<Container>) {
        let Some(probe) = Probe::of(&c.def.config) else {
            return;
        };
        let Some(execs) = self.health.execs.get().cloned() else {
            return;
        };
        {
            let mut st = c.state.lock().expect("state lock");
            if st.status != Status::Running || c.control.borrow().is_none() {
                return;
            }
            st.health = Some(Health::restart(st.health.take()));
            // Under the state lock, so no older snapshot lands after this one.
            if let Err(e) = write_json(&c.state_dir.join("state.json"), &*st) {
                tracing::error!(id = %c.def.id, error = %e, "recording the health check's start");
            }
        }
        let (stop, stopped) = watch::channel(false);
        let generation = self
            .health
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let old = self
            .health
            .running
            .lock()
            .expect("monitor table lock")
            .insert(c.def.id.clone(), (generation, stop));
        if let Some((_, old)) = old {
            old.send_replace(true);
        }
        let svc = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            svc.run_monitor(&execs, &c, probe, stopped).await;
            let mut running = svc.health.running.lock().expect("monitor table lock");
            if running
                .get(&c.def.id)
                .is_some_and(|(g, _)| *g == generation)
            {
                running.remove(&c.def.id);
            }
        });
    }

    /// dockerd's `monitor`: wait an interval, probe, record; until the run
    /// ends or `stopped` says a newer monitor took over.
    async fn run_monitor(
        self: &Arc<Self>,
        execs: &ExecService,
        c: &Arc<Container>,
        probe: Probe,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut control = c.control();
        let started_at = c.state().started_at.unwrap_or_else(Utc::now);
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = control.wait_for(Option::is_none) => return,
                () = tokio::time::sleep(probe.interval) => {}
            }
            if c.state().paused {
                continue;
            }
            let result = self.probe(execs, c, &probe).await;
            // A result of a run that ended meanwhile is dropped, as dockerd does.
            if *stopped.borrow() || c.control.borrow().is_none() {
                return;
            }
            self.record_probe(c, result, started_at, &probe);
        }
    }

    /// Stores a probe result and publishes a status change.
    fn record_probe(
        &self,
        c: &Container,
        result: ProbeResult,
        started_at: DateTime<Utc>,
        probe: &Probe,
    ) {
        let mut st = c.state.lock().expect("state lock");
        let Some(health) = st.health.as_mut() else {
            return;
        };
        let changed = health
            .record(result, started_at, probe.start_period, probe.retries)
            .then_some(health.status);
        if let Err(e) = write_json(&c.state_dir.join("state.json"), &*st) {
            tracing::error!(id = %c.def.id, error = %e, "recording a health check result");
        }
        // Under the state lock, as dockerd logs it under the container's:
        // whoever sees the new status finds its event published.
        if let Some(status) = changed {
            tracing::info!(id = %c.def.id, status = status.as_str(), "health status changed");
            self.events
                .container(c, &format!("health_status: {}", status.as_str()), &[]);
        }
    }

    /// One probe: the test as an exec with stdout and stderr captured,
    /// killed (SIGTERM, then SIGKILL) when it outlives the timeout.
    async fn probe(&self, execs: &ExecService, c: &Arc<Container>, probe: &Probe) -> ProbeResult {
        let start = Utc::now();
        let deadline = tokio::time::Instant::now() + probe.timeout;
        let failed = |output: String| ProbeResult {
            start,
            end: Utc::now(),
            exit_code: -1,
            output,
        };
        let config = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: Some(probe.cmd.clone()),
            ..ExecConfig::default()
        };
        let exec = match execs
            .create(self, c.clone(), &c.def.id, config)
            .and_then(|id| execs.get(self, &id))
        {
            Ok(e) => e,
            Err(e) => return failed(e.message),
        };
        let started = match execs.claim(&exec) {
            Ok(()) => execs.start(&exec, None).await,
            Err(e) => Err(e),
        };
        let mut started = match started {
            Ok(s) => s,
            Err(e) => {
                execs.forget(&exec.id);
                return failed(e.message);
            }
        };
        let mut output = LimitedOutput::default();
        let mut code = None;
        let mut timed_out = None;
        loop {
            let next = match timed_out {
                None => tokio::time::timeout_at(deadline, started.events.recv()).await,
                // After the timeout, wait for the killed probe's end.
                Some(_) => Ok(started.events.recv().await),
            };
            match next {
                Ok(Some(Event::Stdout(b) | Event::Stderr(b))) => output.write(&b),
                Ok(Some(Event::Exited(st))) => code = Some(i64::from(st.exit_code)),
                Ok(None) => break,
                Err(_) => {
                    timed_out = Some(Utc::now());
                    kill_probe(&started.control, &exec.id, &mut started.events).await;
                }
            }
        }
        execs.finish(&exec, code);
        execs.forget(&exec.id);
        match timed_out {
            Some(end) => ProbeResult {
                start,
                end,
                exit_code: -1,
                output: format!(
                    "Health check exceeded timeout ({})",
                    go_duration(probe.timeout)
                ),
            },
            None => ProbeResult {
                start,
                end: Utc::now(),
                exit_code: exec.state().exit_code.unwrap_or(-1),
                output: output.text(),
            },
        }
    }
}

/// Ends a probe that outlived its timeout as dockerd ends an exec whose
/// context is done: SIGTERM, then SIGKILL if it is still there after
/// [`TERM_GRACE`]. Output arriving meanwhile is dropped.
async fn kill_probe(
    control: &berth::runtime::client::Control,
    id: &str,
    events: &mut tokio::sync::mpsc::Receiver<Event>,
) {
    if let Err(e) = control.signal(libc::SIGTERM).await {
        tracing::debug!(exec = %id, error = %e, "signalling a timed-out health check");
    }
    let grace = tokio::time::sleep(TERM_GRACE);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::Exited(_)) | None => return,
                Some(_) => {}
            },
            () = &mut grace => break,
        }
    }
    if let Err(e) = control.signal(libc::SIGKILL).await {
        tracing::debug!(exec = %id, error = %e, "killing a timed-out health check");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn collect(chunks: &[Bytes]) -> String {
        let mut out = LimitedOutput::default();
        for c in chunks {
            out.write(c);
        }
        out.text()
    }

    fn result(start: DateTime<Utc>, code: i64) -> ProbeResult {
        ProbeResult {
            start,
            end: start,
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn failures_flip_to_unhealthy_after_retries_and_success_resets() {
        let t0 = Utc::now();
        let mut h = Health::restart(None);
        assert!(!h.record(result(t0, 1), t0, Duration::ZERO, 3));
        assert!(!h.record(result(t0, 1), t0, Duration::ZERO, 3));
        assert_eq!(h.failing_streak, 2);
        assert!(h.record(result(t0, 1), t0, Duration::ZERO, 3));
        assert_eq!(h.status, HealthStatus::Unhealthy);
        assert!(h.record(result(t0, 0), t0, Duration::ZERO, 3));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        // Any non-zero code is a failure, and a healthy container needs
        // `retries` failures too.
        assert!(!h.record(result(t0, 2), t0, Duration::ZERO, 2));
        assert!(h.record(result(t0, -1), t0, Duration::ZERO, 2));
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn start_period_failures_do_not_count_until_a_success() {
        let t0 = Utc::now();
        let period = Duration::from_secs(10);
        let mut h = Health::restart(None);
        for _ in 0..5 {
            h.record(result(t0 + chrono::Duration::seconds(1), 1), t0, period, 1);
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        // After the period they count.
        assert!(h.record(result(t0 + chrono::Duration::seconds(11), 1), t0, period, 1));
        assert_eq!(h.status, HealthStatus::Unhealthy);
        // Once healthy, the period no longer shields failures.
        let mut h = Health::restart(None);
        h.record(result(t0, 0), t0, period, 1);
        assert!(h.record(result(t0 + chrono::Duration::seconds(1), 1), t0, period, 1));
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn log_keeps_the_last_five_and_restart_keeps_it() {
        let t0 = Utc::now();
        let mut h = Health::restart(None);
        for i in 0..8 {
            h.record(result(t0, i), t0, Duration::ZERO, 100);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
        let again = Health::restart(Some(h));
        assert_eq!(
            (again.status, again.failing_streak),
            (HealthStatus::Starting, 0)
        );
        assert_eq!(again.log.len(), MAX_LOG_ENTRIES);
    }

    #[test]
    fn model_and_state_file_use_dockers_shape() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = Health::restart(None);
        h.record(result(t0, 0), t0, Duration::ZERO, 3);
        let v = serde_json::to_value(h.to_model()).unwrap();
        assert_eq!(v["Status"], "healthy");
        assert_eq!(v["FailingStreak"], 0);
        assert_eq!(v["Log"][0]["ExitCode"], 0);
        assert_eq!(v["Log"][0]["Start"], "2026-01-02T03:04:05.5Z");
        assert_eq!(
            go_time(&(t0 + chrono::Duration::milliseconds(500))),
            "2026-01-02T03:04:06Z"
        );
        assert_eq!(
            go_time(&(t0 + chrono::Duration::nanoseconds(123))),
            "2026-01-02T03:04:05.500000123Z"
        );
        let stored = serde_json::to_string(&h).unwrap();
        assert!(stored.contains("\"Status\":\"healthy\""), "{stored}");
        assert_eq!(serde_json::from_str::<Health>(&stored).unwrap(), h);
        assert_eq!(HealthStatus::Starting.ps_suffix(), "health: starting");
        assert_eq!(filter_value(None), "none");
        assert_eq!(filter_value(Some(&h)), "healthy");
        assert!(is_valid_filter("none") && !is_valid_filter("sick"));
    }

    fn hc(test: &[&str]) -> ContainerConfig {
        ContainerConfig {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                ..HealthConfig::default()
            }),
            ..ContainerConfig::default()
        }
    }

    #[test]
    fn probe_commands_follow_get_probe() {
        assert_eq!(
            probe_command(&hc(&["CMD-SHELL", "exit 1"])).unwrap(),
            ["/bin/sh", "-c", "exit 1"]
        );
        assert_eq!(
            probe_command(&hc(&["CMD", "true", "x"])).unwrap(),
            ["true", "x"]
        );
        assert_eq!(probe_command(&hc(&["NONE"])), None);
        assert_eq!(probe_command(&hc(&["BOGUS", "x"])), None);
        assert_eq!(probe_command(&hc(&[])), None);
        assert_eq!(probe_command(&ContainerConfig::default()), None);
        let mut shell = hc(&["CMD-SHELL", "x"]);
        shell.shell = Some(vec!["/bin/ash".into(), "-ec".into()]);
        assert_eq!(probe_command(&shell).unwrap(), ["/bin/ash", "-ec", "x"]);
    }

    #[test]
    fn validation_matches_dockerd() {
        let with = |f: fn(&mut HealthConfig)| {
            let mut c = hc(&["CMD", "true"]);
            f(c.healthcheck.as_mut().unwrap());
            validate(&c).map_err(|e| e.to_string())
        };
        assert_eq!(with(|_| {}), Ok(()));
        assert_eq!(with(|h| h.interval = Some(0)), Ok(()));
        assert_eq!(
            with(|h| h.interval = Some(999_999)).unwrap_err(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            with(|h| h.timeout = Some(-1)).unwrap_err(),
            "Timeout in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            with(|h| h.start_period = Some(5)).unwrap_err(),
            "StartPeriod in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            with(|h| h.retries = Some(-1)).unwrap_err(),
            "Retries in Healthcheck cannot be negative"
        );
    }

    #[test]
    fn image_healthcheck_fills_unset_fields() {
        let image = HealthConfig {
            test: Some(vec!["CMD".into(), "img".into()]),
            interval: Some(5),
            timeout: Some(6),
            retries: Some(7),
            start_period: Some(8),
            ..HealthConfig::default()
        };
        assert_eq!(merge(None, Some(&image)), Some(image.clone()));
        assert_eq!(merge(None, None), None);
        let user = HealthConfig {
            interval: Some(1),
            retries: Some(0),
            ..HealthConfig::default()
        };
        let m = merge(Some(user), Some(&image)).unwrap();
        assert_eq!(m.test, image.test);
        assert_eq!(
            (m.interval, m.timeout, m.retries),
            (Some(1), Some(6), Some(7))
        );
        let none = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..HealthConfig::default()
        };
        let m = merge(Some(none), Some(&image)).unwrap();
        assert_eq!(m.test.unwrap(), ["NONE"]);
    }

    #[test]
    fn go_durations_print_like_go() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(ms(200)), "200ms");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_duration(ms(1000)), "1s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(30_000)), "30s");
        assert_eq!(go_duration(ms(90_000)), "1m30s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(3_723_250)), "1h2m3.25s");
    }

    #[test]
    fn output_is_cut_at_4096_bytes_with_dots() {
        assert_eq!(collect(&[Bytes::from_static(b"ok\n")]), "ok\n");
        let big = Bytes::from(vec![b'x'; 3000]);
        let text = collect(&[big.clone(), big]);
        assert_eq!(text.len(), MAX_OUTPUT_LEN + 3);
        assert!(text.ends_with("x..."));
        assert_eq!(duration_or(Some(0), DEFAULT_INTERVAL), DEFAULT_INTERVAL);
        assert_eq!(
            duration_or(Some(5), DEFAULT_INTERVAL),
            Duration::from_nanos(5)
        );
    }
}
