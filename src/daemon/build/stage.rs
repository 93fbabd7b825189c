//! One stage's dispatch state (moby's `dispatchState`) and what each
//! instruction does to it: the pure half of the builder. Metadata
//! instructions change the run config and yield the history comment; RUN,
//! WORKDIR, COPY and ADD yield a plan the executor carries out.

use std::collections::HashMap;

use berth::api::models::{HealthConfig, ImageConfig};
use berth::image::build::dockerfile::{Command, CopySpec, Healthcheck, Kind, RunMount};
use berth::image::build::expand::{expand_heredoc, expand_word, expand_words};

use super::BuildError;
use super::args::{BuildArgs, env_key};
use super::history::{
    go_duration, go_list, go_quote, go_quote_list, go_quote_rune, nop, nop_single, run_command,
    shell_of,
};

/// Linux's default `PATH`, added to every stage's env that lacks one (moby `DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The state of the stage being built.
#[derive(Debug, Clone)]
pub struct StageState {
    /// The current image (`None`: `FROM scratch` and nothing committed yet).
    pub image_id: Option<String>,
    /// The run config the next image gets.
    pub config: ImageConfig,
    /// The stage's build args.
    pub args: BuildArgs,
    /// `MAINTAINER`, the author of this stage's images.
    pub maintainer: Option<String>,
    /// A CMD was set in this stage (so a later ENTRYPOINT keeps it).
    pub cmd_set: bool,
    /// Dockerfile escape character.
    pub escape: char,
}

/// What a step does beyond changing the config.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A metadata-only image recorded as `created_by`.
    Metadata {
        /// History `created_by`.
        created_by: String,
    },
    /// `WORKDIR`: the directory is created (a layer if it was missing).
    Workdir {
        /// History `created_by`.
        created_by: String,
        /// The absolute directory.
        dir: String,
    },
    /// `RUN`.
    Run(RunStep),
    /// `COPY` or `ADD`, sources and destination expanded.
    Copy(CopyStep),
}

/// A RUN to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStep {
    /// The process: SHELL + command, or the exec form as is.
    pub argv: Vec<String>,
    /// What the history records (and the cache compares): `|N K=v` + argv.
    pub created_by: String,
    /// Build args the process sees as env (not committed).
    pub arg_env: Vec<String>,
    /// `--mount=type=cache` mounts.
    pub mounts: Vec<RunMount>,
    /// `--network`.
    pub network: Option<String>,
}

/// A COPY/ADD to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyStep {
    /// ADD (archives extracted, URLs fetched) rather than COPY.
    pub add: bool,
    /// Sources, expanded.
    pub sources: Vec<String>,
    /// Destination, expanded.
    pub dest: String,
    /// `--from`, expanded.
    pub from: Option<String>,
    /// `--chown`, expanded.
    pub chown: Option<String>,
    /// `--chmod`, expanded.
    pub chmod: Option<String>,
    /// `--checksum` (ADD).
    pub checksum: Option<String>,
    /// Inline files: name and content (expanded when the delimiter was unquoted).
    pub heredocs: Vec<(String, Vec<u8>)>,
}

impl StageState {
    /// A stage starting from `base` (its config; `None` for scratch), as moby's `beginStage`.
    pub fn begin(
        image_id: Option<String>,
        base: Option<ImageConfig>,
        args: BuildArgs,
        escape: char,
    ) -> StageState {
        let mut config = base.unwrap_or_default();
        let env = config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| env_key(e) == "PATH") {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        config.open_stdin = Some(false);
        config.stdin_once = Some(false);
        StageState {
            image_id,
            config,
            args,
            maintainer: None,
            cmd_set: false,
            escape,
        }
    }

