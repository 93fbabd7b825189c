//! `berth version` and `berth info`.

use clap::Args;
use serde_json::{Map, Value, json};

use berth::api::API_VERSION;

use super::{Ctx, print_out};
use crate::error::CliError;
use crate::format::{FormatSpec, Template};
use crate::humanize::bytes_size;
use crate::table::align;

/// The commit berth was built from, when the build provides it.
pub const GIT_COMMIT: &str = match option_env!("BERTH_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// `berth --version`'s line, shaped like `Docker version 28.2.2, build e6534b4`.
pub fn version_line() -> String {
    format!(
        "Berth version {}, build {GIT_COMMIT}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Go's GOARCH name for the machine, which Docker prints in OS/Arch.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The client half of `version` and `info`, in Docker's JSON shape.
fn client_version() -> Value {
    json!({
        "Platform": {"Name": "Berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "GitCommit": GIT_COMMIT,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    })
}

/// `berth version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short = 'f', long)]
    format: Option<String>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Docker's default `version` layout (aligned by a tabwriter with min width 20).
fn pretty_version(client: &Value, server: Option<&Value>) -> String {
    let mut t = String::new();
    let platform = client["Platform"]["Name"].as_str().unwrap_or("");
    t.push_str(&format!("Client: {platform}\n").replace(": \n", ":\n"));
    t.push_str(&format!(" Version:\t{}\n", str_of(client, "Version")));
    t.push_str(&format!(
        " API version:\t{}\n",
        str_of(client, "ApiVersion")
    ));
    t.push_str(&format!(" Git commit:\t{}\n", str_of(client, "GitCommit")));
    t.push_str(&format!(
        " OS/Arch:\t{}/{}\n",
        str_of(client, "Os"),
        str_of(client, "Arch")
    ));
    t.push_str(&format!(" Context:\t{}\n", str_of(client, "Context")));
    if let Some(server) = server {
        let platform = server
            .pointer("/Platform/Name")
            .and_then(Value::as_str)
            .unwrap_or("");
        t.push_str(&format!("\nServer: {platform}\n").replace(": \n", ":\n"));
        let components = match server.get("Components").and_then(Value::as_array) {
            Some(c) if !c.is_empty() => c.clone(),
            // An engine that lists no components still has itself to report.
            _ => vec![json!({"Name": "Engine", "Version": server.get("Version"), "Details": {}})],
        };
        for comp in &components {
            let name = str_of(comp, "Name");
            let details = comp.get("Details").cloned().unwrap_or(Value::Null);
            t.push_str(&format!(" {name}:\n"));
            t.push_str(&format!("  Version:\t{}\n", str_of(comp, "Version")));
            if name == "Engine" {
                // Details first, then the top-level fields of the version answer.
                let get = |k: &str| {
                    let d = text_of(details.get(k));
                    if d.is_empty() {
                        text_of(server.get(k))
                    } else {
                        d
                    }
                };
                t.push_str(&format!(
                    "  API version:\t{} (minimum version {})\n",
                    get("ApiVersion"),
                    get("MinAPIVersion")
                ));
                for (label, key) in [
                    ("Go version", "GoVersion"),
                    ("Git commit", "GitCommit"),
                    ("Built", "BuildTime"),
                ] {
                    let v = get(key);
                    if !v.is_empty() {
                        t.push_str(&format!("  {label}:\t{v}\n"));
                    }
                }
                t.push_str(&format!("  OS/Arch:\t{}/{}\n", get("Os"), get("Arch")));
                let experimental = get("Experimental");
                let experimental = if experimental.is_empty() {
                    "false".to_string()
                } else {
                    experimental
                };
                t.push_str(&format!("  Experimental:\t{experimental}\n"));
            } else if let Value::Object(d) = &details {
                let mut keys: Vec<&String> = d.keys().collect();
                keys.sort();
                for k in keys {
                    t.push_str(&format!("  {k}:\t{}\n", text_of(d.get(k))));
                }
            }
        }
    }
    align(&t, 20, 1)
}

/// `berth version`: the client's and the daemon's versions.
pub async fn version(ctx: &Ctx, args: VersionArgs) -> Result<(), CliError> {
    let client = client_version();
    let template = match args.format.as_deref() {
        Some(f) => Some(Template::parse(&FormatSpec::parse(f, "").template)?),
        None => None,
    };
    let server: Result<Value, _> = ctx.client.get("/version").await;
    match template {
        Some(t) => {
            let server = server?;
            let data = json!({"Client": client, "Server": server});
            print_out(&format!("{}\n", t.render(&data)?));
        }
        None => match server {
            Ok(server) => print_out(&pretty_version(&client, Some(&server))),
            // Like docker, show what the client knows before the error.
            Err(e) => {
                print_out(&pretty_version(&client, None));
                return Err(e.into());
            }
        },
    }
    Ok(())
}

/// `berth info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short = 'f', long)]
    format: Option<String>,
}

/// `berth info`: a Docker-like summary of the daemon.
pub async fn info(ctx: &Ctx, args: InfoArgs) -> Result<(), CliError> {
    let template = match args.format.as_deref() {
        Some(f) => Some(Template::parse(&FormatSpec::parse(f, "").template)?),
        None => None,
    };
    let server: Value = ctx.client.get("/info").await?;
    let mut client = client_version();
    if let Value::Object(c) = &mut client {
        c.insert("Debug".into(), Value::Bool(false));
        c.insert("Plugins".into(), Value::Array(Vec::new()));
        c.insert("Warnings".into(), Value::Null);
    }
    if let Some(t) = template {
        // Docker embeds the server's fields at the top level next to ClientInfo.
        let mut data = match server {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        data.insert("ClientInfo".into(), client);
        print_out(&format!("{}\n", t.render(&Value::Object(data))?));
        return Ok(());
    }
    let mut out = String::new();
    out.push_str("Client:\n");
    out.push_str(&format!(" Version:    {}\n", str_of(&client, "Version")));
    out.push_str(" Context:    default\n");
    out.push_str(" Debug Mode: false\n\n");
    out.push_str(&daemon_section(&server));
    out.push_str(&pretty_info(&server));
    print_out(&out);
    if let Some(warnings) = server.get("Warnings").and_then(Value::as_array) {
        for w in warnings.iter().filter_map(Value::as_str) {
            eprintln!("{w}");
        }
    }
    Ok(())
}

/// Appends `label value` unless the value is empty, like Docker's fprintlnNonEmpty.
fn push_line(o: &mut String, label: &str, v: String) {
    if !v.is_empty() {
        o.push_str(&format!("{label} {v}\n"));
    }
}

/// berth's own `Daemon:` section (before `Server:`, which stays docker's):
/// the socket berthd serves by default, every host it listens on and the
/// daemon.json it loaded, from /info's berthd-only fields; empty against a
/// daemon that has none (dockerd).
fn daemon_section(s: &Value) -> String {
    let Some(socket) = s.get("BerthSocket").and_then(Value::as_str) else {
        return String::new();
    };
    let config = match s.get("BerthConfigFile").and_then(Value::as_str) {
        Some("") | None => "none (defaults)",
        Some(path) => path,
    };
    let hosts = s
        .get("BerthHosts")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|h| !h.is_empty())
        .map(|h| format!(" Hosts:       {h}\n"))
        .unwrap_or_default();
    format!("Daemon:\n Socket:      {socket}\n{hosts} Config File: {config}\n\n")
}

/// The `Server:` section of `docker info`, from the `/info` answer.
fn pretty_info(s: &Value) -> String {
    let mut o = String::from("Server:\n");
    let num = |k: &str| text_of(s.get(k).or(Some(&Value::from(0))));
    push_line(&mut o, " Containers:", num("Containers"));
    push_line(&mut o, "  Running:", num("ContainersRunning"));
    push_line(&mut o, "  Paused:", num("ContainersPaused"));
    push_line(&mut o, "  Stopped:", num("ContainersStopped"));
    push_line(&mut o, " Images:", num("Images"));
    push_line(&mut o, " Server Version:", text_of(s.get("ServerVersion")));
    push_line(&mut o, " Storage Driver:", text_of(s.get("Driver")));
    if let Some(status) = s.get("DriverStatus").and_then(Value::as_array) {
        for pair in status.iter().filter_map(Value::as_array) {
            if let [k, v] = pair.as_slice() {
                push_line(
                    &mut o,
                    &format!("  {}:", text_of(Some(k))),
                    text_of(Some(v)),
                );
            }
        }
    }
    push_line(&mut o, " Logging Driver:", text_of(s.get("LoggingDriver")));
    push_line(&mut o, " Cgroup Driver:", text_of(s.get("CgroupDriver")));
    push_line(&mut o, " Cgroup Version:", text_of(s.get("CgroupVersion")));
    if let Some(plugins) = s.get("Plugins").filter(|p| p.is_object()) {
        o.push_str(" Plugins:\n");
        for (label, key) in [("Volume", "Volume"), ("Network", "Network"), ("Log", "Log")] {
            let names: Vec<String> = plugins
                .get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|v| text_of(Some(v))).collect())
                .unwrap_or_default();
            if !names.is_empty() {
                o.push_str(&format!("  {label}: {}\n", names.join(" ")));
            }
        }
    }
    if let Some(state) = s.pointer("/Swarm/LocalNodeState").and_then(Value::as_str) {
        o.push_str(&format!(" Swarm: {state}\n"));
    }
    if let Some(runtimes) = s.get("Runtimes").and_then(Value::as_object)
        && !runtimes.is_empty()
    {
        let names: Vec<&str> = runtimes.keys().map(String::as_str).collect();
        o.push_str(&format!(" Runtimes: {}\n", names.join(" ")));
    }
    push_line(
        &mut o,
        " Default Runtime:",
        text_of(s.get("DefaultRuntime")),
    );
    // Docker prints these four even when empty (berthd has no containerd,
    // runc or init binary).
    o.push_str(&format!(" Init Binary: {}\n", text_of(s.get("InitBinary"))));
    for (name, key) in [
        ("containerd", "ContainerdCommit"),
        ("runc", "RuncCommit"),
        ("init", "InitCommit"),
    ] {
        let id = text_of(s.get(key).and_then(|c| c.get("ID")));
        o.push_str(&format!(" {name} version: {id}\n"));
    }
    if let Some(opts) = s.get("SecurityOptions").and_then(Value::as_array)
        && !opts.is_empty()
    {
        o.push_str(" Security Options:\n");
        for opt in opts.iter().filter_map(Value::as_str) {
            let mut name = "";
            let mut profile = None;
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", n)) => name = n,
                    Some(("profile", p)) => profile = Some(p),
                    _ => {}
                }
            }
            o.push_str(&format!("  {name}\n"));
            if let Some(p) = profile {
                o.push_str(&format!("   Profile: {p}\n"));
            }
        }
    }
    push_line(&mut o, " Kernel Version:", text_of(s.get("KernelVersion")));
    push_line(
        &mut o,
        " Operating System:",
        text_of(s.get("OperatingSystem")),
    );
    push_line(&mut o, " OSType:", text_of(s.get("OSType")));
    push_line(&mut o, " Architecture:", text_of(s.get("Architecture")));
    push_line(&mut o, " CPUs:", text_of(s.get("NCPU")));
    push_line(
        &mut o,
        " Total Memory:",
        s.get("MemTotal")
            .and_then(Value::as_f64)
            .map(bytes_size)
            .unwrap_or_default(),
    );
    push_line(&mut o, " Name:", text_of(s.get("Name")));
    push_line(&mut o, " ID:", text_of(s.get("ID")));
    push_line(&mut o, " Docker Root Dir:", text_of(s.get("DockerRootDir")));
    push_line(
        &mut o,
        " Debug Mode:",
        text_of(s.get("Debug").or(Some(&Value::Bool(false)))),
    );
    if s.get("Debug").and_then(Value::as_bool) == Some(true) {
        push_line(&mut o, "  File Descriptors:", text_of(s.get("NFd")));
        push_line(&mut o, "  Goroutines:", text_of(s.get("NGoroutines")));
        push_line(&mut o, "  System Time:", text_of(s.get("SystemTime")));
        push_line(&mut o, "  EventsListeners:", num("NEventsListener"));
    }
    push_line(&mut o, " HTTP Proxy:", text_of(s.get("HttpProxy")));
    push_line(&mut o, " HTTPS Proxy:", text_of(s.get("HttpsProxy")));
    push_line(&mut o, " No Proxy:", text_of(s.get("NoProxy")));
    if let Some(labels) = s.get("Labels").and_then(Value::as_array)
        && !labels.is_empty()
    {
        o.push_str(" Labels:\n");
        for l in labels {
            o.push_str(&format!("  {}\n", text_of(Some(l))));
        }
    }
    push_line(
        &mut o,
        " Experimental:",
        text_of(s.get("ExperimentalBuild").or(Some(&Value::Bool(false)))),
    );
    // Like docker: insecure registries by name (sorted), then the CIDRs, then mirrors.
    let mut insecure: Vec<String> = s
        .pointer("/RegistryConfig/IndexConfigs")
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter(|i| i.get("Secure").and_then(Value::as_bool) == Some(false))
                .map(|i| text_of(i.get("Name")))
                .collect()
        })
        .unwrap_or_default();
    insecure.sort();
    if let Some(cidrs) = s
        .pointer("/RegistryConfig/InsecureRegistryCIDRs")
        .and_then(Value::as_array)
    {
        insecure.extend(cidrs.iter().map(|c| text_of(Some(c))));
    }
    for (title, list) in [
        ("Insecure Registries", insecure),
        (
            "Registry Mirrors",
            s.pointer("/RegistryConfig/Mirrors")
                .and_then(Value::as_array)
                .map(|m| m.iter().map(|v| text_of(Some(v))).collect())
                .unwrap_or_default(),
        ),
    ] {
        if !list.is_empty() {
            o.push_str(&format!(" {title}:\n"));
            for entry in list {
                o.push_str(&format!("  {entry}\n"));
            }
        }
    }
    o.push_str(&format!(
        " Live Restore Enabled: {}\n\n",
        text_of(s.get("LiveRestoreEnabled").or(Some(&Value::Bool(false))))
    ));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_layout_matches_docker() {
        let client = json!({"Platform": {"Name": ""}, "Version": "0.1.0", "ApiVersion": "1.41",
            "GitCommit": "abc", "Os": "linux", "Arch": "amd64", "Context": "default"});
        let server = json!({"Platform": {"Name": "Berth Engine"}, "Version": "0.1.0", "ApiVersion": "1.41",
            "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
            "Components": [{"Name": "Engine", "Version": "0.1.0", "Details": {"GitCommit": "def"}},
                           {"Name": "crun", "Version": "1.8", "Details": {"GitCommit": "x"}}]});
        let out = pretty_version(&client, Some(&server));
        let want = "\
Client:
 Version:           0.1.0
 API version:       1.41
 Git commit:        abc
 OS/Arch:           linux/amd64
 Context:           default

Server: Berth Engine
 Engine:
  Version:          0.1.0
  API version:      1.41 (minimum version 1.24)
  Git commit:       def
  OS/Arch:          linux/amd64
  Experimental:     false
 crun:
  Version:          1.8
  GitCommit:        x
";
        assert_eq!(out, want);
    }

    #[test]
    fn info_summary() {
        let s = json!({"Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2,
            "Images": 4, "ServerVersion": "0.1.0", "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]], "MemTotal": 4_114_612_224u64,
            "SecurityOptions": ["name=seccomp,profile=builtin"], "Plugins": {"Volume": ["local"]}});
        let out = pretty_info(&s);
        assert!(out.starts_with(
            "Server:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 4\n"
        ));
        assert!(out.contains(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n"));
        assert!(out.contains(" Plugins:\n  Volume: local\n"));
        assert!(out.contains(" Security Options:\n  seccomp\n   Profile: builtin\n"));
        assert!(out.contains(" Total Memory: 3.832GiB\n"));
        assert!(out.ends_with(" Live Restore Enabled: false\n\n"));
        assert!(
            out.contains(
                " Init Binary: \n containerd version: \n runc version: \n init version: \n"
            )
        );
    }

    #[test]
    fn the_daemon_section_shows_berthds_socket_and_config_file() {
        let s = json!({"BerthSocket": "/run/berth/berth.sock", "BerthConfigFile": "/etc/berth/daemon.json"});
        assert_eq!(
            daemon_section(&s),
            "Daemon:\n Socket:      /run/berth/berth.sock\n Config File: /etc/berth/daemon.json\n\n"
        );
        let s = json!({"BerthSocket": "/s", "BerthConfigFile": "",
            "BerthHosts": ["fd://", "tcp://0.0.0.0:2376"]});
        assert!(daemon_section(&s).contains(" Config File: none (defaults)\n"));
        assert!(daemon_section(&s).contains("\n Hosts:       fd://, tcp://0.0.0.0:2376\n"));
        // dockerd has no such fields: no section.
        assert_eq!(daemon_section(&json!({"ServerVersion": "20.10"})), "");
    }

    #[test]
    fn info_registries_swarm_and_runtimes_as_docker_prints_them() {
        let s = json!({"Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"berth": {"path": "/x"}},
            "DefaultRuntime": "berth", "Debug": true, "NFd": 12, "NGoroutines": 30,
            "SystemTime": "2026-11-22T07:00:00Z", "NEventsListener": 1,
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": true},
                                 "reg.berth.test:5000": {"Name": "reg.berth.test:5000", "Secure": false}},
                "Mirrors": ["https://mirror.berth.test/"]}});
        let out = pretty_info(&s);
        assert!(
            out.contains(" Swarm: inactive\n Runtimes: berth\n Default Runtime: berth\n"),
            "{out}"
        );
        assert!(out.contains(" Debug Mode: true\n  File Descriptors: 12\n  Goroutines: 30\n"));
        assert!(out.contains(
            " Insecure Registries:\n  reg.berth.test:5000\n  127.0.0.0/8\n Registry Mirrors:\n  https://mirror.berth.test/\n Live Restore"
        ), "{out}");
    }
}
