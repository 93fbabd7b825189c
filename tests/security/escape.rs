//! The escape suite: from inside a default container, each known way out is
//! tried and its specific failure asserted; next to it a positive twin
//! (`--privileged`, `--cap-add`, `--security-opt seccomp=unconfined`, or the
//! same probe on the host where no container flag lifts the barrier) shows
//! the probe does notice success, so a broken probe cannot pass.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::common::{COMMAND_BOUND, code, run, run_ok, stderr, stdout};
use crate::probe::{IMAGE, Lab, MOUNT};

const PROBE: &str = "/probe/berth-probe";

/// A detached container `name` running `sleep` with the probe mounted,
/// for `exec` tests; removed on drop (the daemon's teardown would kill it
/// too, this keeps a failing test's log short).
struct Running<'a> {
    lab: &'a Lab,
    name: String,
}

impl<'a> Running<'a> {
    fn start(lab: &'a Lab, name: &str, flags: &[&str]) -> Running<'a> {
        let volume = format!("{}:{MOUNT}:ro", lab.dir.display());
        let mut args = vec!["run", "-d", "--name", name, "-v", &volume];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "sleep", "100000"]);
        run_ok(&mut lab.d.berth(&args));
        Running {
            lab,
            name: name.to_owned(),
        }
    }

    /// `berth exec [flags] NAME cmd...`, asserted to succeed; its stdout.
    fn exec(&self, flags: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.push(&self.name);
        args.extend_from_slice(cmd);
        run_ok(&mut self.lab.d.berth(&args)).trim_end().to_owned()
    }

    /// A `berth exec` command, not yet run.
    fn exec_command(&self, cmd: &[&str]) -> Command {
        let mut args = vec!["exec", &self.name];
        args.extend_from_slice(cmd);
        self.lab.d.berth(&args)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = run(&mut self.lab.d.berth(&["rm", "-f", &self.name]));
    }
}

/// Kills a spawned child on drop (a failed assertion must not leave a
/// `berth exec` waiting forever).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn host_processes_are_invisible() {
    let lab = Lab::start();
    let berthd = lab.d.pid().to_string();
    let host = lab.probe_on_host(&["pids"]);
    assert!(
        host.split(' ').any(|p| p == berthd),
        "twin: on the host the probe sees berthd ({berthd}): {host}"
    );
    assert_eq!(
        lab.probe(&[], &["pids"]),
        "pids: 1",
        "the container's pid namespace holds only its own process"
    );
    assert_eq!(
        lab.probe(&["--privileged"], &["pids"]),
        "pids: 1",
        "--privileged does not share the host's pid namespace"
    );
}

#[test]
fn mounting_needs_cap_sys_admin() {
    let lab = Lab::start();
    assert_eq!(lab.probe(&[], &["mount"]), "mount: EPERM");
    assert_eq!(
        lab.probe(&["--cap-add", "SYS_ADMIN"], &["mount"]),
        "mount: ok",
        "twin: CAP_SYS_ADMIN allows the same tmpfs mount (in the container's own mount namespace)"
    );
}

#[test]
fn kernel_modules_cannot_be_loaded() {
    let lab = Lab::start();
    assert_eq!(lab.probe(&[], &["module"]), "module: EPERM");
    // With CAP_SYS_MODULE the call gets past the permission check and fails
    // on the empty "module" (/dev/null) instead: nothing is loaded.
    let twin = lab.probe(&["--cap-add", "SYS_MODULE"], &["module"]);
    assert!(
        twin.starts_with("module: E") && twin != "module: EPERM",
        "twin: with CAP_SYS_MODULE finit_module must pass the permission check: {twin}"
    );
}

#[test]
fn proc_sys_and_sys_are_read_only() {
    let lab = Lab::start();
    if Path::new("/proc/sysrq-trigger").exists() {
        assert_eq!(
            lab.probe(&[], &["open_w", "/proc/sysrq-trigger"]),
            "open_w /proc/sysrq-trigger: EROFS"
        );
    } else {
        eprintln!(
            "note: this kernel has no /proc/sysrq-trigger (no CONFIG_MAGIC_SYSRQ); not checked"
        );
    }
    for path in ["/proc/sys/kernel/hostname", "/sys/class/net/lo/mtu"] {
        assert_eq!(
            lab.probe(&[], &["open_w", path]),
            format!("open_w {path}: EROFS"),
            "{path} is read-only in a default container"
        );
    }
    // Opening for writing only (nothing is written); both are the
    // container's own (its UTS and network namespace).
    for path in ["/proc/sys/kernel/hostname", "/sys/class/net/lo/mtu"] {
        assert_eq!(
            lab.probe(&["--privileged"], &["open_w", path]),
            format!("open_w {path}: ok"),
            "twin: {path} is writable with --privileged"
        );
    }
}

