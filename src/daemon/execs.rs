//! Exec instances (`docker exec`): created for a running container, started
//! once, inspected until their container goes away.
//!
//! Like dockerd, the records live in memory only: a restarted daemon knows
//! no execs (their processes keep running in their containers, under their
//! own supervisors). A record is dropped with its container: lookups and
//! creations prune the records of containers no longer in the table. Each
//! started exec runs under a supervisor of its own in exec mode
//! ([`berth::runtime::exec`]), in `<container run dir>/execs/<exec-id>`,
//! removed when the exec's exit has been recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use berth::api::ErrorClass;
use berth::fsutil::random_id;
use berth::runtime::RuntimeError;
use berth::runtime::client::{self, Control, Event, Started};
use berth::runtime::exec::{EXECS_DIR, ExecSpec};
use berth::runtime::spec::{ContainerSpec, SPEC_VERSION};

use crate::containers::{Container, ContainerService, Status, hostcfg, merge, not_running};
use crate::error::{ApiError, ApiResult};

/// Exit code of an exec whose command could not be started (dockerd's).
pub const START_FAILED_CODE: i64 = 126;

/// Docker's `ExecConfig` (the body of `POST /containers/{id}/exec`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    /// Attach the exec's stdin (then it is a pipe, closed at the client's EOF).
    pub attach_stdin: bool,
    /// Send its stdout.
    pub attach_stdout: bool,
    /// Send its stderr.
    pub attach_stderr: bool,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// `KEY=value` entries over the container's environment.
    pub env: Option<Vec<String>>,
    /// The command.
    pub cmd: Option<Vec<String>>,
    /// `user[:group]`; empty means the container's user.
    pub user: String,
    /// Working dir; empty means the container's.
    pub working_dir: String,
    /// All capabilities.
    pub privileged: bool,
    /// Accepted and echoed in inspect; Berth's exec streams have no detach keys.
    pub detach_keys: String,
    /// Initial `[height, width]` of the tty.
    pub console_size: Option<Vec<u32>>,
}

/// Where an exec is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Created, not started.
    Created,
    /// `start` is starting it.
    Starting,
    /// Its process runs.
    Running,
    /// It ended, or could not start.
    Exited,
}

/// The mutable part of an exec.
#[derive(Debug, Clone)]
pub struct ExecState {
    /// The phase.
    pub phase: Phase,
    /// Host pid while running (0 otherwise).
    pub pid: i32,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// The supervisor's control handle while running.
    pub control: Option<Control>,
}

/// One exec instance.
#[derive(Debug)]
pub struct Exec {
    /// 64 hex digits.
    pub id: String,
    /// The container it runs in.
    pub container: Arc<Container>,
    /// What was asked for.
    pub config: ExecConfig,
    /// The command, never empty.
    pub cmd: Vec<String>,
    state: watch::Sender<ExecState>,
}

impl Exec {
    /// A copy of the current state.
    pub fn state(&self) -> ExecState {
        self.state.borrow().clone()
    }

    /// The exec's run dir under its container's.
    fn run_dir(&self) -> PathBuf {
        self.container.run_dir.join(EXECS_DIR).join(&self.id)
    }

    /// Waits (at most `limit`) until the exec has left `Created`/`Starting`.
    pub async fn started(&self, limit: std::time::Duration) -> ExecState {
        let mut rx = self.state.subscribe();
        let wait = rx.wait_for(|s| matches!(s.phase, Phase::Running | Phase::Exited));
        match tokio::time::timeout(limit, wait).await {
            Ok(Ok(s)) => s.clone(),
            _ => self.state(),
        }
    }
}

/// The daemon's exec instances.
pub struct ExecService {
    exe: PathBuf,
    table: Mutex<HashMap<String, Arc<Exec>>>,
    events: Arc<crate::events::Events>,
}

/// dockerd's 409 for an exec into a paused container (`name` as the client gave it).
fn paused(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "Container {name} is paused, unpause the container before exec"
    ))
}

/// Why a container cannot take an exec now, with dockerd's words.
fn check_running(c: &Container, name: &str) -> ApiResult<()> {
    let st = c.state();
    if st.restarting {
        return Err(crate::containers::restart::restarting_conflict(&c.def.id));
    }
    if st.status != Status::Running {
        return Err(not_running(&c.def.id));
    }
    if st.paused {
        return Err(paused(name));
    }
    Ok(())
}

/// dockerd's wording of a failed exec start: runc's message in
/// containerd's frame, except for an unknown user, which dockerd itself
/// reports before it asks the runtime.
pub fn start_failure_message(e: &RuntimeError) -> String {
    let detail = match e {
        RuntimeError::BadUser { message } => return message.clone(),
        // The runtime's own words, without the container-init framing.
        RuntimeError::Init { message } => message.clone(),
        other => other.to_string(),
    };
    format!(
        "OCI runtime exec failed: exec failed: unable to start container process: {detail}: unknown"
    )
}

