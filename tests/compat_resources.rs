//! Resource limits through the real `docker` CLI (version 28,
//! `/usr/local/bin/docker` or `$BERTH_DOCKER_CLI`) against a real `berthd`
//! (issue 5): `run`/`create`/`update` limit flags and their errors,
//! `inspect`'s HostConfig and `State.OOMKilled`, `stats --no-stream`,
//! `pause`/`unpause` and `ps` of a paused container.
//!
//! Every expected output and exit code below was recorded once with the
//! same client against Debian's dockerd 20.10.24 on this machine (cgroup v1,
//! swap accounting on, 2 CPUs, no swap): a throw-away daemon started like the
//! harness's `RefDockerd` (own data/exec root, socket, bridge, no iptables),
//! busybox-static loaded with `BERTH_CLI=docker scripts/busybox-image.sh`;
//! each constant names the command that recorded it (containers of dockerd
//! ran with `--network none`, which changes none of these figures). Full IDs
//! are substituted for `{id}`; figures that depend on the machine (the CPU
//! count, the host's memory) are computed the way dockerd computes them.
//! Pointing `BERTH_TEST_DAEMON_HOST` at such a dockerd re-checks them
//! (`--test-threads=1`).

mod common;

use std::fs;
use std::path::Path;
use std::thread;

use common::{TestDaemon, code, run, stderr};

/// What `docker run` adds after the daemon's message when it fails.
const RUN_HELP_TAIL: &str = "\n\nRun 'docker run --help' for more information\n";

/// `docker run --rm -m 1x busybox true` (exit 125; the CLI refuses it).
const RUN_BAD_SIZE: &str = "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'docker run --help' for more information\n";

/// `docker update -m 1x berth-ok` (exit 125).
const UPDATE_BAD_SIZE: &str = "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'\n\nUsage:  docker update [OPTIONS] CONTAINER [CONTAINER...]\n\nRun 'docker update --help' for more information\n";

/// `docker create -m 4m busybox true` (exit 1) and `docker update -m 4m berth-s` (exit 1).
const MIN_MEMORY: &str = "Error response from daemon: Minimum memory limit allowed is 6MB\n";

/// `docker update -m 256m berth-s` of a `-m 64m` container (swap limit 128m; exit 1).
const UPDATE_ABOVE_SWAP: &str = "Error response from daemon: Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n";

/// `docker pause berth-s` a second time (exit 1).
const ALREADY_PAUSED: &str = "Error response from daemon: Container {id} is already paused\n";

/// `docker unpause berth-s` of a running container, and of an exited one (exit 1).
const NOT_PAUSED: &str = "Error response from daemon: Container {id} is not paused\n";

/// `docker pause berth-ok` of an exited container (exit 1).
const NOT_RUNNING: &str = "Error response from daemon: Container {id} is not running\n";

/// `docker pause nope`, `docker update nope -m 64m`, `docker stats --no-stream nope` (exit 1).
const NO_SUCH: &str = "Error response from daemon: No such container: nope\n";

/// `docker stats --no-stream` header (columns split on runs of 2+ spaces).
const STATS_COLUMNS: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

/// `docker stats --no-stream --format '{{json .}}' berth-s` keys, sorted.
const STATS_JSON_KEYS: [&str; 9] = [
    "BlockIO",
    "CPUPerc",
    "Container",
    "ID",
    "MemPerc",
    "MemUsage",
    "Name",
    "NetIO",
    "PIDs",
];

/// `docker stats --no-stream berth-ok` of an exited container: its row
/// after ID and name.
const STATS_STOPPED_ROW: [&str; 6] = ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0"];

/// The inspect template of the limit fields.
const LIMITS_FORMAT: &str = "{{json .HostConfig.Memory}} {{json .HostConfig.MemorySwap}} {{json .HostConfig.MemoryReservation}} {{json .HostConfig.OomKillDisable}} {{json .HostConfig.NanoCpus}} {{json .HostConfig.CpuShares}} {{json .HostConfig.CpuPeriod}} {{json .HostConfig.CpuQuota}} {{json .HostConfig.CpusetCpus}} {{json .HostConfig.CpusetMems}} {{json .HostConfig.PidsLimit}} {{json .HostConfig.BlkioWeight}} {{json .HostConfig.CgroupParent}}";