    /// The shell of shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        shell_of(self.config.shell.as_deref())
    }

    /// What words expand with: the env, then the build args it does not set.
    pub fn expansion_env(&self) -> Vec<String> {
        let env = self.config.env.clone().unwrap_or_default();
        let mut all = env.clone();
        all.extend(self.args.filter_allowed(&env));
        all
    }

    fn lookup(env: &[String]) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| {
            env.iter().find_map(|e| match e.split_once('=') {
                Some((k, v)) if k == name => Some(v.to_owned()),
                None if e == name => Some(String::new()),
                _ => None,
            })
        }
    }

    /// Expands one word with `env`.
    fn word(&self, env: &[String], w: &str) -> Result<String, BuildError> {
        expand_word(w, &Self::lookup(env), self.escape)
            .map_err(|e| BuildError::Invalid(e.to_string()))
    }

    fn words(&self, env: &[String], w: &str) -> Result<Vec<String>, BuildError> {
        expand_words(w, &Self::lookup(env), self.escape)
            .map_err(|e| BuildError::Invalid(e.to_string()))
    }

    fn commit(&self, comment: &str) -> Step {
        Step::Metadata {
            created_by: nop(&self.shell(), comment),
        }
    }

    /// Applies `kind` to the state (moby's dispatchers): the config changes now,
    /// the returned step says what is left to do. FROM and ONBUILD triggers are
    /// the executor's.
    pub fn apply(&mut self, kind: &Kind) -> Result<Step, BuildError> {
        let env = self.expansion_env();
        match kind {
            Kind::From { .. } => Err(BuildError::Invalid(
                "FROM is handled when a stage begins".to_owned(),
            )),
            Kind::Env(pairs) => {
                let mut comment = String::from("ENV");
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((self.word(&env, k)?, self.word(&env, v)?));
                }
                let vars = self.config.env.get_or_insert_with(Vec::new);
                for (k, v) in expanded {
                    let entry = format!("{k}={v}");
                    comment.push(' ');
                    comment.push_str(&entry);
                    match vars.iter_mut().find(|e| env_key(e) == k) {
                        Some(e) => *e = entry,
                        None => vars.push(entry),
                    }
                }
                Ok(self.commit(&comment))
            }
            Kind::Arg(pairs) => {
                let mut parts = Vec::new();
                for (k, v) in pairs {
                    let key = self.word(&env, k)?;
                    let value = v.as_deref().map(|v| self.word(&env, v)).transpose()?;
                    parts.push(match &value {
                        Some(v) => format!("{key}={v}"),
                        None => key.clone(),
                    });
                    self.args.add_arg(&key, value);
                }
                Ok(self.commit(&format!("ARG {}", parts.join(" "))))
            }
            Kind::Label(pairs) => {
                let mut comment = String::from("LABEL");
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((self.word(&env, k)?, self.word(&env, v)?));
                }
                let labels = self.config.labels.get_or_insert_with(HashMap::new);
                for (k, v) in expanded {
                    comment.push_str(&format!(" {k}={v}"));
                    labels.insert(k, v);
                }
                Ok(self.commit(&comment))
            }
            Kind::Maintainer(m) => {
                self.maintainer = Some(m.clone());
                Ok(self.commit(&format!("MAINTAINER {m}")))
            }
            Kind::Expose(raw) => {
                // moby's parser sorts the raw words (before expansion).
                let mut raw = raw.clone();
                raw.sort();
                let mut ports = Vec::new();
                for p in &raw {
                    ports.extend(self.words(&env, p)?);
                }
                let specs = parse_ports(&ports)?;
                let set = self.config.exposed_ports.get_or_insert_with(HashMap::new);
                for s in specs {
                    set.insert(s, HashMap::new());
                }
                Ok(self.commit(&format!("EXPOSE {}", ports.join(" "))))
            }
            Kind::User(u) => {
                let user = self.word(&env, u)?;
                self.config.user = Some(user.clone());
                Ok(self.commit(&format!("USER {user}")))
            }
            Kind::Volume(raw) => {
                let mut vols = Vec::new();
                for v in raw {
                    let v = self.word(&env, v)?;
                    if v.is_empty() {
                        return Err(BuildError::Invalid(
                            "VOLUME specified can not be an empty string".to_owned(),
                        ));
                    }
                    vols.push(v);
                }
                let set = self.config.volumes.get_or_insert_with(HashMap::new);
                for v in &vols {
                    set.insert(v.clone(), HashMap::new());
                }
                Ok(self.commit(&format!("VOLUME {}", go_list(&vols))))
            }
            Kind::StopSignal(s) => {
                let sig = self.word(&env, s)?;
                check_signal(&sig)?;
                self.config.stop_signal = Some(sig.clone());
                Ok(self.commit(&format!("STOPSIGNAL {sig}")))
            }
            Kind::Shell(words) => {
                self.config.shell = Some(words.clone());
                Ok(self.commit(&format!("SHELL {}", go_list(words))))
            }
            Kind::Onbuild(inner) => {
                let expr = onbuild_expression(&inner.original);
                self.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expr.clone());
                Ok(self.commit(&format!("ONBUILD {expr}")))
            }
            Kind::Cmd(c) => {
                let cmd = self.command_line(c);
                self.config.cmd = Some(cmd.clone());
                if !matches!(c, Command::Exec(v) if v.is_empty()) {
                    self.cmd_set = true;
                }
                Ok(self.commit(&format!("CMD {}", go_quote_list(&cmd))))
            }
            Kind::Entrypoint(c) => {
                let ep = self.command_line(c);
                // `ENTRYPOINT []` resets it, as dockerd records it: null.
                self.config.entrypoint = (!ep.is_empty()).then(|| ep.clone());
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                Ok(self.commit(&format!("ENTRYPOINT {}", go_quote_list(&ep))))
            }
            Kind::Healthcheck(h) => {
                let health = health_config(h.as_ref());
                let step = self.commit(&format!("HEALTHCHECK {}", go_health(&health)));
                // dockerd's container create fills unset fields from the
                // parent's healthcheck (`merge`), in the builder's own config.
                let merged = match self.config.healthcheck.take() {
                    Some(old) => HealthConfig {
                        test: health.test.filter(|t| !t.is_empty()).or(old.test),
                        interval: health.interval.or(old.interval),
                        timeout: health.timeout.or(old.timeout),
                        start_period: health.start_period.or(old.start_period),
                        retries: health.retries.or(old.retries),
                        start_interval: None,
                    },
                    None => health,
                };
                self.config.healthcheck = Some(merged);
                Ok(step)
            }
            Kind::Workdir(w) => {
                let requested = self.word(&env, w)?;
                let dir = normalize_workdir(
                    self.config.working_dir.as_deref().unwrap_or(""),
                    &requested,
                )?;
                self.config.working_dir = Some(dir.clone());
                Ok(Step::Workdir {
                    created_by: nop_single(&self.shell(), &format!("WORKDIR {dir}")),
                    dir,
                })
            }
            Kind::Run {
                command,
                mounts,
                network,
            } => {
                let argv = self.command_line(command);
                let cfg_env = self.config.env.clone().unwrap_or_default();
                let arg_env = self.args.filter_allowed(&cfg_env);
                let saved = run_command(&self.args, &arg_env, &argv);
                let mut mounts = mounts.clone();
                for m in &mut mounts {
                    m.target = self.word(&env, &m.target)?;
                }
                Ok(Step::Run(RunStep {
                    argv,
                    created_by: saved.join(" "),
                    arg_env,
                    mounts,
                    network: network.clone(),
                }))
            }
            Kind::Copy(spec) => self.copy_step(&env, spec, false),
            Kind::Add(spec) => self.copy_step(&env, spec, true),
        }
    }

    fn copy_step(&self, env: &[String], spec: &CopySpec, add: bool) -> Result<Step, BuildError> {
        let opt = |v: &Option<String>| v.as_deref().map(|v| self.word(env, v)).transpose();
        let mut heredocs = Vec::new();
        for h in &spec.heredocs {
            let content = if h.expand {
                expand_heredoc(&h.content, &Self::lookup(env))
                    .map_err(|e| BuildError::Invalid(e.to_string()))?
            } else {
                h.content.clone()
            };
            heredocs.push((h.name.clone(), content.into_bytes()));
        }
        Ok(Step::Copy(CopyStep {
            add,
            sources: spec
                .sources
                .iter()
                .map(|s| self.word(env, s))
                .collect::<Result<_, _>>()?,
            dest: self.word(env, &spec.dest)?,
            from: opt(&spec.from)?,
            chown: opt(&spec.chown)?,
            chmod: opt(&spec.chmod)?,
            checksum: opt(&spec.checksum)?,
            heredocs,
        }))
    }

    /// Shell form → SHELL + [text]; exec form as is (moby `resolveCmdLine`).
    pub fn command_line(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut argv = self.shell();
                // A bare `CMD` is the shell alone in dockerd's config.
                if !s.is_empty() {
                    argv.push(s.clone());
                }
                argv
            }
        }
    }
}

