//! Capabilities, users, no-new-privileges, read-only root and AppArmor
//! options: berthd, driven by the real docker CLI and by `berth`, against
//! the reference dockerd's recorded results ([`crate::fixture`]).

use std::path::Path;

use crate::common::TestDaemon;
use crate::fixture::{self, CASES, Outcome};
use crate::probe::IMAGE;

/// The daemon's part of a CLI error (`Error response from daemon: …`), the
/// first line only: the rest is the CLI's own advice.
fn daemon_message(stderr: &str) -> &str {
    stderr.lines().next().unwrap_or_default()
}

/// Dockerd's result for `name`, except where the recording host's runc
/// could not do what dockerd asked: root there lacks `CAP_SYS_RESOURCE`
/// (`host_bounding_set`), so runc 1.1.5 fails `--privileged` and
/// `--cap-add ALL` with "unable to apply caps". What dockerd asks for in
/// those two cases is every capability, i.e. all the host grants, with an
/// empty inheritable and ambient set (Docker >= 20.10.14); berthd grants
/// what it has, so that is the expectation.
fn expected(name: &str, recorded: &Outcome, bounding: &str) -> Outcome {
    let host_limited = recorded.exit == 125 && recorded.stderr.contains("unable to apply caps");
    if !host_limited {
        return recorded.clone();
    }
    assert!(
        matches!(name, "caps-privileged" | "caps-add-all"),
        "{name}: dockerd failed for a reason the test does not expect: {}",
        recorded.stderr
    );
    Outcome {
        exit: 0,
        stdout: format!(
            "CapInh:\t0000000000000000\nCapPrm:\t{bounding}\nCapEff:\t{bounding}\n\
             CapBnd:\t{bounding}\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
        ),
        stderr: String::new(),
        ..recorded.clone()
    }
}

/// Runs every case whose name starts with `prefix` against a fresh berthd
/// and compares exit code, stdout and the daemon's error line.
fn compare(prefix: &str) {
    let recording = fixture::load();
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    // The berthd under test runs as this process does: same bounding set.
    let bounding = fixture::own_bounding_set();
    assert_eq!(
        bounding, recording.host_bounding_set,
        "this host's bounding set differs from the recording host's; re-record with: {}",
        recording.command
    );
    let mut mismatches = Vec::new();
    for case in CASES.iter().filter(|c| c.name.starts_with(prefix)) {
        let recorded = recording
            .cases
            .get(case.name)
            .unwrap_or_else(|| panic!("{} is not recorded; run: {}", case.name, recording.command));
        let want = expected(case.name, recorded, &bounding);
        // The docker CLI against berthd, then our own CLI (which names
        // itself where docker's says `docker:`).
        let docker = fixture::outcome(case, |a| d.docker(a));
        let mut berth = fixture::outcome(case, |a| d.berth(a));
        if let Some(rest) = berth.stderr.strip_prefix("berth: ") {
            berth.stderr = format!("docker: {rest}");
        }
        for (cli, got) in [("docker", docker), ("berth", berth)] {
            let same = got.exit == want.exit
                && got.stdout == want.stdout
                && daemon_message(&got.stderr) == daemon_message(&want.stderr);
            if !same {
                mismatches.push(format!(
                    "{} {:?} ({cli} CLI):\n  dockerd: exit {} stdout {:?} stderr {:?}\n  berthd:  exit {} stdout {:?} stderr {:?}",
                    case.name,
                    case.flags,
                    want.exit,
                    want.stdout,
                    daemon_message(&want.stderr),
                    got.exit,
                    got.stdout,
                    daemon_message(&got.stderr)
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `grep Cap /proc/self/status` (and `NoNewPrivs`) for the default set,
/// `--cap-add ALL`, `--cap-drop ALL`, add and drop mixed, `--privileged`,
/// `--user 1000` (with and without `--cap-add`: Docker sets no ambient
/// capabilities) and `--security-opt no-new-privileges[=false]`.
#[test]
fn capability_masks_match_dockerd() {
    compare("caps-");
}

/// `id` for numeric, named and `uid:gid` users, named groups, `--group-add`,
/// and dockerd's errors for unknown users and groups.
#[test]
fn users_and_groups_match_dockerd() {
    compare("user-");
}

/// `--read-only` refuses writes to the root and to `/tmp` unless
/// `--tmpfs /tmp` (with Docker's default tmpfs options); `/dev` and
/// `/dev/shm` stay writable, the generated `/etc` files do not.
#[test]
fn read_only_root_matches_dockerd() {
    compare("read-only-");
}

/// `--security-opt apparmor=…`. AppArmor is not enabled in this machine's
/// kernel, and there dockerd 20.10 accepts any profile name and applies
/// nothing (the recording shows `/proc/self/attr/current` unreadable and
/// the container running); berthd must do the same. On a host with
/// AppArmor the recording does not apply and this test fails, saying so:
/// berthd does not load or apply AppArmor profiles.
#[test]
fn apparmor_options_match_dockerd_without_apparmor() {
    let enabled = Path::new("/sys/kernel/security/apparmor").exists()
        || std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y");
    assert!(
        !enabled,
        "AppArmor is enabled on this host: the dockerd recording (made without AppArmor) \
         does not apply, and berthd does not apply AppArmor profiles"
    );
    eprintln!(
        "note: AppArmor is not enabled in this kernel; checking dockerd's behaviour without it \
         (profile names accepted, nothing applied)"
    );
    compare("apparmor-");
}
