//! docker-py (Debian's `python3-docker`, run with Debian's `/usr/bin/python3`
//! and `python3-pytest`) against a real `berthd`: the pytest suite in
//! `tests/compat_py/` drives containers, images and logs through another
//! team's client, written against dockerd rather than against us.
//!
//! `$BERTH_PYTHON` replaces `/usr/bin/python3`.

mod common;

use std::process::Command;

use common::TestDaemon;

/// The image the pytest suite runs its containers from.
const IMAGE: &str = "berth-py/busybox:latest";

#[test]
fn docker_py_suite_passes_against_berthd() {
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let python = std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat_py");
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", suite])
        .env("DOCKER_HOST", d.host())
        .env("BERTH_TEST_IMAGE", IMAGE)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("DOCKER_CONFIG")
        .env("HOME", d.dir())
        .output()
        .unwrap_or_else(|e| {
            panic!("run {python} -m pytest (python3-docker and python3-pytest installed?): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "docker-py suite failed:\n{text}");
    // A suite that collected nothing would also exit 5, not 0; still, make
    // sure the tests really ran.
    assert!(text.contains(" passed"), "no test passed:\n{text}");
    assert!(!text.contains("skipped"), "tests were skipped:\n{text}");
}
