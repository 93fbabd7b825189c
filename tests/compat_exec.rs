//! `docker exec` through the real `docker` CLI (version 28,
//! `/usr/local/bin/docker` or `$BERTH_DOCKER_CLI`) against a real `berthd`
//! (issue 7, item 1): output, exit codes, start failures, `-u`, `-w`, `-e`,
//! `--env-file`, `-i`, `-t`, `-d`, and the refusals for paused, stopped and
//! unknown containers.
//!
//! Every expected output and exit code below was recorded once with the
//! same client against Debian's dockerd 20.10.24 (runc 1.1.5) on this
//! machine: a throw-away daemon started as `docs/compat.md` says, a busybox
//! image of `/bin/busybox` with the same `/etc/passwd` and `/etc/group`,
//! the container `docker run -d busybox sleep 1000`. Each constant names the
//! command that recorded it; `{id}` stands for the full container ID and
//! `{short}` for its first 12 digits. dockerd 20.10 gives exit code 126 for
//! every exec that fails to start (not-found included) and writes runc's
//! error into the output stream with a CRLF. Pointing
//! `BERTH_TEST_DAEMON_HOST` at such a dockerd re-checks them.
//!
//! Left out on purpose: `--privileged`, which dockerd 20.10 cannot do on
//! this machine (runc: "unable to apply caps: operation not permitted", as
//! root lacks CAP_SYS_RESOURCE); berthd grants what it has (see
//! `tests/exec.rs`).

mod common;

use std::process::Output;

use common::{TestDaemon, code, run, run_with_stdin, stderr, stdout};

/// `docker exec berth-x sh -c 'echo o; echo e >&2; exit 3'`: stdout, stderr, exit 3.
const OUT_ERR_EXIT3: (&str, &str, i32) = ("o\n", "e\n", 3);

/// `docker exec berth-x nosuch` (exit 126, on stdout).
const NOT_FOUND: &str = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown\r\n";

/// `docker exec berth-x /etc` (exit 126, on stdout).
const NOT_EXECUTABLE: &str = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/etc\": permission denied: unknown\r\n";

/// `docker exec -w /nonexist berth-x pwd` (exit 126, on stdout).
const BAD_CWD: &str = "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/nonexist\") set in config.json failed: no such file or directory: unknown\r\n";

/// `docker exec -w rel berth-x pwd` (exit 126, on stdout: runc's check, no
/// "unable to start" part).
const RELATIVE_CWD: &str =
    "OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown\r\n";

/// `docker exec -e HOSTNAME berth-x env` with HOSTNAME unset in the
/// client's environment: a bare name removes the variable.
const ENV_REMOVED: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOME=/root\n";

/// `docker exec -u foo berth-x id` (exit 126, on stdout: dockerd's own words, no frame).
const BAD_USER: &str = "unable to find user foo: no matching entries in passwd file\r\n";

/// `docker exec -u nobody berth-x id`.
const ID_NOBODY: &str = "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n";

/// `docker exec -e A=1 --env-file env.list berth-x env` (env.list: `FROM_FILE=1`).
const ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME={short}\nFROM_FILE=1\nA=1\nHOME=/root\n";

/// `docker exec -t berth-x sh -c 'echo a; echo b >&2'`: one stream, CRLF.
const TTY_OUT: &str = "a\r\nb\r\n";

/// `docker exec -it berth-x true` with stdin not a terminal (exit 1).
const NOT_A_TTY: &str = "the input device is not a TTY\n";

/// `docker exec -d berth-x nosuch` (exit 1).
const DETACHED_NOT_FOUND: &str = "Error response from daemon: OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown\n";

/// `docker exec berth-x true` of a paused container (exit 1).
const PAUSED: &str =
    "Error response from daemon: Container berth-x is paused, unpause the container before exec\n";

/// `docker exec berth-stopped true` of a created container (exit 1).
const NOT_RUNNING: &str = "Error response from daemon: Container {id} is not running\n";

/// `docker exec nope true` (exit 1).
const NO_SUCH: &str = "Error response from daemon: No such container: nope\n";

fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

fn ok(out: &Output) -> String {
    assert_eq!(code(out), 0, "stderr: {}", stderr(out));
    stdout(out)
}

fn expect(out: &Output, want_code: i32, want_out: &str, want_err: &str) {
    assert_eq!(
        (code(out), stdout(out).as_str(), stderr(out).as_str()),
        (want_code, want_out, want_err)
    );
}