#[test]
fn kcore_and_kernel_state_files_are_masked() {
    let lab = Lab::start();
    let kcore = lab.probe(&[], &["read", "/proc/kcore"]);
    if Path::new("/proc/kcore").exists() {
        assert_eq!(kcore, "read /proc/kcore: 0 bytes", "masked with /dev/null");
    } else {
        eprintln!(
            "note: this kernel has no /proc/kcore; checking that the container has none either"
        );
        assert_eq!(kcore, "read /proc/kcore: ENOENT");
    }
    for path in ["/proc/timer_list", "/proc/keys"] {
        assert_eq!(
            lab.probe(&[], &["read", path]),
            format!("read {path}: 0 bytes"),
            "{path} is masked with /dev/null"
        );
    }
    let twin = lab.probe(&["--privileged"], &["read", "/proc/timer_list"]);
    assert!(
        twin.starts_with("read /proc/timer_list: ") && twin != "read /proc/timer_list: 0 bytes",
        "twin: --privileged unmasks /proc/timer_list, which the probe then reads: {twin}"
    );
    let listing = lab.sh(&[], "ls -A /sys/firmware | wc -l");
    assert_eq!(
        stdout(&listing),
        "0\n",
        "/sys/firmware is masked: {}",
        stderr(&listing)
    );
    let listing = lab.sh(&["--privileged"], "ls -A /sys/firmware | wc -l");
    assert_ne!(
        stdout(&listing),
        "0\n",
        "twin: --privileged sees /sys/firmware"
    );
}

/// keyctl is refused by the default seccomp profile (Docker's), which the
/// escape suite relies on; seccomp's own tests are in tests/seccomp.rs.
#[test]
fn keyctl_is_refused() {
    let lab = Lab::start();
    assert_eq!(lab.probe(&[], &["keyctl"]), "keyctl: EPERM");
    assert_eq!(
        lab.probe(&["--security-opt", "seccomp=unconfined"], &["keyctl"]),
        "keyctl: ok",
        "twin: without seccomp the same read-only keyctl call works"
    );
}

/// `unshare --user` is refused by seccomp without CAP_SYS_ADMIN; and where
/// it is allowed, the full capability set it gives is worth nothing against
/// the container's own hostname and mounts, let alone the host's.
#[test]
fn unshare_user_does_not_regain_capabilities() {
    let lab = Lab::start();
    assert_eq!(lab.probe(&[], &["unshare_user"]), "unshare_user: EPERM");
    assert_eq!(
        lab.probe(&["--security-opt", "seccomp=unconfined"], &["unshare_user"]),
        "unshare_user: ok sethostname=EPERM mount=EPERM",
        "twin: without seccomp the user namespace is created, and still grants nothing outside it"
    );
}

#[test]
fn host_processes_cannot_be_ptraced() {
    let lab = Lab::start();
    let berthd = lab.d.pid().to_string();
    for flags in [&[][..], &["--cap-add", "SYS_PTRACE"][..]] {
        assert_eq!(
            lab.probe(flags, &["ptrace", &berthd]),
            format!("ptrace {berthd}: ESRCH"),
            "berthd's pid does not exist in the container ({flags:?})"
        );
    }
    assert_eq!(
        lab.probe(&[], &["ptrace_child"]),
        "ptrace_child: ok",
        "twin: the probe can trace a process it can see"
    );
}

