//! `berth build` against a real `berthd` (issue 8): every fixture of
//! `tests/fixtures/build/cases.json` (the BuildKit-only ones included) is
//! built and its config and run outputs compared with the expectations in
//! `tests/fixtures/build/expected/` (recorded from dockerd 20.10, see
//! `tests/compat_build.rs`), then the CLI's flags, errors, the cache and
//! hostile contexts.

mod build_support;
mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use build_support::{HttpServer, cases, check_case, daemon, steps, write_context};
use common::{
    TestDaemon, code, raw_entry, raw_finish, run, run_ok, run_with_stdin, stderr, stdout,
};

/// Builds one case with `berth build` and compares it with its expectation.
fn check(name: &str) {
    check_case(name, |d| Box::new(|args| d.berth(args)), "berth build");
}

macro_rules! fixture_cases {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            check(stringify!($name));
        }
    )*};
}

fixture_cases!(
    metadata,
    entrypoint_clears_cmd,
    cmd_then_entrypoint,
    entrypoint_inherited_cmd,
    entrypoint_shell_form,
    run_forms,
    escape_directive,
    copy,
    add_tar,
    add_url,
    multistage,
    multistage_target,
    dockerignore,
    healthcheck_exec,
    healthcheck_shell,
    healthcheck_none,
    onbuild_parent,
    onbuild_trigger,
    heredoc,
    copy_chmod,
    add_checksum,
);

#[test]
fn every_case_has_a_test_here() {
    let src = include_str!("build.rs");
    for c in cases() {
        assert!(
            src.contains(&format!("    {},\n", c.name)),
            "case {} has no test in tests/build.rs",
            c.name
        );
    }
}

/// `berth run --rm --network none` with `args` (options, the image, its command).
fn berth_run(d: &TestDaemon, args: &[&str]) -> Command {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(args);
    d.berth(&all)
}

/// `berth build` with `args` (the context last); returns the output.
fn build(d: &TestDaemon, args: &[&str]) -> std::process::Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    run(&mut d.berth(&all))
}

fn image_id(d: &TestDaemon, reference: &str) -> String {
    run_ok(&mut d.berth(&["image", "inspect", "-f", "{{.Id}}", reference]))
        .trim()
        .to_owned()
}

fn has_image(d: &TestDaemon, reference: &str) -> bool {
    d.api_get(&format!("/v1.41/images/{reference}/json")).status == 200
}

#[test]
fn syntax_error_names_dockerfile_and_line_and_builds_nothing() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "syntax",
        &[("Dockerfile", "FROM busybox\nRUN true\nFOO bar\n")],
    );
    let out = build(&d, &["-t", "berth-err:1", ctx.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Dockerfile:3"),
        "no Dockerfile:LINE in {err:?}"
    );
    assert!(
        err.to_lowercase().contains("unknown instruction") && err.contains("FOO"),
        "{err:?}"
    );
    assert!(!has_image(&d, "berth-err:1"));
    // Nothing ran: no step was announced.
    assert!(!stdout(&out).contains("Step 2/"), "{}", stdout(&out));
}

#[test]
fn failing_run_exits_with_its_code_and_tags_nothing() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "runfail",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo before\nRUN exit 7\nCMD [\"sh\"]\n",
        )],
    );
    let out = build(&d, &["-t", "berth-err:1", ctx.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 7, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{}",
        stderr(&out)
    );
    assert!(!has_image(&d, "berth-err:1"));
    assert_eq!(run_ok(&mut d.berth(&["ps", "-aq"])), "", "containers left");
}

