//! `berth pull`, `push`, `login` and `logout` against a real registry
//! (Debian's `docker-registry` 2.8, started by each test on 127.0.0.1 with
//! storage of its own; see tests/common/registry.rs): round trips by tag,
//! by digest and with `-a`, htpasswd basic auth, and the failures a user
//! meets (404, 401, refused connection, corrupted blob, interrupted pull),
//! each one line on stderr and exit 1, leaving no image behind.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::registry::{CutProxy, TestRegistry, free_port, pushed_digest};
use common::{TestDaemon, code, run, run_ok, run_with_stdin, stderr, stdout};
use serde_json::Value;

/// A daemon plus private client config dirs, so neither root's
/// `~/.config/berth` nor `~/.docker` plays a part.
struct Env {
    d: TestDaemon,
    config: PathBuf,
}

impl Env {
    fn start() -> Env {
        let d = TestDaemon::start();
        let config = d.dir().join("berth-config");
        Env { d, config }
    }

    /// A `berth` command with this test's config dirs.
    fn berth(&self, args: &[&str]) -> Command {
        let mut cmd = self.d.berth(args);
        cmd.env("BERTH_CONFIG", &self.config)
            .env("DOCKER_CONFIG", self.d.dir().join("docker-config"))
            .env("HOME", self.d.dir());
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.berth(args))
    }

    /// The image's inspect JSON, or `None` when the daemon does not know it.
    fn image(&self, name: &str) -> Option<Value> {
        let r = self.d.api_get(&format!("/v1.41/images/{name}/json"));
        match r.status {
            200 => Some(r.json()),
            404 => None,
            s => panic!("inspect {name}: {s} {}", r.text()),
        }
    }

    fn image_id(&self, name: &str) -> String {
        self.image(name)
            .unwrap_or_else(|| panic!("no image {name}"))["Id"]
            .as_str()
            .expect("Id")
            .to_string()
    }

    /// All image IDs the daemon has.
    fn image_ids(&self) -> Vec<String> {
        self.ok(&["images", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// busybox plus a committed layer with `/hello`, tagged `reference`;
    /// returns its image ID.
    fn build_image(&self, reference: &str, text: &str) -> String {
        if self.image("busybox:latest").is_none() {
            self.d.load_busybox("busybox:latest");
        }
        let name = format!("berth-mk-{}", &berth::fsutil::random_id()[..12]);
        self.ok(&[
            "run",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            &format!("echo {text} > /hello"),
        ]);
        self.ok(&["commit", &name, reference]);
        self.ok(&["rm", &name]);
        self.image_id(reference)
    }
}

/// Asserts a failed command: exit 1 and exactly one non-empty line on stderr;
/// returns that line.
fn one_line_failure(out: &Output, what: &str) -> String {
    assert_eq!(
        code(out),
        1,
        "{what}: stdout {:?} stderr {:?}",
        stdout(out),
        stderr(out)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr, got {err:?}");
    assert!(!lines[0].trim().is_empty(), "{what}: empty error line");
    lines[0].to_string()
}

#[test]
fn push_rmi_then_pull_by_tag_and_by_digest_gives_the_same_image() {
    let e = Env::start();
    let reg = TestRegistry::start();
    let repo = format!("{}/berth/app", reg.addr());
    let image = format!("{repo}:v1");
    let id = e.build_image(&image, "hello-registry");

    let out = e.ok(&["push", &image]);
    assert!(
        out.starts_with(&format!("The push refers to repository [{repo}]\n")),
        "{out}"
    );
    let digest = pushed_digest(&out, "v1");
    // The registry holds what berth said it pushed.
    let manifest = reg.manifest("berth/app", &digest);
    assert_eq!(manifest["config"]["digest"], id.as_str(), "{manifest}");
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(2));

    e.ok(&["rmi", &image]);
    assert!(e.image(&image).is_none());
    let out = e.ok(&["pull", &image]);
    assert!(
        out.contains(&format!("Digest: {digest}\n")),
        "pull output:\n{out}"
    );
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {image}\n{image}\n"
        )),
        "pull output:\n{out}"
    );
    assert_eq!(e.image_id(&image), id);
    let inspect = e.image(&image).expect("pulled image");
    assert_eq!(
        inspect["RepoDigests"],
        serde_json::json!([format!("{repo}@{digest}")])
    );
    // The pulled layers are the image's filesystem.
    assert_eq!(
        e.ok(&["run", "--rm", &image, "cat", "/hello"]),
        "hello-registry\n"
    );

    // By digest: same image, and only the reference printed with -q.
    e.ok(&["rmi", &image]);
    let by_digest = format!("{repo}@{digest}");
    assert_eq!(e.ok(&["pull", "-q", &by_digest]), format!("{by_digest}\n"));
    assert_eq!(e.image_id(&by_digest), id);
    assert_eq!(
        e.image(&by_digest).expect("pulled")["RepoDigests"],
        serde_json::json!([by_digest])
    );

    // Pulling what is there already changes nothing.
    let out = e.ok(&["image", "pull", &image]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {image}\n"))
            || out.contains(&format!("Status: Downloaded newer image for {image}\n")),
        "{out}"
    );
    assert_eq!(e.image_id(&image), id);
}