/// `docker create FLAGS busybox true` then `docker inspect -f LIMITS_FORMAT`:
/// (flags, create's stderr, inspect's output). The blkio controller of this
/// host has no `blkio.weight` (dockerd warns and discards the weight).
const CREATE_LIMITS: [(&[&str], &str, &str); 13] = [
    (&[], "", "0 0 0 false 0 0 0 0 \"\" \"\" null 0 \"\""),
    (
        &["-m", "64m"],
        "",
        "67108864 134217728 0 false 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &["-m", "64m", "--memory-swap", "-1"],
        "",
        "67108864 -1 0 false 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &[
            "-m",
            "64m",
            "--memory-reservation",
            "32m",
            "--oom-kill-disable",
        ],
        "",
        "67108864 134217728 33554432 true 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &["--cpus", "1.5"],
        "",
        "0 0 0 false 1500000000 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &[
            "--cpu-shares",
            "512",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "25000",
        ],
        "",
        "0 0 0 false 0 512 50000 25000 \"\" \"\" null 0 \"\"",
    ),
    (
        &["--cpuset-cpus", "0", "--cpuset-mems", "0"],
        "",
        "0 0 0 false 0 0 0 0 \"0\" \"0\" null 0 \"\"",
    ),
    (
        &["--pids-limit", "20"],
        "",
        "0 0 0 false 0 0 0 0 \"\" \"\" 20 0 \"\"",
    ),
    (
        &["--pids-limit", "-1"],
        "",
        "0 0 0 false 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &["--blkio-weight", "500"],
        "WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n",
        "0 0 0 false 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &["--oom-kill-disable"],
        "WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.\n",
        "0 0 0 true 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &["--memory-reservation", "32m"],
        "",
        "0 0 33554432 false 0 0 0 0 \"\" \"\" null 0 \"\"",
    ),
    (
        &["--cgroup-parent", "berth-x"],
        "",
        "0 0 0 false 0 0 0 0 \"\" \"\" null 0 \"berth-x\"",
    ),
];

/// A daemon with the busybox-static image loaded as `busybox:latest`.
fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// Runs `docker args…`; returns (exit code, stdout, stderr).
fn docker(d: &TestDaemon, args: &[&str]) -> (i32, String, String) {
    let out = run(&mut d.docker(args));
    (code(&out), common::stdout(&out), stderr(&out))
}

/// Runs `docker args…`, asserting exit 0 and an empty stderr; returns stdout.
fn docker_ok(d: &TestDaemon, args: &[&str]) -> String {
    let (c, out, err) = docker(d, args);
    assert_eq!(
        (c, err.as_str()),
        (0, ""),
        "docker {args:?}: exit {c}, stdout {out:?}, stderr {err:?}"
    );
    out
}

/// Asserts `docker args…` gives exactly `expected` (exit, stdout, stderr).
fn expect(d: &TestDaemon, args: &[&str], expected: (i32, &str, &str)) {
    let (c, out, err) = docker(d, args);
    assert_eq!(
        (c, out.as_str(), err.as_str()),
        expected,
        "docker {args:?} differs from dockerd"
    );
}

/// `docker inspect -f TEMPLATE NAME`, trimmed.
fn inspect(d: &TestDaemon, template: &str, name: &str) -> String {
    docker_ok(d, &["inspect", "-f", template, name])
        .trim()
        .to_owned()
}

/// A cgroup v1 file of a running container: `/sys/fs/cgroup/<ctrl><path>/<file>`
/// with the path its first process has in `/proc/<pid>/cgroup` (read from
/// the host, outside any cgroup namespace: the full path).
fn cgroup_file(d: &TestDaemon, name: &str, ctrl: &str, file: &str) -> String {
    let pid = inspect(d, "{{.State.Pid}}", name);
    let table = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"));
    let path = table
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next(), f.next()?, f.next()?);
            ctrls.split(',').any(|c| c == ctrl).then_some(path)
        })
        .unwrap_or_else(|| panic!("no {ctrl} line in /proc/{pid}/cgroup:\n{table}"));
    let full = format!("/sys/fs/cgroup/{ctrl}{path}/{file}");
    fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("read {full}: {e}"))
        .trim()
        .to_owned()
}