#[test]
fn cache_hits_every_step_and_a_changed_file_invalidates_from_its_copy() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "cache",
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN echo two > /two\nCOPY b.txt /b.txt\nENV X=1\nCMD [\"cat\", \"/a.txt\"]\n",
            ),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
        ],
    );
    let hits = |extra: &[&str]| {
        let mut args = vec!["-t", "berth-cache:1"];
        args.extend_from_slice(extra);
        args.push(ctx.to_str().expect("utf-8"));
        let out = build(&d, &args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let s = steps(&stdout(&out));
        assert_eq!(s.len(), 7, "{}", stdout(&out));
        s.into_iter().map(|(_, h)| h).collect::<Vec<_>>()
    };
    assert_eq!(hits(&[]), [false; 7]);
    let first = image_id(&d, "berth-cache:1");
    assert_eq!(hits(&[]), [false, true, true, true, true, true, true]);
    assert_eq!(
        image_id(&d, "berth-cache:1"),
        first,
        "a cached rebuild is the same image"
    );
    // Same content, new mtime: still cached (content and metadata decide).
    fs::write(ctx.join("b.txt"), "b\n").expect("rewrite b.txt");
    assert_eq!(hits(&[]), [false, true, true, true, true, true, true]);
    fs::write(ctx.join("a.txt"), "changed\n").expect("change a.txt");
    assert_eq!(hits(&[]), [false, true, false, false, false, false, false]);
    assert_eq!(hits(&["--no-cache"]), [false; 7]);
    let out = run_ok(&mut berth_run(&d, &["berth-cache:1"]));
    assert_eq!(out, "changed\n");
    // A build arg in effect changes RUN's cache key.
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG V=1\nRUN echo $V > /v\n",
    )
    .expect("write the Dockerfile");
    let arg_hits = |v: &str| {
        let out = build(
            &d,
            &[
                "-t",
                "berth-cache:2",
                "--build-arg",
                &format!("V={v}"),
                ctx.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        steps(&stdout(&out))
            .into_iter()
            .map(|(_, h)| h)
            .collect::<Vec<_>>()
    };
    assert_eq!(arg_hits("1"), [false, false, false]);
    assert_eq!(arg_hits("1"), [false, true, true]);
    assert_eq!(arg_hits("2"), [false, true, false]);
}

#[test]
fn builder_prune_drops_the_cache() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "prune",
        &[("Dockerfile", "FROM busybox\nRUN echo p > /p\n")],
    );
    let once = || {
        let out = build(&d, &["-t", "berth-prune:1", ctx.to_str().expect("utf-8")]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        steps(&stdout(&out))
            .into_iter()
            .map(|(_, h)| h)
            .collect::<Vec<_>>()
    };
    assert_eq!(once(), [false, false]);
    assert_eq!(once(), [false, true]);
    let r = d.api_post("/v1.41/build/prune", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v["SpaceReclaimed"].is_u64(), "{v}");
    assert!(v.get("CachesDeleted").is_some(), "{v}");
    // Unlike dockerd 20.10, whose `/build/prune` leaves the classic
    // builder's intermediate images (its cache) alone (docs/compat.md).
    assert_eq!(once(), [false, false], "pruned cache still hit");
    run_ok(&mut d.berth(&["builder", "prune", "-f"]));
    assert_eq!(
        once(),
        [false, false],
        "`berth builder prune -f` left the cache"
    );
}

#[test]
fn quiet_iidfile_two_tags_and_labels() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "flags",
        &[(
            "Dockerfile",
            "FROM busybox\nLABEL from=dockerfile\nRUN echo q\n",
        )],
    );
    let iid = d.dir().join("iid");
    let out = build(
        &d,
        &[
            "-q",
            "--iidfile",
            iid.to_str().expect("utf-8"),
            "-t",
            "berth-flags:a",
            "-t",
            "berth-flags/other:b",
            "--label",
            "cli=yes",
            "--label",
            "from=cli",
            ctx.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = image_id(&d, "berth-flags:a");
    assert_eq!(stdout(&out), format!("{id}\n"), "-q prints only the ID");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // docker's CLI writes what the quiet stream said, newline included.
    assert_eq!(
        fs::read_to_string(&iid).expect("read the iidfile").trim(),
        id
    );
    assert_eq!(image_id(&d, "berth-flags/other:b"), id);
    let labels = run_ok(&mut d.berth(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        "berth-flags:a",
    ]));
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels JSON");
    assert_eq!(labels, serde_json::json!({"cli": "yes", "from": "cli"}));
}