#[test]
fn pull_all_tags_and_default_tag() {
    let e = Env::start();
    let reg = TestRegistry::start();
    let repo = format!("{}/berth/tags", reg.addr());
    let one = e.build_image(&format!("{repo}:one"), "one");
    let two = e.build_image(&format!("{repo}:two"), "two");
    e.ok(&["tag", &format!("{repo}:two"), &format!("{repo}:latest")]);
    let out = e.ok(&["push", "--all-tags", &repo]);
    for tag in ["one", "two", "latest"] {
        pushed_digest(&out, tag);
    }
    // A tag with -a is refused before anything happens.
    let bad = run(&mut e.berth(&["pull", "-a", &format!("{repo}:one")]));
    assert_eq!(
        one_line_failure(&bad, "pull -a with a tag"),
        "tag can't be used with --all-tags/-a"
    );

    for tag in ["one", "two", "latest"] {
        e.ok(&["rmi", &format!("{repo}:{tag}")]);
    }
    e.ok(&["pull", "-a", &repo]);
    assert_eq!(e.image_id(&format!("{repo}:one")), one);
    assert_eq!(e.image_id(&format!("{repo}:two")), two);
    assert_eq!(e.image_id(&format!("{repo}:latest")), two);

    e.ok(&["rmi", &format!("{repo}:latest")]);
    let out = e.ok(&["pull", &repo]);
    assert!(out.starts_with("Using default tag: latest\n"), "{out}");
    assert!(out.ends_with(&format!("{repo}:latest\n")), "{out}");
    assert_eq!(e.image_id(&format!("{repo}:latest")), two);
}