/// Splits a table line on runs of two or more spaces.
fn columns(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The CPU count as dockerd reports it in its range message.
fn cpus() -> usize {
    thread::available_parallelism().map_or(1, usize::from)
}

/// dockerd's `--cpus` range message for this machine.
fn cpus_range() -> String {
    let n = cpus();
    format!(
        "Error response from daemon: Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
    )
}

/// The docker CLI's binary size format (`units.BytesSize`: 4 significant
/// digits, trailing zeros dropped, B/KiB/MiB/GiB/…).
fn bytes_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        v.log10().floor() as usize + 1
    };
    let text = format!("{:.*}", 4usize.saturating_sub(int_digits), v);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[i])
}

/// The host's memory (MemTotal), the limit dockerd reports for an unlimited container.
fn host_memory() -> u64 {
    let meminfo = fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kb * 1024
}

/// Parses a `docker stats` size ("496KiB", "23.54GiB", "0B") into bytes.
fn parse_size(s: &str) -> Option<f64> {
    let units = [
        ("KiB", 1024.0),
        ("MiB", 1048576.0),
        ("GiB", 1073741824.0),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("B", 1.0),
    ];
    units
        .iter()
        .find_map(|(u, m)| s.strip_suffix(u).map(|n| (n, m)))
        .and_then(|(n, m)| n.parse::<f64>().ok().map(|n| n * m))
}

#[test]
fn bytes_size_matches_the_docker_cli() {
    assert_eq!(bytes_size(67_108_864), "64MiB");
    assert_eq!(bytes_size(25_276_502_016), "23.54GiB");
    assert_eq!(bytes_size(507_904), "496KiB");
    assert_eq!(bytes_size(0), "0B");
    assert_eq!(parse_size("23.54GiB"), Some(23.54 * 1073741824.0));
}

// Recorded with: the commands named on RUN_BAD_SIZE, MIN_MEMORY,
// UPDATE_BAD_SIZE; `docker run --rm -m 4m busybox true` (exit 125,
// "docker: " + MIN_MEMORY + RUN_HELP_TAIL); `docker run --rm --cpus -1
// busybox true` (exit 125, "docker: Error response from daemon: Range of
// CPUs is from 0.01 to 2.00, as there are only 2 CPUs available" +
// RUN_HELP_TAIL); `docker update --cpus -1 berth-ok` (exit 1).
#[test]
fn invalid_limits_fail_like_dockerd() {
    let d = daemon();
    expect(
        &d,
        &["run", "--rm", "-m", "1x", "busybox", "true"],
        (125, "", RUN_BAD_SIZE),
    );
    let run_min = format!(
        "docker: {}{RUN_HELP_TAIL}",
        MIN_MEMORY.trim_end_matches('\n')
    );
    expect(
        &d,
        &["run", "--rm", "-m", "4m", "busybox", "true"],
        (125, "", &run_min),
    );
    expect(
        &d,
        &["create", "-m", "4m", "busybox", "true"],
        (1, "", MIN_MEMORY),
    );
    let run_cpus = format!("docker: {}{RUN_HELP_TAIL}", cpus_range());
    expect(
        &d,
        &["run", "--rm", "--cpus", "-1", "busybox", "true"],
        (125, "", &run_cpus),
    );
    assert_eq!(
        docker_ok(&d, &["ps", "-aq"]),
        "",
        "refused runs left containers behind"
    );

    docker_ok(&d, &["create", "--name", "berth-ok", "busybox", "true"]);
    expect(
        &d,
        &["update", "-m", "1x", "berth-ok"],
        (125, "", UPDATE_BAD_SIZE),
    );
    expect(&d, &["update", "-m", "4m", "berth-ok"], (1, "", MIN_MEMORY));
    let update_cpus = format!("{}\n", cpus_range());
    expect(
        &d,
        &["update", "--cpus", "-1", "berth-ok"],
        (1, "", &update_cpus),
    );
    expect(&d, &["update", "nope", "-m", "64m"], (1, "", NO_SUCH));
}

