//! Unit tests with the recording fake kernel: the exact files and values
//! written for v1 and v2, without root.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::kernel::fake::Fake;
use super::*;

const V1_CONTROLLERS: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices",
];

fn v1_files(ctrl: &str) -> Vec<(&'static str, &'static str)> {
    let mut f = vec![("cgroup.procs", "")];
    f.extend(match ctrl {
        "cpu" => &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.stat", ""),
        ][..],
        "cpuset" => &[("cpuset.cpus", ""), ("cpuset.mems", "")][..],
        "memory" => &[
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "9223372036854771712"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
        ][..],
        "pids" => &[("pids.max", "max"), ("pids.current", "0")][..],
        "freezer" => &[("freezer.state", "THAWED")][..],
        "blkio" => &[
            ("blkio.weight", "500"),
            ("blkio.throttle.read_bps_device", ""),
        ][..],
        "devices" => &[("devices.allow", ""), ("devices.deny", "")][..],
        _ => &[][..],
    });
    f
}

/// A v1 host: every controller mounted on its own, root cpuset "0-1"/"0".
fn v1_fake() -> (Fake, Hierarchy) {
    let mut fake = Fake::default();
    let mut mounts = BTreeMap::new();
    for c in V1_CONTROLLERS {
        let root = format!("/sys/fs/cgroup/{c}");
        fake.templates.push((PathBuf::from(&root), v1_files(c)));
        mounts.insert(c.to_owned(), PathBuf::from(&root));
    }
    for c in V1_CONTROLLERS {
        let root = format!("/sys/fs/cgroup/{c}");
        fake.dir(&root, &v1_files(c));
    }
    fake.dir(
        "/sys/fs/cgroup/cpuset",
        &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
    );
    let h = Hierarchy {
        layout: Layout::V1,
        mounts,
    };
    (fake, h)
}

const V2_FILES: &[(&str, &str)] = &[
    ("cgroup.procs", ""),
    ("cgroup.controllers", "cpuset cpu io memory pids"),
    ("cgroup.subtree_control", ""),
    ("cgroup.freeze", "0"),
    ("cgroup.events", "populated 0\nfrozen 0\n"),
    ("cpu.max", "max 100000"),
    ("cpu.weight", "100"),
    ("cpuset.cpus", ""),
    ("cpuset.mems", ""),
    ("memory.max", "max"),
    ("memory.low", "0"),
    ("memory.swap.max", "max"),
    ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n"),
    ("pids.max", "max"),
    ("io.weight", "default 100"),
    ("io.max", ""),
];