/// CVE-2019-5736. The exec'd process' `/proc/self/exe` is its own program
/// and cannot be opened for writing while it runs; and while `exec` sets a
/// process up inside the container (held there deterministically: the
/// probe swaps `/etc/passwd` for a FIFO the exec child reads), the
/// container's root cannot reach that process' executable (the runtime's
/// binary on the host) or its fds. With `--privileged` (CAP_SYS_PTRACE) it
/// can, which shows the probe finds and reads it (it never writes).
#[test]
fn runtime_binary_is_unreachable_from_the_container() {
    let lab = Lab::start();
    let c = Running::start(&lab, "berth-sec-exe", &[]);
    let own = c.exec(
        &[],
        &[
            "sh",
            "-c",
            "cp /probe/berth-probe /tmp/a && cp /probe/berth-probe /tmp/b && /tmp/a exe_self /tmp/b",
        ],
    );
    assert_eq!(own, "exe_self: /tmp/a write=ETXTBSY copy_write=ok");

    assert_eq!(
        exe_window(&c),
        "exe_window: pid=found exe=EACCES open=EACCES fds=EACCES"
    );
    let p = Running::start(&lab, "berth-sec-exe-priv", &["--privileged"]);
    let twin = exe_window(&p);
    assert!(
        twin.starts_with("exe_window: pid=found exe=/") && twin.ends_with(" open=ok fds=ok"),
        "twin: with --privileged the exec child's binary is reachable: {twin}"
    );
}

/// Holds an exec in its setup with the FIFO trick and returns the probe's
/// verdict line, after checking that the held exec then completes.
/// The bounds only keep a hung run from hanging the suite.
fn exe_window(c: &Running) -> String {
    let mut watcher = c.exec_command(&[PROBE, "exe_window"]);
    watcher
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut watcher = Reaped(watcher.spawn().expect("spawn berth exec exe_window"));
    let out = watcher.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(COMMAND_BOUND)
            .unwrap_or_else(|e| panic!("exe_window: no line {what} ({e})"))
    };
    assert_eq!(next("before the FIFO"), "exe_window: waiting");
    // Blocks in the FIFO until the probe has looked and fed it a passwd.
    let mut held = c.exec_command(&["id", "-u"]);
    held.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let held = held.spawn().expect("spawn the held berth exec");
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(held.wait_with_output());
    });
    let verdict = next("once the exec child opened the FIFO");
    let held = done_rx
        .recv_timeout(COMMAND_BOUND)
        .unwrap_or_else(|e| panic!("the held exec never finished ({e}); the probe saw: {verdict}"))
        .expect("wait for the held exec");
    assert_eq!(
        (code(&held), stdout(&held).as_str()),
        (0, "0\n"),
        "the held exec completes once the FIFO is fed: {}; the probe saw: {verdict}",
        stderr(&held)
    );
    verdict
}