#[test]
fn dockerfile_from_stdin_and_from_another_path() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "stdin",
        &[
            ("data.txt", "data\n"),
            (
                "build/Other.dockerfile",
                "FROM busybox\nCOPY data.txt /other.txt\n",
            ),
        ],
    );
    let out = run_with_stdin(
        &mut d.berth(&[
            "build",
            "-t",
            "berth-stdin:1",
            "-f",
            "-",
            ctx.to_str().expect("utf-8"),
        ]),
        Some(b"FROM busybox\nCOPY data.txt /from-stdin.txt\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cat = |img: &str, path: &str| run_ok(&mut berth_run(&d, &[img, "cat", path]));
    assert_eq!(cat("berth-stdin:1", "/from-stdin.txt"), "data\n");
    let dockerfile = ctx.join("build/Other.dockerfile");
    let out = build(
        &d,
        &[
            "-t",
            "berth-stdin:2",
            "-f",
            dockerfile.to_str().expect("utf-8"),
            ctx.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(cat("berth-stdin:2", "/other.txt"), "data\n");
}

#[test]
fn unconsumed_build_arg_is_a_warning() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "args",
        &[("Dockerfile", "FROM busybox\nARG USED\n")],
    );
    let out = build(
        &d,
        &[
            "-t",
            "berth-args:1",
            "--build-arg",
            "USED=1",
            "--build-arg",
            "NOPE=2",
            ctx.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("[Warning] One or more build-args [NOPE] were not consumed"),
        "{text}"
    );
}

#[test]
fn add_checksum_mismatch_fails_and_tags_nothing() {
    let d = daemon();
    let http = HttpServer::start();
    let ctx = write_context(
        d.dir(),
        "badsum",
        &[(
            "Dockerfile",
            "FROM busybox\nARG URL\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 ${URL}/hello.txt /h.txt\n",
        )],
    );
    let out = build(
        &d,
        &[
            "-t",
            "berth-badsum:1",
            "--build-arg",
            &format!("URL={}", http.url()),
            ctx.to_str().expect("utf-8"),
        ],
    );
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("checksum") || err.contains("digest mismatch"),
        "{err}"
    );
    assert!(!has_image(&d, "berth-badsum:1"));
    assert!(http.hits() >= 1, "the URL was never fetched");
}

#[test]
fn run_cache_mount_persists_between_builds() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "cachemount",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count && ls /cache > /listing\n",
        )],
    );
    let count = || {
        let out = build(
            &d,
            &[
                "--no-cache",
                "-t",
                "berth-cm:1",
                ctx.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        run_ok(&mut berth_run(&d, &["berth-cm:1", "cat", "/count"]))
            .trim()
            .to_owned()
    };
    assert_eq!(count(), "1");
    assert_eq!(count(), "2", "the cache mount's content was not kept");
    // The mount is not part of the image.
    let out = run(&mut berth_run(&d, &["berth-cm:1", "ls", "/cache/log"]));
    assert_ne!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn symlinks_in_the_context_are_copied_as_links_never_followed_out() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "links",
        &[
            ("Dockerfile", "FROM busybox\nCOPY dir /d/\n"),
            ("dir/plain.txt", "plain\n"),
        ],
    );
    symlink("/etc/shadow", ctx.join("dir/shadow")).expect("make the symlink");
    let out = build(&d, &["-t", "berth-links:1", ctx.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let script = "busybox readlink /d/shadow; [ -L /d/shadow ] && echo is-link";
    let got = run_ok(&mut berth_run(
        &d,
        &[
            "--entrypoint",
            "/bin/busybox",
            "berth-links:1",
            "sh",
            "-c",
            script,
        ],
    ));
    assert_eq!(got, "/etc/shadow\nis-link\n");

    // A top-level source that is a link out of the context resolves inside
    // the context (dockerd: "file not found"), never to the host's file.
    fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY toplink /x\n").expect("write");
    symlink("/etc/shadow", ctx.join("toplink")).expect("make the symlink");
    let out = build(&d, &["-t", "berth-links:2", ctx.to_str().expect("utf-8")]);
    if code(&out) == 0 {
        let host = fs::read("/etc/shadow").unwrap_or_default();
        let got = run(&mut berth_run(&d, &["berth-links:2", "cat", "/x"]));
        assert!(
            host.is_empty() || got.stdout != host,
            "the host's /etc/shadow ended up in the image"
        );
    } else {
        assert!(!has_image(&d, "berth-links:2"));
    }
}

#[test]
fn hostile_context_tar_never_writes_outside() {
    let d = daemon();
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).expect("random bytes");
    let victim = format!("berth-escape-{}", hex::encode(rnd));
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "Dockerfile",
        ::tar::EntryType::Regular,
        "",
        b"FROM busybox\nCOPY . /ctx/\n",
    );
    let up = format!("../../../../../../../../tmp/{victim}");
    raw_entry(&mut tar, &up, ::tar::EntryType::Regular, "", b"escaped\n");
    let abs = format!("/tmp/{victim}-abs");
    raw_entry(&mut tar, &abs, ::tar::EntryType::Regular, "", b"escaped\n");
    raw_entry(&mut tar, "lnk", ::tar::EntryType::Symlink, "/tmp", b"");
    raw_entry(
        &mut tar,
        &format!("lnk/{victim}-via-link"),
        ::tar::EntryType::Regular,
        "",
        b"escaped\n",
    );
    let tar = raw_finish(tar);
    let r = d.api(
        "POST",
        "/v1.41/build?t=berth-hostile:1",
        &[("Content-Type", "application/x-tar")],
        &tar,
    );
    // Whatever escaped is removed before the verdict, so a failure leaves
    // nothing behind on the host.
    let escaped: Vec<String> = [
        format!("/tmp/{victim}"),
        format!("/tmp/{victim}-abs"),
        format!("/tmp/{victim}-via-link"),
    ]
    .into_iter()
    .filter(|p| fs::remove_file(p).is_ok())
    .collect();
    assert!(
        escaped.is_empty(),
        "the context wrote {escaped:?} on the host (status {}, {})",
        r.status,
        r.text()
    );
    // Either refused or built with nothing outside its own tree.
    if r.status == 200 && !r.text().contains("\"error\"") {
        let ls = run_ok(&mut berth_run(
            &d,
            &[
                "--entrypoint",
                "/bin/busybox",
                "berth-hostile:1",
                "find",
                "/ctx",
            ],
        ));
        assert!(!ls.contains(".."), "{ls}");
    }
}