fn v2_fake() -> (Fake, Hierarchy) {
    let mut fake = Fake::default();
    fake.templates
        .push((PathBuf::from("/sys/fs/cgroup"), V2_FILES.to_vec()));
    fake.dir(
        "/sys/fs/cgroup",
        &[
            ("cgroup.procs", ""),
            ("cgroup.controllers", "cpuset cpu io memory pids"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let h = Hierarchy {
        layout: Layout::V2,
        mounts: BTreeMap::from([(UNIFIED.to_owned(), PathBuf::from("/sys/fs/cgroup"))]),
    };
    (fake, h)
}

fn w(p: &str, v: &str) -> (String, String) {
    (p.to_owned(), v.to_owned())
}

#[test]
fn hybrid_mountinfo_uses_the_v1_controllers() {
    let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
    let h = mountinfo::parse(text).unwrap();
    assert_eq!(h.layout(), Layout::V1);
    let keys: Vec<_> = h.mounts.keys().map(String::as_str).collect();
    assert_eq!(keys, ["cpu", "cpuacct", "memory", "name=systemd"]);
    assert_eq!(h.mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
    let c = h.container("berth", "abc").unwrap();
    assert_eq!(
        c.dirs["memory"],
        PathBuf::from("/sys/fs/cgroup/memory/berth/abc")
    );
    // cpu and cpuacct share one dir: created, joined and removed once.
    assert_eq!(c.unique_dirs().len(), 3);
}

#[test]
fn pure_cgroup2_mountinfo_is_v2_and_nothing_is_an_error() {
    let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    let h = mountinfo::parse(text).unwrap();
    assert_eq!(h.layout(), Layout::V2);
    let c = h.container("/x/y", "id1").unwrap();
    assert_eq!(
        c.dirs,
        BTreeMap::from([(
            "unified".to_owned(),
            PathBuf::from("/sys/fs/cgroup/x/y/id1")
        )])
    );
    let none = mountinfo::parse("1 0 0:1 / / rw - ext4 /dev/sda rw\n").unwrap_err();
    assert!(matches!(none, CgroupError::NoHierarchy));
    // Escaped spaces in mount points.
    let h = mountinfo::parse("1 0 0:1 / /a\\040b rw - cgroup2 none rw\n").unwrap();
    assert_eq!(h.mounts["unified"], PathBuf::from("/a b"));
}

#[test]
fn cgroup_parent_and_id_are_checked() {
    let (_, h) = v2_fake();
    for p in ["", "/", "berth", "/berth", "a/b"] {
        h.container(p, "id").unwrap();
    }
    assert_eq!(
        h.container("/", "id").unwrap().dirs["unified"],
        PathBuf::from("/sys/fs/cgroup/id")
    );
    for p in ["a/../b", "..", "a//b", "a/", "./a"] {
        let e = h.container(p, "id").unwrap_err();
        assert!(matches!(e, CgroupError::InvalidParent { .. }), "{p}: {e}");
        assert_eq!(e.class(), crate::api::ErrorClass::InvalidArgument);
    }
    for id in ["", "..", "a/b"] {
        assert!(matches!(
            h.container("berth", id),
            Err(CgroupError::InvalidId { .. })
        ));
    }
}

#[test]
fn v1_create_copies_cpuset_down_and_applies_docker_limits() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    let r = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        memory_reservation: Some(32 << 20),
        oom_kill_disable: Some(false),
        cpu_shares: Some(512),
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        pids_limit: Some(0),
        blkio_weight: Some(300),
        device_read_bps: vec![Throttle {
            major: 8,
            minor: 0,
            rate: 1048576,
        }],
        ..Resources::default()
    };
    c.create_in(&fake, &r).unwrap();
    for ctrl in V1_CONTROLLERS {
        assert!(fake.exists(&PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/berth/c1"))));
    }
    let log = fake.log();
    let cpuset: Vec<_> = log
        .iter()
        .filter(|(p, _)| p.contains("/cpuset/"))
        .cloned()
        .collect();
    assert_eq!(
        cpuset,
        [
            w("/sys/fs/cgroup/cpuset/berth/cpuset.cpus", "0-1"),
            w("/sys/fs/cgroup/cpuset/berth/cpuset.mems", "0"),
            w("/sys/fs/cgroup/cpuset/berth/c1/cpuset.cpus", "0-1"),
            w("/sys/fs/cgroup/cpuset/berth/c1/cpuset.mems", "0"),
        ]
    );
    let rest: Vec<_> = log
        .into_iter()
        .filter(|(p, _)| !p.contains("/cpuset/"))
        .collect();
    let m = "/sys/fs/cgroup/memory/berth/c1";
    assert_eq!(
        rest,
        [
            // Current limit unlimited > new memsw: lowering, memory first.
            w(&format!("{m}/memory.limit_in_bytes"), "67108864"),
            w(&format!("{m}/memory.memsw.limit_in_bytes"), "134217728"),
            w(&format!("{m}/memory.soft_limit_in_bytes"), "33554432"),
            w(&format!("{m}/memory.oom_control"), "0"),
            w("/sys/fs/cgroup/cpu/berth/c1/cpu.shares", "512"),
            w("/sys/fs/cgroup/cpu/berth/c1/cpu.cfs_period_us", "100000"),
            w("/sys/fs/cgroup/cpu/berth/c1/cpu.cfs_quota_us", "50000"),
            w("/sys/fs/cgroup/pids/berth/c1/pids.max", "max"),
            w("/sys/fs/cgroup/blkio/berth/c1/blkio.weight", "300"),
            w(
                "/sys/fs/cgroup/blkio/berth/c1/blkio.throttle.read_bps_device",
                "8:0 1048576"
            ),
        ]
    );
}

#[test]
fn v1_raising_memory_writes_memsw_first_and_falls_back_on_ebusy() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    let m = PathBuf::from("/sys/fs/cgroup/memory/berth/c1");
    fake.files
        .borrow_mut()
        .insert(m.join("memory.limit_in_bytes"), "33554432\n".into());
    fake.writes.borrow_mut().clear();
    let up = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(-1),
        ..Resources::default()
    };
    c.apply_in(&fake, &up).unwrap();
    assert_eq!(
        fake.log(),
        [
            w(
                "/sys/fs/cgroup/memory/berth/c1/memory.memsw.limit_in_bytes",
                "-1"
            ),
            w(
                "/sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes",
                "67108864"
            ),
        ]
    );
    // The kernel refuses the first order: the other one is tried.
    fake.writes.borrow_mut().clear();
    fake.write_errors
        .borrow_mut()
        .insert(m.join("memory.limit_in_bytes"), vec![libc::EBUSY]);
    let down = Resources {
        memory: Some(16 << 20),
        memory_swap: Some(32 << 20),
        ..Resources::default()
    };
    c.apply_in(&fake, &down).unwrap();
    assert_eq!(
        fake.log(),
        [
            w(
                "/sys/fs/cgroup/memory/berth/c1/memory.memsw.limit_in_bytes",
                "33554432"
            ),
            w(
                "/sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes",
                "16777216"
            ),
        ]
    );
}

#[test]
fn v1_without_swap_accounting_skips_memsw_and_unlimited_memory_frees_swap() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.writes.borrow_mut().clear();
    c.apply_in(
        &fake,
        &Resources {
            memory: Some(-1),
            ..Resources::default()
        },
    )
    .unwrap();
    assert_eq!(
        fake.log(),
        [
            w(
                "/sys/fs/cgroup/memory/berth/c1/memory.memsw.limit_in_bytes",
                "-1"
            ),
            w("/sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes", "-1"),
        ]
    );
    let memsw = PathBuf::from("/sys/fs/cgroup/memory/berth/c1/memory.memsw.limit_in_bytes");
    fake.files.borrow_mut().remove(&memsw);
    fake.writes.borrow_mut().clear();
    c.apply_in(
        &fake,
        &Resources {
            memory: Some(8 << 20),
            memory_swap: Some(16 << 20),
            ..Resources::default()
        },
    )
    .unwrap();
    assert_eq!(
        fake.log(),
        [w(
            "/sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes",
            "8388608"
        )]
    );
}

#[test]
fn write_errors_name_value_and_file_and_create_leaves_nothing() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    let m = PathBuf::from("/sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes");
    fake.write_errors.borrow_mut().insert(m, vec![libc::EINVAL]);
    let e = c
        .create_in(
            &fake,
            &Resources {
                memory: Some(1),
                ..Resources::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "write 1 to /sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes: invalid argument"
    );
    for ctrl in V1_CONTROLLERS {
        assert!(!fake.exists(&PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/berth/c1"))));
    }
}

#[test]
fn v1_cfs_period_refused_writes_quota_first() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    let cpu = PathBuf::from("/sys/fs/cgroup/cpu/berth/c1");
    fake.write_errors
        .borrow_mut()
        .insert(cpu.join("cpu.cfs_period_us"), vec![libc::EINVAL]);
    fake.writes.borrow_mut().clear();
    c.apply_in(
        &fake,
        &Resources {
            cpu_period: Some(10_000),
            cpu_quota: Some(-1),
            ..Resources::default()
        },
    )
    .unwrap();
    assert_eq!(
        fake.log(),
        [
            w("/sys/fs/cgroup/cpu/berth/c1/cpu.cfs_quota_us", "-1"),
            w("/sys/fs/cgroup/cpu/berth/c1/cpu.cfs_period_us", "10000"),
        ]
    );
}

#[test]
fn v2_create_enables_controllers_and_writes_unified_files() {
    let (fake, h) = v2_fake();
    let c = h.container("berth", "c2").unwrap();
    let r = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(96 << 20),
        memory_reservation: Some(16 << 20),
        cpu_shares: Some(1024),
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpuset_cpus: Some("0".into()),
        pids_limit: Some(-1),
        blkio_weight: Some(10),
        device_write_iops: vec![Throttle {
            major: 8,
            minor: 16,
            rate: 100,
        }],
        ..Resources::default()
    };
    c.create_in(&fake, &r).unwrap();
    let d = "/sys/fs/cgroup/berth/c2";
    let enable = |dir: &str| {
        ["cpuset", "cpu", "io", "memory", "pids"]
            .map(|c| w(&format!("{dir}/cgroup.subtree_control"), &format!("+{c}")))
    };
    let mut want: Vec<_> = enable("/sys/fs/cgroup").into();
    want.extend(enable("/sys/fs/cgroup/berth"));
    want.extend([
        w(&format!("{d}/memory.max"), "67108864"),
        w(&format!("{d}/memory.swap.max"), "33554432"),
        w(&format!("{d}/memory.low"), "16777216"),
        w(&format!("{d}/cpu.weight"), "39"),
        w(&format!("{d}/cpu.max"), "50000 100000"),
        w(&format!("{d}/cpuset.cpus"), "0"),
        w(&format!("{d}/pids.max"), "max"),
        w(&format!("{d}/io.weight"), "default 1"),
        w(&format!("{d}/io.max"), "8:16 wiops=100"),
    ]);
    assert_eq!(fake.log(), want);
    // A second container under the same parent enables nothing again.
    fake.writes.borrow_mut().clear();
    h.container("berth", "c3")
        .unwrap()
        .create_in(&fake, &Resources::default())
        .unwrap();
    assert_eq!(fake.log(), Vec::<(String, String)>::new());
}

#[test]
fn v2_conversions() {
    assert_eq!(v2::shares_to_weight(2), 1);
    assert_eq!(v2::shares_to_weight(1024), 39);
    assert_eq!(v2::shares_to_weight(262_144), 10_000);
    assert_eq!(v2::shares_to_weight(1), 1);
    let (fake, h) = v2_fake();
    let c = h.container("berth", "c2").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.writes.borrow_mut().clear();
    // Only a period: the current quota is kept.
    fake.files.borrow_mut().insert(
        "/sys/fs/cgroup/berth/c2/cpu.max".into(),
        "20000 100000\n".into(),
    );
    c.apply_in(
        &fake,
        &Resources {
            cpu_period: Some(50_000),
            pids_limit: Some(20),
            memory: Some(0),
            ..Resources::default()
        },
    )
    .unwrap();
    assert_eq!(
        fake.log(),
        [
            w("/sys/fs/cgroup/berth/c2/memory.max", "max"),
            w("/sys/fs/cgroup/berth/c2/memory.swap.max", "max"),
            w("/sys/fs/cgroup/berth/c2/cpu.max", "20000 50000"),
            w("/sys/fs/cgroup/berth/c2/pids.max", "20"),
        ]
    );
    let e = c
        .apply_in(
            &fake,
            &Resources {
                memory: Some(64 << 20),
                memory_swap: Some(32 << 20),
                ..Resources::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, CgroupError::Invalid { .. }), "{e}");
    let e = c
        .apply_in(
            &fake,
            &Resources {
                oom_kill_disable: Some(true),
                ..Resources::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, CgroupError::Unsupported { .. }), "{e}");
}

#[test]
fn join_writes_every_distinct_dir() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.writes.borrow_mut().clear();
    c.join_in(&fake, 0).unwrap();
    let log = fake.log();
    assert_eq!(log.len(), V1_CONTROLLERS.len());
    assert!(
        log.iter()
            .all(|(p, v)| p.ends_with("/berth/c1/cgroup.procs") && v == "0")
    );
}