/// CVE-2024-21626: no fd of the runtime reaches the container's process
/// (run or exec), and a working dir through `/proc/self/fd/N` cannot put
/// the process' cwd outside the container.
#[test]
fn no_leaked_fds_or_host_cwd() {
    let lab = Lab::start();
    assert_eq!(lab.probe(&[], &["fds"]), "fds:");
    assert_eq!(
        lab.probe(&[], &["fds", "open"]),
        "fds: 3->/etc/hostname",
        "twin: a file the probe opens itself shows"
    );
    assert_eq!(lab.probe(&["-w", "/tmp"], &["cwd"]), "cwd: inside /tmp");
    assert_eq!(
        lab.probe(&[], &["cwd_chroot"]),
        "cwd_chroot: outside",
        "twin: a cwd left outside the root (chroot without chdir) is detected"
    );
    let c = Running::start(&lab, "berth-sec-fds", &[]);
    assert_eq!(c.exec(&[], &[PROBE, "fds"]), "fds:");
    assert_eq!(c.exec(&["-w", "/tmp"], &[PROBE, "cwd"]), "cwd: inside /tmp");
    for fd in 3..=9 {
        let workdir = format!("/proc/self/fd/{fd}");
        let volume = format!("{}:{MOUNT}:ro", lab.dir.display());
        let out = run(&mut lab.d.berth(&[
            "run", "--rm", "-v", &volume, "-w", &workdir, IMAGE, PROBE, "cwd",
        ]));
        assert!(
            code(&out) != 0 || stdout(&out).starts_with("cwd: inside "),
            "run -w {workdir}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let out = run(&mut lab
            .d
            .berth(&["exec", "-w", &workdir, "berth-sec-fds", PROBE, "cwd"]));
        assert!(
            code(&out) != 0 || stdout(&out).starts_with("cwd: inside "),
            "exec -w {workdir}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn host_time_cannot_be_changed() {
    let lab = Lab::start();
    assert_eq!(
        lab.probe(&[], &["settime"]),
        "settime: EPERM clock_settime=EPERM"
    );
    assert_eq!(
        lab.probe(&["--cap-add", "SYS_TIME"], &["settime"]),
        "settime: ok clock_settime=skipped",
        "twin: with CAP_SYS_TIME the no-op settimeofday(NULL, NULL) passes the check"
    );
}

#[test]
fn host_hostname_cannot_be_changed() {
    let lab = Lab::start();
    let before = nix::unistd::gethostname().expect("gethostname");
    assert_eq!(
        lab.probe(&[], &["hostname", "berth-escaped"]),
        "hostname: EPERM"
    );
    assert_eq!(
        lab.probe(&["--cap-add", "SYS_ADMIN"], &["hostname", "berth-escaped"]),
        "hostname: ok",
        "twin: with CAP_SYS_ADMIN the container renames its own UTS namespace"
    );
    assert_eq!(
        nix::unistd::gethostname().expect("gethostname"),
        before,
        "the host's hostname is untouched"
    );
}

/// `mknod` is allowed (CAP_MKNOD is in Docker's default set) but the device
/// cgroup refuses to open anything outside Docker's list: `/dev/kmsg` (1:11).
#[test]
fn device_nodes_cannot_be_opened() {
    let lab = Lab::start();
    assert_eq!(
        lab.probe(&[], &["mknod", "c", "1", "11"]),
        "mknod: ok open=EPERM"
    );
    assert_eq!(
        lab.probe(&["--cap-drop", "MKNOD"], &["mknod", "c", "1", "11"]),
        "mknod: EPERM"
    );
    assert_eq!(
        lab.probe(&[], &["mknod", "c", "1", "3"]),
        "mknod: ok open=ok",
        "twin: a device on Docker's list (/dev/null) opens"
    );
    assert_eq!(
        lab.probe(&["--privileged"], &["mknod", "c", "1", "11"]),
        "mknod: ok open=ok",
        "twin: --privileged lifts the device cgroup"
    );
}

/// A device node shipped in an image layer (`/berth-kmsg`, 1:11) is
/// created by the layer applier, yet the device cgroup refuses to open it.
#[test]
fn image_device_nodes_cannot_be_opened() {
    let lab = Lab::start();
    let mut dev = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Char);
    h.set_device_major(1).expect("set the device major");
    h.set_device_minor(11).expect("set the device minor");
    h.set_mode(0o666);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    dev.append_data(&mut h, "berth-kmsg", &[][..])
        .expect("append the device node");
    let layers = [
        berth::image::fixture::busybox_layer().expect("the busybox layer"),
        dev.into_inner().expect("finish the device layer"),
    ];
    let (archive, _) = crate::common::docker_archive(&layers, "berth-sec-devimage:latest");
    let resp = lab.d.api(
        "POST",
        "/v1.41/images/load?quiet=1",
        &[("Content-Type", "application/x-tar")],
        &archive,
    );
    assert_eq!(resp.status, 200, "load the device image: {}", resp.text());
    let volume = format!("{}:{MOUNT}:ro", lab.dir.display());
    let open = |flags: &[&str]| {
        let mut args = vec!["run", "--rm", "-v", &volume];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["berth-sec-devimage:latest", PROBE, "open", "/berth-kmsg"]);
        run_ok(&mut lab.d.berth(&args)).trim_end().to_owned()
    };
    assert_eq!(open(&[]), "open /berth-kmsg: EPERM");
    assert_eq!(
        open(&["--privileged"]),
        "open /berth-kmsg: ok",
        "twin: the node the image shipped is a working /dev/kmsg"
    );
}

#[test]
fn berthd_socket_is_unreachable() {
    let lab = Lab::start();
    let socket = lab.d.socket_path().to_string_lossy().into_owned();
    assert_eq!(
        lab.probe(&[], &["connect", &socket]),
        format!("connect {socket}: ENOENT")
    );
    assert_eq!(
        lab.probe(&["--privileged"], &["connect", &socket]),
        format!("connect {socket}: ENOENT"),
        "not even --privileged shares the daemon's socket"
    );
    let volume = format!("{socket}:/berth.sock");
    assert_eq!(
        lab.probe(&["-v", &volume], &["connect", "/berth.sock"]),
        "connect /berth.sock: ok",
        "twin: the probe connects when the socket is (wrongly) shared"
    );
}
