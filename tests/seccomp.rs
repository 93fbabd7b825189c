//! seccomp (issue 12): Docker's default profile on every container and exec,
//! custom profiles (`--security-opt seccomp=<file>` through the berth and
//! docker CLIs, which send the file's JSON), `seccomp=unconfined`,
//! `--privileged`, and the daemon's `seccomp-profile`.
//!
//! Each blocked call has a positive twin: the same probe with seccomp off
//! (or with the capability a conditional rule asks for) gets past the
//! filter, and the errno changes from EPERM to the kernel's own answer, so
//! a probe that never reached the kernel cannot pass.
//!
//! The probe is a small static C program (source below) compiled by the
//! test with `gcc -static` into the daemon's test directory and
//! bind-mounted read-only at `/probe`.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::{
    RefDockerd, TestDaemon, berth_tempdir, berthd_command, code, run, run_ok, stderr, stdout,
};

const IMAGE: &str = "berth-seccomp-busybox:latest";

/// Runs each syscall named on the command line in a forked child, with
/// arguments that change nothing, and prints `<name> ok` or `<name> <ERRNO>`.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENODEV: return "ENODEV";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case ENOKEY: return "ENOKEY";
    case EEXIST: return "EEXIST";
    default: return "OTHER";
    }
}

static long call(const char *name) {
    /* KEYCTL_GET_KEYRING_ID of the session keyring, without creating it */
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0, -3, 0);
    /* a key type that does not exist: ENODEV once past seccomp */
    if (!strcmp(name, "add_key"))
        return syscall(SYS_add_key, "berth_no_such_type", "berth", "x", 1, -2);
    if (!strcmp(name, "unshare_user")) return syscall(SYS_unshare, CLONE_NEWUSER);
    /* invalid flags: EINVAL (or ENOSYS without kexec) once past seccomp and CAP_SYS_BOOT */
    if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0xffff0000UL);
    /* a NULL handle: EFAULT once past seccomp and CAP_DAC_READ_SEARCH */
    if (!strcmp(name, "open_by_handle_at"))
        return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY);
    if (!strcmp(name, "getppid")) return syscall(SYS_getppid);
    /* fchmodat2 (452, Linux 6.6) is newer than the profile: ENOSYS, so libc falls back */
    if (!strcmp(name, "fchmodat2")) return syscall(452, AT_FDCWD, "/nonexistent-berth", 0, 0);
    errno = 0;
    return -2;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            long r = call(argv[i]);
            if (r == -2 && errno == 0) printf("%s unknown-probe\n", argv[i]);
            else if (r < 0) printf("%s %s\n", argv[i], ename(errno));
            else printf("%s ok\n", argv[i]);
            fflush(stdout);
            _exit(0);
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("%s probe-failed\n", argv[i]);
            return 1;
        }
    }
    return 0;
}
"#;

/// The calls Docker's default profile blocks that the issue names.
const BLOCKED: [&str; 5] = [
    "keyctl",
    "add_key",
    "unshare_user",
    "kexec_load",
    "open_by_handle_at",
];

/// A daemon with the busybox image and the compiled probe.
struct Lab {
    d: TestDaemon,
    probe_dir: PathBuf,
}

impl Lab {
    fn start() -> Lab {
        Lab::with(TestDaemon::start())
    }

    fn with(d: TestDaemon) -> Lab {
        d.load_busybox(IMAGE);
        let probe_dir = d.dir().join("berth-seccomp-probe");
        fs::create_dir(&probe_dir).expect("create the probe dir");
        let src = probe_dir.join("probe.c");
        fs::write(&src, PROBE_C).expect("write the probe source");
        run_ok(
            Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(probe_dir.join("probe"))
                .arg(&src),
        );
        Lab { d, probe_dir }
    }

    /// `berth run --rm` with `flags` of the probe for `calls`; returns
    /// `name -> result`.
    fn probe(&self, flags: &[&str], calls: &[&str]) -> Vec<(String, String)> {
        let volume = format!("{}:/probe:ro", self.probe_dir.display());
        let mut args = vec!["run", "--rm", "-v", &volume];
        args.extend_from_slice(flags);
        args.push(IMAGE);
        args.push("/probe/probe");
        args.extend_from_slice(calls);
        let text = run_ok(&mut self.d.berth(&args));
        let results: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        assert_eq!(
            results.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            calls,
            "probe output with {flags:?}: {text}"
        );
        results
    }