#[test]
fn freeze_and_thaw_v1_and_v2() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    assert!(!c.is_frozen_in(&fake).unwrap());
    c.set_frozen(&fake, true).unwrap();
    assert!(c.is_frozen_in(&fake).unwrap());
    c.set_frozen(&fake, false).unwrap();
    assert!(!c.is_frozen_in(&fake).unwrap());

    let (fake, h) = v2_fake();
    let c = h.container("berth", "c2").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.writes.borrow_mut().clear();
    c.set_frozen(&fake, true).unwrap();
    assert!(c.is_frozen_in(&fake).unwrap());
    c.set_frozen(&fake, false).unwrap();
    assert_eq!(
        fake.log(),
        [
            w("/sys/fs/cgroup/berth/c2/cgroup.freeze", "1"),
            w("/sys/fs/cgroup/berth/c2/cgroup.freeze", "0")
        ]
    );
}

#[test]
fn a_freezer_that_never_freezes_times_out_and_thaws() {
    let (mut fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    let state = PathBuf::from("/sys/fs/cgroup/freezer/berth/c1/freezer.state");
    fake.files
        .borrow_mut()
        .insert(state.clone(), "FREEZING\n".into());
    fake.pinned.insert(state);
    let e = c.set_frozen(&fake, true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/sys/fs/cgroup/freezer/berth/c1/freezer.state did not become FROZEN within 2s"
    );
    assert_eq!(fake.log().last().unwrap().1, "THAWED");
}

#[test]
fn oom_kills_and_pids() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    assert_eq!(c.oom_kills_in(&fake).unwrap(), 0);
    fake.files.borrow_mut().insert(
        "/sys/fs/cgroup/memory/berth/c1/memory.oom_control".into(),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n".into(),
    );
    assert_eq!(c.oom_kills_in(&fake).unwrap(), 1);
    fake.files.borrow_mut().insert(
        "/sys/fs/cgroup/pids/berth/c1/cgroup.procs".into(),
        "12\n34\n".into(),
    );
    assert_eq!(c.pids_in(&fake).unwrap(), [12, 34]);

    let (fake, h) = v2_fake();
    let c = h.container("berth", "c2").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    assert_eq!(c.oom_kills_in(&fake).unwrap(), 2);
    // No memory controller enabled: no file, no kills.
    fake.files
        .borrow_mut()
        .remove(&PathBuf::from("/sys/fs/cgroup/berth/c2/memory.events"));
    assert_eq!(c.oom_kills_in(&fake).unwrap(), 0);
}