#[test]
fn docker_exec_matches_dockerd() {
    let d = daemon();
    let id = ok(&run(&mut d.docker(&[
        "run", "-d", "--name", "berth-x", "busybox", "sleep", "1000",
    ])))
    .trim()
    .to_owned();
    let short = &id[..12];
    let docker = |args: &[&str]| run(&mut d.docker(args));

    assert_eq!(ok(&docker(&["exec", "berth-x", "echo", "hi"])), "hi\n");
    let (o, e, c) = OUT_ERR_EXIT3;
    expect(
        &docker(&["exec", "berth-x", "sh", "-c", "echo o; echo e >&2; exit 3"]),
        c,
        o,
        e,
    );
    assert_eq!(
        code(&docker(&["exec", "berth-x", "sh", "-c", "nosuch"])),
        127
    );
    expect(&docker(&["exec", "berth-x", "nosuch"]), 126, NOT_FOUND, "");
    expect(
        &docker(&["exec", "berth-x", "/etc"]),
        126,
        NOT_EXECUTABLE,
        "",
    );
    expect(
        &docker(&["exec", "-w", "/nonexist", "berth-x", "pwd"]),
        126,
        BAD_CWD,
        "",
    );
    expect(
        &docker(&["exec", "-w", "rel", "berth-x", "pwd"]),
        126,
        RELATIVE_CWD,
        "",
    );
    expect(
        &docker(&["exec", "-u", "foo", "berth-x", "id"]),
        126,
        BAD_USER,
        "",
    );
    expect(
        &docker(&["exec", "-u", "nobody", "berth-x", "id"]),
        0,
        ID_NOBODY,
        "",
    );
    expect(
        &docker(&["exec", "-w", "/etc", "berth-x", "pwd"]),
        0,
        "/etc\n",
        "",
    );

    let env_file = d.dir().join("env.list");
    std::fs::write(&env_file, "FROM_FILE=1\n").unwrap();
    let env_file = env_file.to_str().unwrap();
    let want_env = ENV.replace("{short}", short);
    expect(
        &docker(&[
            "exec",
            "-e",
            "A=1",
            "--env-file",
            env_file,
            "berth-x",
            "env",
        ]),
        0,
        &want_env,
        "",
    );

    let out = run(d
        .docker(&["exec", "-e", "HOSTNAME", "berth-x", "env"])
        .env_remove("HOSTNAME"));
    expect(&out, 0, ENV_REMOVED, "");

    let out = run_with_stdin(
        &mut d.docker(&["exec", "-i", "berth-x", "sh", "-c", "cat; echo end"]),
        Some(b"hello\n"),
    );
    expect(&out, 0, "hello\nend\n", "");
    let out = run_with_stdin(&mut d.docker(&["exec", "berth-x", "cat"]), Some(b"hello\n"));
    expect(&out, 0, "", "");
    expect(
        &docker(&["exec", "-t", "berth-x", "sh", "-c", "echo a; echo b >&2"]),
        0,
        TTY_OUT,
        "",
    );
    let out = run_with_stdin(
        &mut d.docker(&["exec", "-it", "berth-x", "true"]),
        Some(b""),
    );
    expect(&out, 1, "", NOT_A_TTY);

    expect(
        &docker(&["exec", "-d", "berth-x", "sh", "-c", "echo x > /tmp/berth-d"]),
        0,
        "",
        "",
    );
    expect(
        &docker(&["exec", "-d", "berth-x", "nosuch"]),
        1,
        "",
        DETACHED_NOT_FOUND,
    );

    ok(&docker(&["pause", "berth-x"]));
    expect(&docker(&["exec", "berth-x", "true"]), 1, "", PAUSED);
    ok(&docker(&["unpause", "berth-x"]));

    let stopped = ok(&docker(&[
        "create",
        "--name",
        "berth-stopped",
        "busybox",
        "true",
    ]))
    .trim()
    .to_owned();
    expect(
        &docker(&["exec", "berth-stopped", "true"]),
        1,
        "",
        &NOT_RUNNING.replace("{id}", &stopped),
    );
    expect(&docker(&["exec", "nope", "true"]), 1, "", NO_SUCH);

    // Execs never stop the container.
    let running = ok(&docker(&["inspect", "-f", "{{.State.Running}}", "berth-x"]));
    assert_eq!(running, "true\n");
    ok(&docker(&["rm", "-f", "berth-x", "berth-stopped"]));
}