    /// The probe's raw output through `cli` (a `run --rm` command prefix).
    fn probe_with(&self, mut cli: Command, flags: &[&str], calls: &[&str]) -> String {
        let volume = format!("{}:/probe:ro", self.probe_dir.display());
        cli.args(["run", "--rm", "--network", "none", "-v", &volume])
            .args(flags)
            .arg(IMAGE)
            .arg("/probe/probe")
            .args(calls);
        run_ok(&mut cli)
    }

    /// The result of one call.
    fn one(&self, flags: &[&str], call: &str) -> String {
        self.probe(flags, &[call]).remove(0).1
    }

    /// The `Seccomp:` mode of `/proc/self/status` of a `run` with `flags`.
    fn run_mode(&self, flags: &[&str]) -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "grep", "^Seccomp:", "/proc/self/status"]);
        mode(&run_ok(&mut self.d.berth(&args)))
    }
}

/// `Seccomp:\t2` -> `2`.
fn mode(line: &str) -> String {
    line.trim()
        .strip_prefix("Seccomp:")
        .unwrap_or_else(|| panic!("not a Seccomp: line: {line:?}"))
        .trim()
        .to_owned()
}

/// A profile allowing everything but `mkdir`/`mkdirat` (EPERM), in a file.
fn no_mkdir_profile(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("berth-no-mkdir.json");
    fs::write(
        &path,
        r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "args": [], "comment": "berth test"}
  ]
}"#,
    )
    .expect("write the profile");
    path
}

#[test]
fn default_profile_blocks_dockers_handful_with_eperm() {
    let lab = Lab::start();
    for (call, result) in lab.probe(&[], &BLOCKED) {
        assert_eq!(result, "EPERM", "{call} in a default container");
    }
    // Blocked by the filter, not by a missing capability: the capability
    // alone does not let these through while the default profile is on.
    assert_eq!(lab.one(&["--cap-add", "SYS_BOOT"], "kexec_load"), "EPERM");
    assert_eq!(lab.one(&["--cap-add", "SYS_ADMIN"], "keyctl"), "EPERM");
}

#[test]
fn the_probe_gets_the_same_answers_from_dockerd() {
    let lab = Lab::start();
    let (archive, _) = lab.d.busybox_archive(IMAGE);
    let dockerd = RefDockerd::start();
    run_ok(&mut dockerd.docker(&["load", "-i", archive.to_str().expect("utf-8")]));
    let mut calls = BLOCKED.to_vec();
    calls.extend(["fchmodat2", "getppid"]);
    // Not --privileged: dockerd's runc cannot start one on this machine (see docs/compat.md).
    let settings: [&[&str]; 5] = [
        &[],
        &["--security-opt", "seccomp=unconfined"],
        &["--cap-add", "DAC_READ_SEARCH"],
        &["--cap-add", "SYS_ADMIN"],
        &["--security-opt", "no-new-privileges"],
    ];
    for flags in settings {
        let ours = lab.probe_with(lab.d.docker(&[]), flags, &calls);
        let theirs = lab.probe_with(dockerd.docker(&[]), flags, &calls);
        assert_eq!(ours, theirs, "berthd vs dockerd with {flags:?}");
    }
    // The seccomp entry only: AppArmor or cgroupns entries depend on the host.
    let info = |text: String| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&text).expect("info JSON");
        v["SecurityOptions"]
            .as_array()
            .expect("SecurityOptions")
            .iter()
            .filter_map(|o| o.as_str())
            .filter(|o| o.starts_with("name=seccomp"))
            .map(str::to_owned)
            .collect()
    };
    let theirs = run_ok(&mut dockerd.docker(&["info", "--format", "{{json .}}"]));
    let ours = run_ok(&mut lab.d.docker(&["info", "--format", "{{json .}}"]));
    assert_eq!(info(ours), info(theirs));
}

