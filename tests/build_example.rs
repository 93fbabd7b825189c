//! `Dockerfile.example` end to end (issue 8, item 6): `contrib/toolchain-image.sh`
//! makes the toolchain image from the host's packages and imports it into a
//! fresh `berthd` with `berth import`, `berth build` builds the multi-stage
//! example (gcc in the toolchain stage, the static binary alone in
//! `scratch`), and the result runs and greets.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestDaemon, berth_cli, run_ok};

#[test]
fn dockerfile_example_builds_a_static_binary_into_scratch() {
    let d = TestDaemon::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run_ok(
        Command::new("bash")
            .arg(root.join("contrib/toolchain-image.sh"))
            .env("BERTH_CLI", berth_cli())
            .env("BERTH_HOST", d.host())
            .env_remove("DOCKER_HOST")
            .current_dir(d.dir()),
    );
    let dockerfile = root.join("Dockerfile.example");
    let context = root.join("contrib/example");
    run_ok(&mut d.berth(&[
        "build",
        "-f",
        dockerfile.to_str().expect("utf-8"),
        "-t",
        "berth-hello",
        context.to_str().expect("utf-8"),
    ]));
    let out = run_ok(&mut d.berth(&["run", "--rm", "--network", "none", "berth-hello"]));
    assert_eq!(out, "Hello from a berth-built scratch image!\n");
    // Only the binary ended up in the image: one layer, no shell.
    let layers = run_ok(&mut d.berth(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "berth-hello",
    ]));
    assert_eq!(layers.trim(), "1");
    let config = run_ok(&mut d.berth(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}}",
        "berth-hello",
    ]));
    assert_eq!(config.trim(), r#"["/hello"]"#);
}
