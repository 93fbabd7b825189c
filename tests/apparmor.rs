//! AppArmor (issue 12): `--security-opt apparmor=...` as dockerd 20.10
//! handles it, on whichever kind of kernel the test runs.
//!
//! Where the kernel enforces AppArmor, containers run under `berth-default`
//! (loaded by berthd), `unconfined` when privileged or asked, and a profile
//! that is not loaded fails the start. Where it does not (the machines this
//! project's CI runs on), the option is accepted and has no effect, inspect
//! shows no profile, and `/info` does not list AppArmor: what
//! dockerd does there. The profile's text is checked by
//! `apparmor_parser` in berthd's unit tests either way; on an
//! AppArmor-less kernel the enforcing branch below does not run.
//! dockerd 20.10 (`saveAppArmorConfig`): `--privileged` is unconfined even
//! with a named profile, and without AppArmor inspect shows no profile.

mod common;

use std::path::Path;

use common::{TestDaemon, run, run_ok, stderr};

const IMAGE: &str = "berth-apparmor-busybox:latest";

/// Whether this kernel enforces AppArmor (runc's check).
fn kernel_has_apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.starts_with(b"Y"))
}

/// The container's own AppArmor label and inspect's `AppArmorProfile`.
fn label_and_shown(d: &TestDaemon, name: &str, opts: &[&str]) -> (String, String) {
    let mut args = vec!["run", "--name", name];
    args.extend_from_slice(opts);
    // Without an LSM the read fails (EINVAL); its message is then the label.
    args.extend_from_slice(&[
        IMAGE,
        "sh",
        "-c",
        "cat /proc/self/attr/current 2>&1 || true",
    ]);
    let label = run_ok(&mut d.berth(&args)).trim().to_owned();
    let shown = run_ok(&mut d.berth(&["inspect", "-f", "{{.AppArmorProfile}}", name]))
        .trim()
        .to_owned();
    run_ok(&mut d.berth(&["rm", name]));
    (label, shown)
}

#[test]
fn apparmor_options_follow_dockerd_on_this_kernel() {
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let options = d.api_get("/v1.41/info").json()["SecurityOptions"].clone();
    let listed = options
        .as_array()
        .is_some_and(|o| o.iter().any(|v| v == "name=apparmor"));

    if kernel_has_apparmor() {
        assert!(listed, "AppArmor missing from /info: {options}");
        assert_eq!(
            label_and_shown(&d, "berth-aa-default", &[]),
            (
                "berth-default (enforce)".to_owned(),
                "berth-default".to_owned()
            )
        );
        for opts in [
            &["--privileged"][..],
            &["--security-opt", "apparmor=unconfined"],
        ] {
            let (label, shown) = label_and_shown(&d, "berth-aa-unconfined", opts);
            assert_eq!(
                (label.as_str(), shown.as_str()),
                ("unconfined", "unconfined"),
                "{opts:?}"
            );
        }
        let out = run(&mut d.berth(&[
            "run",
            "--rm",
            "--security-opt",
            "apparmor=berth-not-loaded",
            IMAGE,
            "true",
        ]));
        assert!(
            !out.status.success(),
            "a profile not in the kernel: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("apparmor"), "{}", stderr(&out));
    } else {
        assert!(
            !listed,
            "AppArmor listed in /info without AppArmor: {options}"
        );
        // Accepted and without effect, as with dockerd: the label is what
        // the kernel reports without an LSM label, inspect shows none.
        let (plain, shown) = label_and_shown(&d, "berth-aa-default", &[]);
        assert_eq!(shown, "");
        assert!(plain.contains("Invalid argument"), "{plain}");
        let (label, shown) = label_and_shown(
            &d,
            "berth-aa-named",
            &["--security-opt", "apparmor=berth-not-loaded"],
        );
        assert_eq!((label, shown.as_str()), (plain, ""));
    }
}