// Recorded with: each CREATE_LIMITS row's `docker create --network none
// FLAGS busybox true` and `docker inspect -f LIMITS_FORMAT <id>`.
#[test]
fn inspect_shows_the_limits_like_dockerd() {
    let d = daemon();
    for (flags, create_stderr, limits) in CREATE_LIMITS {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let (c, out, err) = docker(&d, &args);
        assert_eq!(
            (c, err.as_str()),
            (0, create_stderr),
            "docker {args:?} differs from dockerd (stdout {out:?})"
        );
        let id = out.trim();
        assert_eq!(
            inspect(&d, LIMITS_FORMAT, id),
            limits,
            "docker {args:?} then inspect"
        );
        docker_ok(&d, &["rm", id]);
    }
}

// Recorded with: `docker run --name berth-oom --network none -m 32m busybox dd
// if=/dev/zero bs=64M count=1 of=/dev/null` (exit 137, no output), `docker
// inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Status}}
// {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}' berth-oom` (`137 true
// exited 33554432 67108864`); `docker run --name berth-ok -m 32m busybox
// true` (exit 0) and `{{.State.ExitCode}} {{.State.OOMKilled}}` (`0 false`).
// Here `busybox dd`: the test image links only a few applets.
#[test]
fn oom_kill_exits_137_and_inspect_says_so() {
    let d = daemon();
    expect(
        &d,
        &[
            "run",
            "--name",
            "berth-oom",
            "-m",
            "32m",
            "busybox",
            "busybox",
            "dd",
            "if=/dev/zero",
            "bs=64M",
            "count=1",
            "of=/dev/null",
        ],
        (137, "", ""),
    );
    assert_eq!(
        inspect(
            &d,
            "{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Status}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
            "berth-oom"
        ),
        "137 true exited 33554432 67108864"
    );
    expect(
        &d,
        &["run", "--name", "berth-ok", "-m", "32m", "busybox", "true"],
        (0, "", ""),
    );
    assert_eq!(
        inspect(&d, "{{.State.ExitCode}} {{.State.OOMKilled}}", "berth-ok"),
        "0 false"
    );
}

// Recorded with: `docker run -d --name berth-s --network none -m 64m --cpus 0.5
// --pids-limit 20 busybox sleep 1000`, `docker run -d --name berth-nolim
// --network none busybox sleep 1000`, `docker run --name berth-ok busybox
// true`; `docker stats --no-stream` (rows for the two running ones:
// `e7b1a4888fa1   berth-s   0.00%   496KiB / 64MiB   0.76%   0B / 0B   0B / 0B   1`,
// `4b683b7fbe26   berth-nolim   0.00%   828KiB / 23.54GiB   0.00%   0B / 0B   0B / 0B   1`:
// an unlimited container's limit is the host's MemTotal), `docker stats
// --no-stream --format '{{json .}}' berth-s`, `docker stats --no-stream
// berth-ok` (STATS_STOPPED_ROW), `docker stats --no-stream nope` (NO_SUCH,
// exit 1); `docker inspect --format '{{.HostConfig.Memory}}
// {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}
// {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}' berth-s` (`67108864
// 134217728 500000000 20 0 0`).
#[test]
fn stats_no_stream_shows_sane_figures() {
    let d = daemon();
    let s_id = docker_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-s",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "busybox",
            "sleep",
            "1000",
        ],
    )
    .trim()
    .to_owned();
    let n_id = docker_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-nolim",
            "busybox",
            "sleep",
            "1000",
        ],
    )
    .trim()
    .to_owned();
    expect(
        &d,
        &["run", "--name", "berth-ok", "busybox", "true"],
        (0, "", ""),
    );
    assert_eq!(
        inspect(
            &d,
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}",
            "berth-s"
        ),
        "67108864 134217728 500000000 20 0 0"
    );

    let table = docker_ok(&d, &["stats", "--no-stream"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(columns(lines[0]), STATS_COLUMNS, "{table}");
    assert_eq!(lines.len(), 3, "one row per running container:\n{table}");
    let host_limit = bytes_size(host_memory());
    for (id, name, limit) in [
        (&s_id, "berth-s", "64MiB".to_owned()),
        (&n_id, "berth-nolim", host_limit),
    ] {
        let row = lines
            .iter()
            .map(|l| columns(l))
            .find(|r| r.get(1) == Some(&name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        assert_eq!(row.len(), 8, "{table}");
        assert_eq!(row[0], &id[..12], "{table}");
        let cpu: f64 = row[2]
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("CPU % {:?}", row[2]));
        assert!((0.0..=100.0 * cpus() as f64).contains(&cpu), "{table}");
        let (usage, lim) = row[3].split_once(" / ").expect("MEM USAGE / LIMIT");
        assert_eq!(lim, limit, "{name}'s limit:\n{table}");
        let usage = parse_size(usage).unwrap_or_else(|| panic!("usage {usage:?}"));
        assert!(
            usage > 0.0 && usage < 64.0 * 1048576.0,
            "{name} uses {usage} bytes:\n{table}"
        );
        let mem_perc: f64 = row[4]
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("MEM % {:?}", row[4]));
        assert!((0.0..100.0).contains(&mem_perc), "{table}");
        for io in [row[5], row[6]] {
            let (a, b) = io.split_once(" / ").expect("x / y");
            assert!(
                parse_size(a).is_some() && parse_size(b).is_some(),
                "{io:?}:\n{table}"
            );
        }
        let pids: u64 = row[7].parse().expect("PIDS");
        assert!(pids >= 1, "{table}");
    }

    let json_row = docker_ok(
        &d,
        &["stats", "--no-stream", "--format", "{{json .}}", "berth-s"],
    );
    let v: serde_json::Value = serde_json::from_str(json_row.trim()).expect("a JSON row");
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, STATS_JSON_KEYS, "{json_row}");
    assert_eq!(v["Name"], "berth-s");
    assert_eq!(v["PIDs"], "1");
    assert!(
        v["MemUsage"]
            .as_str()
            .is_some_and(|m| m.ends_with(" / 64MiB")),
        "{json_row}"
    );

    let stopped = docker_ok(&d, &["stats", "--no-stream", "berth-ok"]);
    let row = columns(stopped.lines().nth(1).expect("a row"));
    assert_eq!(row[1], "berth-ok", "{stopped}");
    assert_eq!(row[2..], STATS_STOPPED_ROW, "{stopped}");
    expect(&d, &["stats", "--no-stream", "nope"], (1, "", NO_SUCH));
}