/// The ONBUILD trigger text: the instruction's original without `ONBUILD`.
pub fn onbuild_expression(original: &str) -> String {
    let t = original.trim_start();
    match t.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("ONBUILD") => t[7..].trim().to_owned(),
        _ => t.trim().to_owned(),
    }
}

/// Docker's `HealthConfig` of a HEALTHCHECK (`NONE` → `["NONE"]`); unset
/// durations stay unset (dockerd's zero, omitted).
pub fn health_config(h: Option<&Healthcheck>) -> HealthConfig {
    let Some(h) = h else {
        return HealthConfig {
            test: Some(vec!["NONE".to_owned()]),
            ..HealthConfig::default()
        };
    };
    let test = match &h.test {
        Command::Exec(v) => std::iter::once("CMD".to_owned())
            .chain(v.iter().cloned())
            .collect(),
        Command::Shell(s) => vec!["CMD-SHELL".to_owned(), s.clone()],
    };
    let ns = |d: Option<std::time::Duration>| {
        d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .filter(|n| *n != 0)
    };
    HealthConfig {
        test: Some(test),
        interval: ns(h.interval),
        timeout: ns(h.timeout),
        start_period: ns(h.start_period),
        retries: h.retries.map(i64::from).filter(|r| *r != 0),
        start_interval: None,
    }
}