#[test]
fn syscalls_newer_than_the_profile_answer_enosys_like_runc() {
    let lab = Lab::start();
    assert_eq!(lab.one(&[], "fchmodat2"), "ENOSYS");
    // Twin: the kernel has it (and finds no such file).
    assert_eq!(
        lab.one(&["--security-opt", "seccomp=unconfined"], "fchmodat2"),
        "ENOENT"
    );
}

#[test]
fn unconfined_and_privileged_twins_get_past_the_filter() {
    let lab = Lab::start();
    let unconfined = lab.probe(
        &["--security-opt", "seccomp=unconfined"],
        &["keyctl", "add_key", "unshare_user"],
    );
    // The kernel's own answers: the keyring exists, the key type does not,
    // unprivileged user namespaces are allowed.
    assert_eq!(
        unconfined,
        [
            ("keyctl".to_owned(), "ok".to_owned()),
            ("add_key".to_owned(), "ENODEV".to_owned()),
            ("unshare_user".to_owned(), "ok".to_owned()),
        ]
    );
    // kexec_load needs CAP_SYS_BOOT as well: --privileged has both off.
    let kexec = lab.one(&["--privileged"], "kexec_load");
    assert!(
        kexec == "EINVAL" || kexec == "ENOSYS",
        "kexec_load with --privileged: {kexec}"
    );
    for (call, result) in lab.probe(&["--privileged"], &BLOCKED) {
        assert_ne!(result, "EPERM", "{call} with --privileged");
    }
}

#[test]
fn capability_conditional_rules_follow_cap_add() {
    let lab = Lab::start();
    // Docker's profile allows open_by_handle_at with CAP_DAC_READ_SEARCH and
    // unshare/clone with namespaces with CAP_SYS_ADMIN.
    assert_eq!(
        lab.one(&["--cap-add", "DAC_READ_SEARCH"], "open_by_handle_at"),
        "EFAULT"
    );
    assert_eq!(lab.one(&["--cap-add", "SYS_ADMIN"], "unshare_user"), "ok");
    // Unconfined, the kernel answers EFAULT for the NULL handle before any
    // capability check on this kernel, so the EPERM of a default container
    // (see above) is the filter's.
    assert_eq!(
        lab.one(
            &["--security-opt", "seccomp=unconfined"],
            "open_by_handle_at"
        ),
        "EFAULT"
    );
}

#[test]
fn proc_status_shows_the_filter_on_runs_and_execs() {
    let lab = Lab::start();
    assert_eq!(lab.run_mode(&[]), "2");
    assert_eq!(lab.run_mode(&["--security-opt", "seccomp=unconfined"]), "0");
    assert_eq!(lab.run_mode(&["--privileged"]), "0");
    // The no_new_privs path loads the filter last, right before execve.
    assert_eq!(lab.run_mode(&["--security-opt", "no-new-privileges"]), "2");

    let d = &lab.d;
    let id = run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-seccomp-exec",
        IMAGE,
        "sleep",
        "300",
    ]));
    let id = id.trim();
    let exec_mode = |flags: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[id, "grep", "^Seccomp:", "/proc/self/status"]);
        mode(&run_ok(&mut d.berth(&args)))
    };
    assert_eq!(exec_mode(&[]), "2");
    // Docker keeps the container's filter for `exec --privileged`.
    assert_eq!(exec_mode(&["--privileged"]), "2");
    run_ok(&mut d.berth(&["rm", "-f", id]));

    let info = d.api_get("/v1.41/info").json();
    assert_eq!(
        info["SecurityOptions"],
        serde_json::json!(["name=seccomp,profile=default"])
    );
}

#[test]
fn a_normal_workload_runs_under_the_default_profile() {
    let lab = Lab::start();
    let script = "set -e; ls / >/dev/null; mkdir -p /tmp/berth/a; echo hi > /tmp/berth/a/f; \
                  cat /tmp/berth/a/f; ln -s f /tmp/berth/a/l; readlink /tmp/berth/a/l; \
                  (sleep 0 &) ; wait; ps >/dev/null; id -u; chown 1000 /tmp/berth/a/f; \
                  stat -c %u /tmp/berth/a/f; rm -r /tmp/berth; echo done";
    let out = run_ok(&mut lab.d.berth(&["run", "--rm", IMAGE, "sh", "-c", script]));
    assert_eq!(out, "hi\nf\n0\n1000\ndone\n");
    let out = run_ok(&mut lab.d.berth(&[
        "run",
        "--rm",
        "--user",
        "1000:1000",
        IMAGE,
        "sh",
        "-c",
        "id -u; ls /bin/sh",
    ]));
    assert_eq!(out, "1000\n/bin/sh\n");
    assert_eq!(lab.one(&[], "getppid"), "ok");
}