// Recorded with: `docker run -d --name berth-s … sleep 1000`, `docker pause
// berth-s` (`berth-s`), again (ALREADY_PAUSED), `docker inspect --format
// '{{.State.Status}} {{.State.Paused}} {{.State.Running}}'` (`paused true
// true`), `docker ps --format '{{.Names}} {{.Status}}'` (`berth-s Up 11
// seconds (Paused)`), `docker ps -a --filter status=paused --format
// '{{.Names}}'` (`berth-s`), `docker unpause berth-s` (`berth-s`), again
// (NOT_PAUSED), `docker pause berth-ok` / `unpause berth-ok` of an exited
// one (NOT_RUNNING / NOT_PAUSED), `docker pause nope` (NO_SUCH), then
// `docker pause berth-s; docker stop -t 1 berth-s` (`berth-s` twice) and
// `{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}` (`exited false 137`).
#[test]
fn pause_and_unpause_like_dockerd() {
    let d = daemon();
    let id = docker_ok(
        &d,
        &["run", "-d", "--name", "berth-s", "busybox", "sleep", "1000"],
    )
    .trim()
    .to_owned();
    expect(
        &d,
        &["run", "--name", "berth-ok", "busybox", "true"],
        (0, "", ""),
    );
    let ok_id = inspect(&d, "{{.Id}}", "berth-ok");

    expect(&d, &["pause", "berth-s"], (0, "berth-s\n", ""));
    expect(
        &d,
        &["pause", "berth-s"],
        (1, "", &ALREADY_PAUSED.replace("{id}", &id)),
    );
    assert_eq!(
        inspect(
            &d,
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
            "berth-s"
        ),
        "paused true true"
    );
    let ps = docker_ok(&d, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.starts_with("berth-s Up ") && ps.ends_with(" (Paused)\n") && ps.lines().count() == 1,
        "{ps:?}"
    );
    assert_eq!(
        docker_ok(
            &d,
            &[
                "ps",
                "-a",
                "--filter",
                "status=paused",
                "--format",
                "{{.Names}}"
            ]
        ),
        "berth-s\n"
    );
    // stats still answer for a paused container.
    let stats = docker_ok(&d, &["stats", "--no-stream", "berth-s"]);
    assert_eq!(stats.lines().count(), 2, "{stats}");

    expect(&d, &["unpause", "berth-s"], (0, "berth-s\n", ""));
    expect(
        &d,
        &["unpause", "berth-s"],
        (1, "", &NOT_PAUSED.replace("{id}", &id)),
    );
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.Paused}}", "berth-s"),
        "running false"
    );
    expect(
        &d,
        &["pause", "berth-ok"],
        (1, "", &NOT_RUNNING.replace("{id}", &ok_id)),
    );
    expect(
        &d,
        &["unpause", "berth-ok"],
        (1, "", &NOT_PAUSED.replace("{id}", &ok_id)),
    );
    expect(&d, &["pause", "nope"], (1, "", NO_SUCH));

    expect(&d, &["pause", "berth-s"], (0, "berth-s\n", ""));
    expect(&d, &["stop", "-t", "1", "berth-s"], (0, "berth-s\n", ""));
    assert_eq!(
        inspect(
            &d,
            "{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}",
            "berth-s"
        ),
        "exited false 137"
    );
}