impl ExecService {
    /// An empty table; execs are started with the supervisor binary `exe`.
    pub fn new(exe: PathBuf, events: Arc<crate::events::Events>) -> ExecService {
        ExecService {
            exe,
            table: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Drops the records of containers that are gone.
    fn prune(&self, containers: &ContainerService) {
        self.table
            .lock()
            .expect("exec table lock")
            .retain(|_, e| containers.contains(&e.container));
    }

    /// `POST /containers/{name}/exec`: records an exec for `c`.
    pub fn create(
        &self,
        containers: &ContainerService,
        c: Arc<Container>,
        name: &str,
        config: ExecConfig,
    ) -> ApiResult<String> {
        check_running(&c, name)?;
        let cmd = config.cmd.clone().unwrap_or_default();
        if cmd.is_empty() {
            return Err(ApiError::invalid("No exec command specified"));
        }
        self.prune(containers);
        let id = random_id();
        let exec = Exec {
            id: id.clone(),
            container: c,
            config,
            cmd,
            state: watch::channel(ExecState {
                phase: Phase::Created,
                pid: 0,
                exit_code: None,
                control: None,
            })
            .0,
        };
        self.events.exec(&exec, "exec_create", None);
        self.table
            .lock()
            .expect("exec table lock")
            .insert(id.clone(), Arc::new(exec));
        Ok(id)
    }

    /// The IDs of container `container_id`'s execs that have not exited,
    /// sorted (inspect's `ExecIDs`). dockerd drops an exec from its
    /// container's list when it exits, though `/exec/{id}/json` still answers.
    pub fn ids_of(&self, container_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .table
            .lock()
            .expect("exec table lock")
            .values()
            .filter(|e| e.container.def.id == container_id && e.state().phase != Phase::Exited)
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The exec `id`, if its container is still there.
    pub fn get(&self, containers: &ContainerService, id: &str) -> ApiResult<Arc<Exec>> {
        self.prune(containers);
        self.table
            .lock()
            .expect("exec table lock")
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    /// Drops the record of a finished exec nobody will inspect (a health
    /// probe), so a long-running container's probes do not pile up.
    pub fn forget(&self, id: &str) {
        self.table.lock().expect("exec table lock").remove(id);
    }

    /// Claims `exec` for a start: dockerd's 409s when it ran or runs, or
    /// when its container stopped or was paused meanwhile.
    pub fn claim(&self, exec: &Exec) -> ApiResult<()> {
        let mut refused = None;
        exec.state.send_modify(|s| match s.phase {
            Phase::Created => s.phase = Phase::Starting,
            Phase::Exited => {
                refused = Some(format!("Error: Exec command {} has already run", exec.id))
            }
            Phase::Starting | Phase::Running => {
                refused = Some(format!(
                    "Error: Exec command {} is already running",
                    exec.id
                ))
            }
        });
        if let Some(msg) = refused {
            return Err(ApiError::conflict(msg));
        }
        if let Err(e) = check_running(&exec.container, &exec.container.def.id) {
            self.record_exit(exec, START_FAILED_CODE);
            return Err(e);
        }
        Ok(())
    }

    /// Starts a claimed exec: returns its events (then pass them on and call
    /// [`ExecService::record_exit`] at [`Event::Exited`]), or records exit
    /// code 126 and returns dockerd's error.
    pub async fn start(&self, exec: &Exec, console_size: Option<[u16; 2]>) -> ApiResult<Started> {
        // dockerd publishes exec_start before it asks the runtime, so a start
        // that fails is in the event stream too.
        self.events.exec(exec, "exec_start", None);
        let spec = match self.spec(exec, console_size) {
            Ok(s) => s,
            Err(e) => {
                self.record_exit(exec, START_FAILED_CODE);
                return Err(e);
            }
        };
        match client::start_exec(&self.exe, &spec).await {
            Ok(started) => {
                exec.state.send_modify(|s| {
                    s.phase = Phase::Running;
                    s.pid = started.pid;
                    s.control = Some(started.control.clone());
                });
                Ok(started)
            }
            Err(e) => {
                self.record_exit(exec, START_FAILED_CODE);
                self.remove_dir(exec);
                let class = match e.class() {
                    ErrorClass::Internal => ErrorClass::Internal,
                    _ => ErrorClass::InvalidArgument,
                };
                Err(ApiError::new(class, start_failure_message(&e)))
            }
        }
    }

    /// Consumes the events of a started exec nobody is attached to, then
    /// records its exit.
    pub async fn drain(&self, exec: Arc<Exec>, mut events: mpsc::Receiver<Event>) {
        let mut code = None;
        while let Some(ev) = events.recv().await {
            if let Event::Exited(st) = ev {
                code = Some(i64::from(st.exit_code));
            }
        }
        self.finish(&exec, code);
    }

    /// Records the end of a started exec: its exit code, or the one its
    /// supervisor left on disk when it went away without reporting.
    pub fn finish(&self, exec: &Exec, code: Option<i64>) {
        let code = code
            .or_else(|| client::read_exit_status(&exec.run_dir()).map(|s| i64::from(s.exit_code)))
            .unwrap_or(255);
        self.record_exit(exec, code);
        self.events.exec(exec, "exec_die", Some(code));
        self.remove_dir(exec);
    }

    fn record_exit(&self, exec: &Exec, code: i64) {
        exec.state.send_modify(|s| {
            s.phase = Phase::Exited;
            s.pid = 0;
            s.exit_code = Some(code);
            s.control = None;
        });
    }

    fn remove_dir(&self, exec: &Exec) {
        let dir = exec.run_dir();
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "removing an exec's run dir")
            }
        }
    }

    /// The runtime spec: the exec request over the container's settings, as
    /// dockerd builds an exec's process (env over the container's, its
    /// user, working dir, capabilities, ulimits, cgroup).
    fn spec(&self, exec: &Exec, console_size: Option<[u16; 2]>) -> ApiResult<ExecSpec> {
        let c = &exec.container;
        let cfg = &c.def.config;
        let host = c.host_config();
        let mut base = ContainerSpec::default();
        hostcfg::apply(&mut base, cfg, &host)?;
        let mut env_cfg = cfg.clone();
        env_cfg.tty = Some(exec.config.tty);
        let hostname = cfg.hostname.clone().unwrap_or_default();
        let env = merge::overlay_env(
            merge::process_env(&env_cfg, &hostname),
            exec.config.env.iter().flatten(),
        );
        let pick = |own: &str, container: Option<&String>| -> String {
            if own.is_empty() {
                container.cloned().unwrap_or_default()
            } else {
                own.to_owned()
            }
        };
        let console_size = console_size.or_else(|| match exec.config.console_size.as_deref() {
            Some([h, w]) if *h > 0 && *w > 0 => Some([
                u16::try_from(*h).unwrap_or(u16::MAX),
                u16::try_from(*w).unwrap_or(u16::MAX),
            ]),
            _ => None,
        });
        let cwd = pick(&exec.config.working_dir, cfg.working_dir.as_ref());
        if !cwd.is_empty() && !cwd.starts_with('/') {
            // runc's check, in dockerd's frame.
            return Err(ApiError::invalid(
                "OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown",
            ));
        }
        Ok(ExecSpec {
            version: SPEC_VERSION,
            id: exec.id.clone(),
            container_id: c.def.id.clone(),
            container_run_dir: c.run_dir.clone(),
            run_dir: exec.run_dir(),
            args: exec.cmd.clone(),
            env,
            cwd,
            user: pick(&exec.config.user, cfg.user.as_ref()),
            group_add: base.group_add,
            tty: exec.config.tty,
            open_stdin: exec.config.attach_stdin,
            console_size: console_size.filter(|_| exec.config.tty),
            privileged: base.privileged || exec.config.privileged,
            cap_add: base.cap_add,
            cap_drop: base.cap_drop,
            no_new_privileges: base.no_new_privileges,
            // The container's program, even for `exec --privileged` (as Docker).
            seccomp: base.seccomp,
            apparmor_profile: base.apparmor_profile,
            rlimits: base.rlimits,
            cgroup: c.state().cgroup,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_config_reads_dockers_json() {
        let c: ExecConfig = serde_json::from_str(
            r#"{"AttachStdin":true,"AttachStdout":true,"Tty":true,"Cmd":["sh"],"Env":["A=b"],"User":"nobody","WorkingDir":"/tmp","Privileged":false,"DetachKeys":"ctrl-x","ConsoleSize":[24,80]}"#,
        )
        .unwrap();
        assert!(c.attach_stdin && c.attach_stdout && !c.attach_stderr && c.tty);
        assert_eq!(c.cmd.unwrap(), ["sh"]);
        assert_eq!(c.user, "nobody");
        assert_eq!(c.console_size.unwrap(), [24, 80]);
        let empty: ExecConfig = serde_json::from_str("{}").unwrap();
        assert!(empty.cmd.is_none() && !empty.tty);
    }

    #[test]
    fn start_failures_read_like_dockerd() {
        let e = RuntimeError::ExecNotFound {
            message: "exec: \"nosuch\": executable file not found in $PATH".into(),
        };
        assert_eq!(
            start_failure_message(&e),
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown"
        );
        let e = RuntimeError::BadUser {
            message: "unable to find user foo: no matching entries in passwd file".into(),
        };
        assert_eq!(
            start_failure_message(&e),
            "unable to find user foo: no matching entries in passwd file"
        );
    }
}