#[test]
fn custom_profile_blocks_mkdir_through_berth_and_docker_clis() {
    let lab = Lab::start();
    let d = &lab.d;
    let profile = no_mkdir_profile(d.dir());
    let opt = format!("seccomp={}", profile.display());
    for cli in ["berth", "docker"] {
        let cmd = |args: &[&str]| {
            if cli == "berth" {
                d.berth(args)
            } else {
                d.docker(args)
            }
        };
        let out = run(&mut cmd(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            IMAGE,
            "mkdir",
            "/tmp/berth-x",
        ]));
        assert_ne!(code(&out), 0, "{cli}: mkdir got through the profile");
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{cli}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        // Twin: the same command without the profile.
        run_ok(&mut cmd(&["run", "--rm", IMAGE, "mkdir", "/tmp/berth-x"]));
    }
    // What the CLI sent is the profile's JSON, as the docker CLI sends it.
    let id = run_ok(&mut d.berth(&["create", "--security-opt", &opt, IMAGE, "true"]));
    let inspect = d
        .api_get(&format!("/v1.41/containers/{}/json", id.trim()))
        .json();
    let sent = inspect["HostConfig"]["SecurityOpt"][0]
        .as_str()
        .expect("a SecurityOpt entry")
        .to_owned();
    let json = sent.strip_prefix("seccomp=").expect("seccomp=<json>");
    let v: serde_json::Value = serde_json::from_str(json).expect("the profile's JSON");
    assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW");
    run_ok(&mut d.berth(&["rm", id.trim()]));
}

#[test]
fn bad_custom_profiles_are_refused_at_create() {
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &serde_json::json!({
            "Image": IMAGE,
            "Cmd": ["true"],
            "HostConfig": {"SecurityOpt": ["seccomp={\"defaultAction\": 5}"]},
        }),
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(
        resp.error_message()
            .starts_with("decoding seccomp profile failed"),
        "{}",
        resp.text()
    );
}

#[test]
fn daemon_seccomp_profile_is_the_default_and_unconfined_overrides_it() {
    let dir = berth_tempdir("seccomp-profile");
    let _cleanup = RemoveDir(dir.clone());
    let profile = no_mkdir_profile(&dir);
    let config = serde_json::json!({"seccomp-profile": profile}).to_string();
    let d = TestDaemon::start_with(&config, &[]);
    d.load_busybox(IMAGE);
    let info = d.api_get("/v1.41/info").json();
    assert_eq!(
        info["SecurityOptions"],
        serde_json::json!([format!("name=seccomp,profile={}", profile.display())])
    );
    let out = run(&mut d.berth(&["run", "--rm", IMAGE, "mkdir", "/tmp/berth-x"]));
    assert_ne!(code(&out), 0, "mkdir got through the daemon's profile");
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    let mode = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "sh",
        "-c",
        "mkdir /tmp/berth-x && grep ^Seccomp: /proc/self/status",
    ]));
    assert_eq!(self::mode(&mode), "0");
}

#[test]
fn daemon_refuses_to_start_with_an_unreadable_profile() {
    let dir = berth_tempdir("seccomp-bad");
    let _cleanup = RemoveDir(dir.clone());
    let config = dir.join("daemon.json");
    fs::write(&config, "{}").unwrap();
    let out = run(berthd_command(
        &dir.join("berth.sock"),
        &dir.join("data"),
        &dir.join("exec"),
        &dir.join("berthd.pid"),
        &config,
    )
    .args(["--seccomp-profile", "/nonexistent-berth/profile.json"]));
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("opening seccomp profile (/nonexistent-berth/profile.json) failed"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("berth.sock").exists());
}

/// Removes a directory of the test's own when dropped.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            eprintln!("remove {}: {e}", self.0.display());
        }
    }
}