// Recorded with: `docker run -d --name berth-s -m 64m … sleep 1000`, `docker
// update -m 96m berth-s` (`berth-s`), `docker update -m 256m berth-s`
// (UPDATE_ABOVE_SWAP), `docker update -m 256m --memory-swap 512m berth-s`
// (`berth-s`), `{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}`
// (`268435456 536870912`), `docker update --cpus 0.25 --pids-limit 30
// berth-s` (`berth-s`), `{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}`
// (`250000000 30`), and on the host memory.limit_in_bytes 268435456,
// cpu.cfs_quota_us 25000, pids.max 30 in the container's cgroups;
// `docker run --name berth-ok -m 32m busybox true` and `docker update -m 64m
// berth-ok` of that exited container (`berth-ok`: within its 64m swap limit).
#[test]
fn update_like_dockerd() {
    let d = daemon();
    let id = docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-s", "-m", "64m", "busybox", "sleep", "1000",
        ],
    )
    .trim()
    .to_owned();
    expect(
        &d,
        &["update", "-m", "96m", "berth-s"],
        (0, "berth-s\n", ""),
    );
    assert_eq!(
        inspect(&d, "{{.HostConfig.Memory}}", "berth-s"),
        "100663296"
    );
    expect(
        &d,
        &["update", "-m", "256m", "berth-s"],
        (1, "", &UPDATE_ABOVE_SWAP.replace("{id}", &id)),
    );
    expect(
        &d,
        &["update", "-m", "256m", "--memory-swap", "512m", "berth-s"],
        (0, "berth-s\n", ""),
    );
    assert_eq!(
        inspect(
            &d,
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
            "berth-s"
        ),
        "268435456 536870912"
    );
    expect(
        &d,
        &["update", "--cpus", "0.25", "--pids-limit", "30", "berth-s"],
        (0, "berth-s\n", ""),
    );
    assert_eq!(
        inspect(
            &d,
            "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "berth-s"
        ),
        "250000000 30"
    );
    // The limits are live in the container's cgroups (cgroup v1 here),
    // found from its process as either engine places them.
    if Path::new("/sys/fs/cgroup/memory").is_dir() {
        assert_eq!(
            cgroup_file(&d, "berth-s", "memory", "memory.limit_in_bytes"),
            "268435456"
        );
        assert_eq!(
            cgroup_file(&d, "berth-s", "cpu", "cpu.cfs_quota_us"),
            "25000"
        );
        assert_eq!(cgroup_file(&d, "berth-s", "pids", "pids.max"), "30");
    }
    // stats reports the new limit.
    let row = docker_ok(
        &d,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}}",
            "berth-s",
        ],
    );
    assert!(row.ends_with(" / 256MiB\n"), "stats shows {row:?}");
    expect(
        &d,
        &["run", "--name", "berth-ok", "-m", "32m", "busybox", "true"],
        (0, "", ""),
    );
    expect(
        &d,
        &["update", "-m", "64m", "berth-ok"],
        (0, "berth-ok\n", ""),
    );
    assert_eq!(
        inspect(&d, "{{.HostConfig.Memory}}", "berth-ok"),
        "67108864"
    );
}