#[test]
fn remove_retries_busy_dirs_and_ignores_missing_ones() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    let mem = PathBuf::from("/sys/fs/cgroup/memory/berth/c1");
    fake.rmdir_errors
        .borrow_mut()
        .insert(mem.clone(), vec![libc::EBUSY; 5]);
    c.remove_in(&fake).unwrap();
    for ctrl in V1_CONTROLLERS {
        assert!(!fake.exists(&PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/berth/c1"))));
        // The shared parent stays.
        assert!(fake.exists(&PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/berth"))));
    }
    c.remove_in(&fake).unwrap();
    // Busy for longer than the retries: an error naming the dir.
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.rmdir_errors
        .borrow_mut()
        .insert(mem, vec![libc::EBUSY; 1000]);
    let e = c.remove_in(&fake).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rmdir /sys/fs/cgroup/memory/berth/c1: device or resource busy"
    );
}

#[test]
fn stats_v1() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    let set = |p: &str, v: &str| {
        fake.files
            .borrow_mut()
            .insert(PathBuf::from(p), v.to_owned());
    };
    set("/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage", "5000\n");
    set(
        "/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage_percpu",
        "3000 2000 \n",
    );
    set(
        "/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.stat",
        "user 2\nsystem 1\n",
    );
    set(
        "/sys/fs/cgroup/cpu/berth/c1/cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 777\n",
    );
    set(
        "/sys/fs/cgroup/memory/berth/c1/memory.usage_in_bytes",
        "4096\n",
    );
    set(
        "/sys/fs/cgroup/memory/berth/c1/memory.stat",
        "cache 10\ntotal_inactive_file 5\n",
    );
    set("/sys/fs/cgroup/pids/berth/c1/pids.current", "3\n");
    set(
        "/sys/fs/cgroup/blkio/berth/c1/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 100\n8:0 Write 200\nTotal 300\n",
    );
    let s = v1::stats(&fake, &c).unwrap();
    assert_eq!(s.layout, Layout::V1);
    assert_eq!(s.cpu_total_ns, 5000);
    assert_eq!(s.cpu_percpu_ns, [3000, 2000]);
    assert_eq!(s.cpu_user_ns, 2 * v1_tick());
    assert_eq!(
        (
            s.throttling_periods,
            s.throttled_periods,
            s.throttled_time_ns
        ),
        (10, 4, 777)
    );
    assert_eq!(s.memory_usage, 4096);
    assert_eq!(s.memory_limit, 0, "the v1 maximum means unlimited");
    assert_eq!(s.memory_stat["total_inactive_file"], 5);
    assert_eq!((s.pids_current, s.pids_limit), (3, 0));
    assert_eq!(
        s.blkio,
        [
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 100
            },
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 200
            },
        ]
    );
}