/// Go's `%q` of a `*container.HealthConfig` (dockerd 20.10's five fields).
fn go_health(h: &HealthConfig) -> String {
    format!(
        "&{{{} {} {} {} {}}}",
        go_quote_list(h.test.as_deref().unwrap_or(&[])),
        go_quote(&go_duration(h.interval.unwrap_or(0))),
        go_quote(&go_duration(h.timeout.unwrap_or(0))),
        go_quote(&go_duration(h.start_period.unwrap_or(0))),
        go_quote_rune(h.retries.unwrap_or(0)),
    )
}

/// moby `normalizeWorkdir`: relative paths join the current one (cleaned);
/// absolute ones are kept as written.
pub fn normalize_workdir(current: &str, requested: &str) -> Result<String, BuildError> {
    if requested.is_empty() {
        return Err(BuildError::Invalid("cannot normalize nothing".to_owned()));
    }
    if requested.starts_with('/') {
        return Ok(requested.to_owned());
    }
    let joined = format!("/{current}/{requested}");
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `EXPOSE` words as Docker's port set keys (`80/tcp`; ranges expanded;
/// `ip:host:container` forms keep the container port), moby `nat.ParsePortSpecs`.
pub fn parse_ports(words: &[String]) -> Result<Vec<String>, BuildError> {
    let mut out = Vec::new();
    for w in words {
        let (rest, proto) = match w.rsplit_once('/') {
            Some((r, p)) => (r, p.to_ascii_lowercase()),
            None => (w.as_str(), "tcp".to_owned()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(BuildError::Invalid(format!("invalid proto: {proto}")));
        }
        let container = rest.rsplit(':').next().unwrap_or(rest);
        let bad = || BuildError::Invalid(format!("invalid containerPort: {container}"));
        let (lo, hi) = match container.split_once('-') {
            Some((a, b)) => (
                a.parse::<u16>().map_err(|_| bad())?,
                b.parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let p = container.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if hi < lo {
            return Err(BuildError::Invalid(format!(
                "invalid range specified for container port: {container}"
            )));
        }
        out.extend((lo..=hi).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

/// moby `signal.ParseSignal`: a number or a name with or without `SIG`.
fn check_signal(s: &str) -> Result<(), BuildError> {
    let bad = || BuildError::Invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(())
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if name.parse::<nix::sys::signal::Signal>().is_ok()
        || name.starts_with("SIGRTMIN")
        || name.starts_with("SIGRTMAX")
    {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth::image::build::dockerfile::Instruction;
    use std::collections::BTreeMap;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    fn state() -> StageState {
        StageState::begin(
            Some("sha256:base".into()),
            Some(ImageConfig {
                cmd: Some(vec![s("sh")]),
                ..ImageConfig::default()
            }),
            BuildArgs::default(),
            '\\',
        )
    }

    fn created_by(step: Step) -> String {
        match step {
            Step::Metadata { created_by } | Step::Workdir { created_by, .. } => created_by,
            Step::Run(r) => r.created_by,
            Step::Copy(_) => panic!("copy step"),
        }
    }

    #[test]
    fn begin_adds_default_path() {
        let st = state();
        assert_eq!(st.config.env.unwrap(), vec![format!("PATH={DEFAULT_PATH}")]);
        assert_eq!(st.config.open_stdin, Some(false));
    }

    #[test]
    fn env_replaces_in_place_and_expands_with_the_old_values() {
        let mut st = state();
        st.apply(&Kind::Env(vec![
            (s("A"), s("1")),
            (s("B"), s("\"two words\"")),
        ]))
        .unwrap();
        let step = st
            .apply(&Kind::Env(vec![(s("A"), s("2")), (s("C"), s("${A}x"))]))
            .unwrap();
        assert_eq!(created_by(step), "/bin/sh -c #(nop)  ENV A=2 C=1x");
        let env = st.config.env.unwrap();
        assert_eq!(&env[1..], ["A=2", "B=two words", "C=1x"]);
    }

    #[test]
    fn args_feed_expansion_and_run_history() {
        let mut st = state();
        st.args = BuildArgs::new(BTreeMap::from([(s("V"), Some(s("cli")))]));
        let step = st
            .apply(&Kind::Arg(vec![(s("V"), Some(s("def"))), (s("W"), None)]))
            .unwrap();
        assert_eq!(created_by(step), "/bin/sh -c #(nop)  ARG V=def W");
        let step = st.apply(&Kind::Label(vec![(s("v"), s("$V"))])).unwrap();
        assert_eq!(created_by(step), "/bin/sh -c #(nop)  LABEL v=cli");
        let step = st
            .apply(&Kind::Run {
                command: Command::Shell(s("echo $V")),
                mounts: vec![],
                network: None,
            })
            .unwrap();
        let Step::Run(run) = step else { panic!() };
        assert_eq!(run.created_by, "|1 V=cli /bin/sh -c echo $V");
        assert_eq!(run.argv, vec!["/bin/sh", "-c", "echo $V"]);
        assert_eq!(run.arg_env, vec!["V=cli"]);
        // ARGs never reach the committed env.
        assert!(!st.config.env.unwrap().iter().any(|e| e.starts_with("V=")));
    }

    #[test]
    fn entrypoint_clears_only_an_inherited_cmd() {
        let mut st = state();
        st.apply(&Kind::Entrypoint(Command::Exec(vec![s("echo")])))
            .unwrap();
        assert_eq!(st.config.cmd, None);
        let mut st = state();
        st.apply(&Kind::Cmd(Command::Exec(vec![s("x")]))).unwrap();
        let step = st
            .apply(&Kind::Entrypoint(Command::Shell(s("run it"))))
            .unwrap();
        assert_eq!(
            created_by(step),
            r#"/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c" "run it"]"#
        );
        assert_eq!(st.config.cmd, Some(vec![s("x")]));
    }

    #[test]
    fn expose_volume_user_workdir_stopsignal_shell() {
        let mut st = state();
        let step = st
            .apply(&Kind::Expose(vec![
                s("80"),
                s("53/UDP"),
                s("${P:-8000-8001}"),
            ]))
            .unwrap();
        assert_eq!(
            created_by(step),
            "/bin/sh -c #(nop)  EXPOSE 8000-8001 53/UDP 80"
        );
        let mut ports: Vec<_> = st
            .config
            .exposed_ports
            .clone()
            .unwrap()
            .into_keys()
            .collect();
        ports.sort();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let step = st.apply(&Kind::Volume(vec![s("/a"), s("/b")])).unwrap();
        assert_eq!(created_by(step), "/bin/sh -c #(nop)  VOLUME [/a /b]");
        assert!(st.apply(&Kind::Volume(vec![s("\"\"")])).is_err());
        st.apply(&Kind::User(s("nobody"))).unwrap();
        assert_eq!(st.config.user.as_deref(), Some("nobody"));
        let step = st.apply(&Kind::Workdir(s("/srv"))).unwrap();
        assert_eq!(
            step,
            Step::Workdir {
                created_by: s("/bin/sh -c #(nop) WORKDIR /srv"),
                dir: s("/srv")
            }
        );
        st.apply(&Kind::Workdir(s("app/../x"))).unwrap();
        assert_eq!(st.config.working_dir.as_deref(), Some("/srv/x"));
        assert!(st.apply(&Kind::StopSignal(s("SIGNOPE"))).is_err());
        st.apply(&Kind::StopSignal(s("SIGUSR1"))).unwrap();
        let step = st
            .apply(&Kind::Shell(vec![s("/bin/bash"), s("-c")]))
            .unwrap();
        assert_eq!(
            created_by(step),
            "/bin/bash -c #(nop)  SHELL [/bin/bash -c]"
        );
    }

    #[test]
    fn copy_expands_words_and_heredocs_keeping_quotes() {
        use berth::image::build::dockerfile::Heredoc;
        let mut st = state();
        st.apply(&Kind::Env(vec![(s("N"), s("w"))])).unwrap();
        let spec = CopySpec {
            sources: vec![s("$N.txt")],
            dest: s("/d/${N}/"),
            chown: Some(s("${N}:${N}")),
            heredocs: vec![Heredoc {
                name: s("EOF"),
                content: s("say \"$N\"\n"),
                expand: true,
                chomp_tabs: false,
            }],
            ..CopySpec::default()
        };
        let Step::Copy(c) = st.apply(&Kind::Copy(spec)).unwrap() else {
            panic!("copy step")
        };
        assert_eq!((c.sources, c.dest.as_str()), (vec![s("w.txt")], "/d/w/"));
        assert_eq!(c.chown.as_deref(), Some("w:w"));
        assert_eq!(c.heredocs[0].1, b"say \"w\"\n");
        assert!(!c.add);
    }

    #[test]
    fn healthcheck_and_onbuild_history() {
        let mut st = state();
        let step = st
            .apply(&Kind::Healthcheck(Some(Healthcheck {
                test: Command::Shell(s("curl -f x || exit 1")),
                interval: Some(std::time::Duration::from_secs(5)),
                timeout: None,
                start_period: None,
                retries: Some(3),
            })))
            .unwrap();
        assert_eq!(
            created_by(step),
            r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "curl -f x || exit 1"] "5s" "0s" "0s" '\x03'}"#
        );
        let h = st.config.healthcheck.clone().unwrap();
        assert_eq!(
            (h.interval, h.timeout, h.retries),
            (Some(5_000_000_000), None, Some(3))
        );
        st.apply(&Kind::Healthcheck(None)).unwrap();
        let h = st.config.healthcheck.clone().unwrap();
        // Unset fields come from the previous healthcheck, as in dockerd.
        assert_eq!(h.test.unwrap(), ["NONE"]);
        assert_eq!((h.interval, h.retries), (Some(5_000_000_000), Some(3)));
        let inner = Instruction {
            line: 1,
            original: s("ONBUILD RUN echo hi"),
            kind: Kind::Run {
                command: Command::Shell(s("echo hi")),
                mounts: vec![],
                network: None,
            },
        };
        let step = st.apply(&Kind::Onbuild(Box::new(inner))).unwrap();
        assert_eq!(created_by(step), "/bin/sh -c #(nop)  ONBUILD RUN echo hi");
        assert_eq!(st.config.on_build.unwrap(), ["RUN echo hi"]);
    }
}