#[test]
fn run_network_modes_and_predefined_proxy_args() {
    let d = daemon();
    let ctx = write_context(
        d.dir(),
        "net",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN busybox ip -o link | busybox cut -d: -f2 | busybox tr -d ' ' > /links && echo \"$HTTP_PROXY\" > /proxy\n",
        )],
    );
    let links = |net: &str| {
        let out = build(
            &d,
            &[
                "--no-cache",
                "--network",
                net,
                "--build-arg",
                "HTTP_PROXY=http://proxy.invalid:3128",
                "-t",
                "berth-net:1",
                ctx.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // Predefined proxy args need no ARG and are not reported unused.
        assert!(!stdout(&out).contains("[Warning]"), "{}", stdout(&out));
        let cat = |path: &str| run_ok(&mut berth_run(&d, &["berth-net:1", "cat", path]));
        assert_eq!(cat("/proxy"), "http://proxy.invalid:3128\n");
        cat("/links")
    };
    assert_eq!(links("none"), "lo\n");
    let bridged = links("default");
    assert!(bridged.lines().any(|l| l.starts_with("eth0")), "{bridged}");
    // The proxy value is never part of the image config.
    let env = run_ok(&mut d.berth(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        "berth-net:1",
    ]));
    assert!(!env.contains("proxy.invalid"), "{env}");
}

#[test]
fn independent_stages_build_concurrently_and_unneeded_ones_not_at_all() {
    let d = daemon();
    // Each stage announces itself in a shared cache mount and waits (up to
    // 120 s, only a bound) for the other: built one after the other, the
    // first would give up and fail the build.
    let wait_for = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/sync,id=berth-sync,sharing=shared touch /sync/{me} && i=0 && while [ ! -e /sync/{other} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done && test -e /sync/{other} && echo {me} > /{me}\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox AS a\n{}\nFROM busybox AS b\n{}\nFROM busybox AS unneeded\nRUN exit 9\n\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        wait_for("a", "b"),
        wait_for("b", "a")
    );
    let ctx = write_context(d.dir(), "stages", &[("Dockerfile", &dockerfile)]);
    let out = build(&d, &["-t", "berth-stages:1", ctx.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let got = run_ok(&mut berth_run(&d, &["berth-stages:1", "cat", "/a", "/b"]));
    assert_eq!(got, "a\nb\n");
}