fn v1_tick() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    1_000_000_000 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64
}

#[test]
fn stats_v2() {
    let (fake, h) = v2_fake();
    let c = h.container("berth", "c2").unwrap();
    c.create_in(
        &fake,
        &Resources {
            pids_limit: Some(20),
            ..Resources::default()
        },
    )
    .unwrap();
    let set = |p: &str, v: &str| {
        fake.files.borrow_mut().insert(
            PathBuf::from(format!("/sys/fs/cgroup/berth/c2/{p}")),
            v.to_owned(),
        );
    };
    set(
        "cpu.stat",
        "usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 3\nnr_throttled 1\nthrottled_usec 9\n",
    );
    set("memory.current", "8192\n");
    set("memory.max", "1048576\n");
    set("memory.stat", "anon 4096\ninactive_file 0\n");
    set("pids.current", "2\n");
    set(
        "io.stat",
        "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    let s = v2::stats(&fake, &c).unwrap();
    assert_eq!(s.layout, Layout::V2);
    assert_eq!(
        (s.cpu_total_ns, s.cpu_user_ns, s.cpu_system_ns),
        (7000, 5000, 2000)
    );
    assert_eq!(s.throttled_time_ns, 9000);
    assert_eq!(
        (s.memory_usage, s.memory_limit, s.memory_failcnt),
        (8192, 1048576, 3)
    );
    assert_eq!(s.memory_stat["anon"], 4096);
    assert_eq!((s.pids_current, s.pids_limit), (2, 20));
    assert_eq!(s.blkio.len(), 2);
    assert_eq!(
        s.blkio[1],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "write".into(),
            value: 20
        }
    );
    assert_eq!(s.blkio_serviced[0].value, 1);
}