#[test]
fn login_with_htpasswd_stores_credentials_privately_and_logout_forgets_them() {
    const PASSWORD: &str = "berth-Secret-7f3a";
    let e = Env::start();
    let reg = TestRegistry::start_with_htpasswd("berthuser", PASSWORD);
    let server = reg.addr();
    let image = format!("{server}/berth/private:v1");
    let id = e.build_image(&image, "private");

    // No credentials: the registry's 401 is one line.
    let out = run(&mut e.berth(&["push", &image]));
    let line = one_line_failure(&out, "push without login");
    assert!(
        line.to_lowercase().contains("unauthorized")
            || line.to_lowercase().contains("authentication required")
            || line.to_lowercase().contains("no basic auth credentials"),
        "{line}"
    );

    // A wrong password: exit 1, one line, nothing stored.
    let out = run_with_stdin(
        &mut e.berth(&["login", "-u", "berthuser", "--password-stdin", &server]),
        Some(b"wrong-password\n"),
    );
    one_line_failure(&out, "login with a wrong password");
    // dockerd 20.10 answers a refused login with 500 and this message.
    let r = e.d.api_post_json(
        "/v1.41/auth",
        &serde_json::json!({"username": "berthuser", "password": "wrong", "serveraddress": server}),
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.error_message(),
        format!("login attempt to http://{server}/v2/ failed with status: 401 Unauthorized")
    );
    assert!(
        !e.config.join("config.json").exists() || {
            let text = fs::read_to_string(e.config.join("config.json")).unwrap();
            !text.contains(&server)
        }
    );

    // The right one: stored in Docker's format, mode 0600.
    let out = run_with_stdin(
        &mut e.berth(&["login", "-u", "berthuser", "--password-stdin", &server]),
        Some(format!("{PASSWORD}\n").as_bytes()),
    );
    assert_eq!(code(&out), 0, "login: {}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded\n");
    assert!(!stderr(&out).contains(PASSWORD));
    let file = e.config.join("config.json");
    let mode = fs::metadata(&file)
        .expect("config.json")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "config.json mode");
    let config: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    use base64::Engine;
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("berthuser:{PASSWORD}"));
    assert_eq!(
        config["auths"][&server]["auth"],
        expected.as_str(),
        "{config}"
    );

    // Logged in: push, rmi, pull work.
    let out = e.ok(&["push", &image]);
    let digest = pushed_digest(&out, "v1");
    e.ok(&["rmi", &image]);
    e.ok(&["pull", &image]);
    assert_eq!(e.image_id(&image), id);
    assert_eq!(
        e.image(&image).unwrap()["RepoDigests"],
        serde_json::json!([format!("{server}/berth/private@{digest}")])
    );

    // -p works too, with Docker's warning.
    let out = run(&mut e.berth(&["login", "-u", "berthuser", "-p", PASSWORD, &server]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        ),
        "{}",
        stderr(&out)
    );

    // The password never reaches the daemon's log.
    assert!(
        !e.d.log_text().contains(PASSWORD),
        "password in berthd's log"
    );

    let out = e.ok(&["logout", &server]);
    assert_eq!(out, format!("Removing login credentials for {server}\n"));
    let config: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert!(config["auths"].get(&server).is_none(), "{config}");
    // Again: docker 28 says the same and succeeds.
    assert_eq!(
        e.ok(&["logout", &server]),
        format!("Removing login credentials for {server}\n")
    );

    // Logged out: the pull is refused with one line, and leaves no image.
    e.ok(&["rmi", &image]);
    let out = run(&mut e.berth(&["pull", &image]));
    let line = one_line_failure(&out, "pull after logout");
    assert!(line.ends_with(": no basic auth credentials"), "{line}");
    assert!(e.image(&image).is_none());
    // dockerd 20.10 answers it with 500 before any stream.
    let r = e.d.api_post(
        &format!("/v1.41/images/create?fromImage={server}/berth/private&tag=v1"),
        b"",
    );
    assert_eq!(r.status, 500, "{}", r.text());
}

