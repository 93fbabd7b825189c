//! The Debian package end to end, on this machine: `scripts/package.sh --dev`
//! builds the .deb (from the debug build the suite already made), `dpkg -i`
//! installs it, berthd runs with the installed unit's `ExecStart=` line (its
//! `-H fd://` replaced by a private unix socket and the test's own
//! directories), the installed `berth version` talks to it, and
//! `dpkg --purge` leaves nothing behind: no file, no `berth` group.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::svc::RawDaemon;

/// What the package installs (a sample of each kind of asset).
const INSTALLED: &[&str] = &[
    "/usr/bin/berthd",
    "/usr/bin/berth",
    "/usr/bin/berth-supervisor",
    "/lib/systemd/system/berthd.service",
    "/lib/systemd/system/berthd.socket",
    "/etc/berth/daemon.json",
    "/usr/share/bash-completion/completions/berth",
    "/usr/share/zsh/vendor-completions/_berth",
    "/usr/share/fish/vendor_completions.d/berth.fish",
    "/usr/share/man/man1/berth.1.gz",
    "/usr/share/man/man1/berth-run.1.gz",
    "/usr/share/man/man8/berthd.8.gz",
];

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn package_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "berth"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
}

fn group_exists() -> bool {
    Command::new("getent")
        .args(["group", "berth"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Purges the package on drop, so a failing test leaves nothing installed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if package_installed() {
            let out = Command::new("dpkg").args(["--purge", "berth"]).output();
            if !out.as_ref().is_ok_and(|o| o.status.success()) {
                eprintln!("cleanup: dpkg --purge berth failed: {out:?}");
            }
        }
    }
}

/// The installed unit's `ExecStart=` as argv (continuation lines joined).
fn exec_start(unit: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(unit).expect("read the installed unit");
    let joined = text.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{} has no ExecStart=:\n{text}", unit.display()));
    line.split_whitespace().map(str::to_owned).collect()
}

/// `argv` without its `-H fd://` (in any of clap's spellings): the test
/// serves on its own socket instead of one systemd passes.
fn without_fd_host(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-H" | "--host" => {
                let v = it.next().expect("-H has a value");
                if !v.starts_with("fd://") {
                    out.extend([a.clone(), v.clone()]);
                }
            }
            a if a.starts_with("--host=fd://") || a.starts_with("-Hfd://") => {}
            _ => out.push(a.clone()),
        }
    }
    out
}

#[test]
fn fd_hosts_are_dropped_from_exec_start() {
    let argv: Vec<String> = ["/usr/bin/berthd", "-H", "fd://", "--debug", "--host=fd://x"]
        .map(String::from)
        .to_vec();
    assert_eq!(without_fd_host(&argv), ["/usr/bin/berthd", "--debug"]);
}

#[test]
fn the_deb_installs_serves_and_purges_cleanly() {
    common::require_root();
    assert!(
        !package_installed(),
        "a berth package is already installed on this machine; this test would replace and purge it"
    );
    assert!(
        !group_exists(),
        "group berth already exists; this test checks that postinst creates it and purge removes it"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = run(Command::new(root.join("scripts/package.sh"))
        .arg("--dev")
        .current_dir(&root));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = PathBuf::from(stdout.lines().last().expect("package.sh prints the .deb"));
    assert!(
        deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
        "{stdout}"
    );

    let installed = Installed;
    run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(package_installed());
    for path in INSTALLED {
        assert!(Path::new(path).exists(), "{path} not installed");
    }
    // postinst's group is a system group.
    let group = run(Command::new("getent").args(["group", "berth"]));
    let gid: u32 = String::from_utf8_lossy(&group.stdout)
        .split(':')
        .nth(2)
        .and_then(|g| g.trim().parse().ok())
        .expect("getent prints the gid");
    assert!(gid < 1000, "berth is not a system group (gid {gid})");
    let help = run(Command::new("/usr/bin/berth").args(["completion", "bash"]));
    assert!(String::from_utf8_lossy(&help.stdout).contains("_berth()"));

    // systemd accepts the installed units (it checks ExecStart's binary exists).
    run(Command::new("systemd-analyze").args([
        "verify",
        "/lib/systemd/system/berthd.socket",
        "/lib/systemd/system/berthd.service",
    ]));
    let argv = exec_start(Path::new("/lib/systemd/system/berthd.service"));
    assert_eq!(argv[0], "/usr/bin/berthd", "{argv:?}");
    assert!(
        argv.windows(2).any(|w| w[0] == "-H" && w[1] == "fd://"),
        "the unit serves the socket unit's fd: {argv:?}"
    );
    let args = without_fd_host(&argv[1..]);
    // The packaged default daemon.json, as the service would read it.
    let default_config =
        std::fs::read_to_string("/etc/berth/daemon.json").expect("read the default daemon.json");
    {
        let mut daemon = RawDaemon::spawn(Path::new(&argv[0]), &args, &default_config);
        daemon.wait_ready();
        let out = run(Command::new("/usr/bin/berth")
            .args(["-H", &daemon.host(), "version"])
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Client:") && text.contains("Server:"),
            "{text}"
        );
        assert!(
            text.contains(env!("CARGO_PKG_VERSION")),
            "installed version not reported: {text}"
        );
    }

    run(Command::new("dpkg").args(["--purge", "berth"]));
    drop(installed);
    assert!(!package_installed());
    for path in INSTALLED
        .iter()
        .chain(&["/etc/berth", "/usr/share/doc/berth"])
    {
        assert!(!Path::new(path).exists(), "{path} left after purge");
    }
    assert!(!group_exists(), "group berth left after purge");
}