#[test]
fn supports_reads_the_host() {
    let (fake, h) = v1_fake();
    assert!(h.supports_in(&fake, Feature::MemorySwap));
    assert!(h.supports_in(&fake, Feature::BlkioWeight));
    assert!(h.supports_in(&fake, Feature::Pids));
    fake.files.borrow_mut().remove(&PathBuf::from(
        "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
    ));
    fake.files
        .borrow_mut()
        .remove(&PathBuf::from("/sys/fs/cgroup/blkio/blkio.weight"));
    assert!(!h.supports_in(&fake, Feature::MemorySwap));
    assert!(!h.supports_in(&fake, Feature::BlkioWeight));
    let (fake, h) = v2_fake();
    assert!(h.supports_in(&fake, Feature::CpuCfs));
    assert!(!h.supports_in(&fake, Feature::OomKillDisable));
    fake.files
        .borrow_mut()
        .insert("/sys/fs/cgroup/cgroup.controllers".into(), "memory".into());
    assert!(!h.supports_in(&fake, Feature::Pids));
}

#[test]
fn paths_round_trip_as_json() {
    let (_, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<CgroupPaths>(&json).unwrap(), c);
    // Every field may be left out.
    let r: Resources = serde_json::from_str(r#"{"memory":1}"#).unwrap();
    assert_eq!(
        r,
        Resources {
            memory: Some(1),
            ..Resources::default()
        }
    );
}

#[test]
fn unprivileged_device_rules_deny_all_then_allow_dockers_list() {
    let (fake, h) = v1_fake();
    let c = h.container("berth", "c1").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.writes.borrow_mut().clear();
    c.restrict_devices_in(&fake).unwrap();
    let log = fake.log();
    assert_eq!(
        log[0],
        w("/sys/fs/cgroup/devices/berth/c1/devices.deny", "a")
    );
    assert_eq!(
        log[1],
        w("/sys/fs/cgroup/devices/berth/c1/devices.allow", "c *:* m")
    );
    assert!(log.contains(&w(
        "/sys/fs/cgroup/devices/berth/c1/devices.allow",
        "c 136:* rwm"
    )));
    assert_eq!(log.len(), 1 + DEFAULT_DEVICE_RULES.len());
    // v2 has no devices files: nothing to do.
    let (fake, h) = v2_fake();
    let c = h.container("berth", "c2").unwrap();
    c.create_in(&fake, &Resources::default()).unwrap();
    fake.writes.borrow_mut().clear();
    c.restrict_devices_in(&fake).unwrap();
    assert!(fake.log().is_empty());
}