#[test]
fn unknown_repo_unknown_tag_and_refused_connection_are_one_line_each() {
    let e = Env::start();
    let reg = TestRegistry::start();
    let image = format!("{}/berth/known:v1", reg.addr());
    e.build_image(&image, "known");
    e.ok(&["push", &image]);
    let before = e.image_ids();

    let cases = [
        (format!("{}/berth/nosuchrepo:v1", reg.addr()), "not found"),
        (format!("{}/berth/known:nosuchtag", reg.addr()), "not found"),
        (
            format!("127.0.0.1:{}/berth/x:v1", free_port()),
            "connection refused",
        ),
    ];
    for (reference, expect) in cases {
        let out = run(&mut e.berth(&["pull", &reference]));
        let line = one_line_failure(&out, &reference);
        assert!(
            line.to_lowercase().contains(expect),
            "pull {reference}: {line:?} does not say {expect:?}"
        );
        assert_eq!(e.image_ids(), before, "pull {reference} left an image");
    }
    let out = run(&mut e.berth(&["push", &format!("127.0.0.1:{}/berth/x:v1", free_port())]));
    one_line_failure(&out, "push of an unknown image");

    // The API answers as dockerd 20.10 does (recorded against the same
    // registry): the status and message come before any stream.
    let r = e.d.api_post(
        &format!(
            "/v1.41/images/create?fromImage={}/berth/known&tag=nosuchtag",
            reg.addr()
        ),
        b"",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(
        r.error_message(),
        format!(
            "manifest for {}/berth/known:nosuchtag not found: manifest unknown: manifest unknown",
            reg.addr()
        )
    );
    let port = free_port();
    let r = e.d.api_post(
        &format!("/v1.41/images/create?fromImage=127.0.0.1:{port}/berth/x&tag=v1"),
        b"",
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.error_message(),
        format!(
            "Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        )
    );
}

#[test]
fn corrupted_blob_in_the_registry_is_detected_at_pull() {
    let e = Env::start();
    let reg = TestRegistry::start();
    let image = format!("{}/berth/corrupt:v1", reg.addr());
    e.build_image(&image, "corrupt");
    let digest = pushed_digest(&e.ok(&["push", &image]), "v1");
    // Remove everything, so that every layer must come from the registry.
    e.ok(&["rmi", &image]);
    e.ok(&["rmi", "busybox:latest"]);
    assert_eq!(e.image_ids(), Vec::<String>::new());

    let manifest = reg.manifest("berth/corrupt", &digest);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest");
    let path = reg.blob_data_path(layer);
    let mut data = fs::read(&path).expect("read the blob");
    // Same size, different bytes: only the digest can tell.
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 64] {
        *b ^= 0x5a;
    }
    fs::write(&path, &data).expect("corrupt the blob");

    let out = run(&mut e.berth(&["pull", &image]));
    let line = one_line_failure(&out, "pull of a corrupted blob");
    assert!(line.to_lowercase().contains("digest"), "{line}");
    assert_eq!(
        e.image_ids(),
        Vec::<String>::new(),
        "a partial image was left"
    );
}

#[test]
fn interrupted_pull_leaves_no_image_and_a_retry_succeeds() {
    let e = Env::start();
    let reg = TestRegistry::start();
    // Manifests and configs are a few KiB; the busybox layer is far bigger.
    let proxy = CutProxy::start(reg.port(), 64 * 1024);
    let direct = format!("{}/berth/cut:v1", reg.addr());
    let id = e.build_image(&direct, "cut");
    e.ok(&["push", &direct]);
    e.ok(&["rmi", &direct]);
    e.ok(&["rmi", "busybox:latest"]);
    assert_eq!(e.image_ids(), Vec::<String>::new());

    let via_proxy = format!("{}/berth/cut:v1", proxy.addr());
    let out = run(&mut e.berth(&["pull", &via_proxy]));
    one_line_failure(&out, "pull through a cutting proxy");
    assert_eq!(
        e.image_ids(),
        Vec::<String>::new(),
        "a partial image was left"
    );

    proxy.set_limit(usize::MAX);
    e.ok(&["pull", &via_proxy]);
    assert_eq!(e.image_id(&via_proxy), id);
    assert_eq!(e.ok(&["run", "--rm", &via_proxy, "cat", "/hello"]), "cut\n");
}

#[test]
fn pull_on_a_terminal_ends_with_every_layer_complete() {
    let e = Env::start();
    let reg = TestRegistry::start();
    let repo = format!("{}/berth/tty", reg.addr());
    let image = format!("{repo}:v1");
    e.build_image(&image, "tty");
    let digest = pushed_digest(&e.ok(&["push", &image]), "v1");
    e.ok(&["rmi", &image]);
    e.ok(&["rmi", "busybox:latest"]);

    // `script` gives the CLI a pseudo-terminal, so it draws its bars.
    let cli = format!(
        "{} -H {} pull {image}",
        common::berth_cli().display(),
        e.d.host()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &cli, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .env("BERTH_CONFIG", &e.config)
        .env("DOCKER_CONFIG", e.d.dir().join("docker-config"))
        .env("HOME", e.d.dir());
    let out = run_ok(&mut cmd);
    let manifest = reg.manifest("berth/tty", &digest);
    for layer in manifest["layers"].as_array().expect("layers") {
        let short = &layer["digest"].as_str().expect("digest")["sha256:".len()..][..12];
        assert!(
            out.contains(&format!("{short}: Pull complete")),
            "no completed bar for {short} in {out:?}"
        );
    }
    assert!(out.contains(&format!("{image}\r\n")), "{out:?}");
    assert_eq!(
        e.image_id(&image),
        reg.manifest("berth/tty", &digest)["config"]["digest"]
    );
}
