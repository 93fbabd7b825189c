//! Finding the cgroup mounts in `/proc/self/mountinfo`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{CgroupError, Hierarchy, Layout, UNIFIED};

/// The v1 controllers a container joins (named hierarchies such as
/// `name=systemd` are joined too, as Docker's cgroupfs driver does).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Builds the [`Hierarchy`] from mountinfo text: the v1 hierarchies when any
/// v1 controller is mounted, else the first `cgroup2` mount.
pub(super) fn parse(text: &str) -> Result<Hierarchy, CgroupError> {
    let mut v1 = BTreeMap::new();
    let mut unified = None;
    let mut has_controller = false;
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_source), Some(opts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        let mount_point = PathBuf::from(unescape(mount_point));
        match fstype {
            "cgroup" => {
                for o in opts.split(',') {
                    let is_ctrl = V1_CONTROLLERS.contains(&o);
                    if is_ctrl || o.starts_with("name=") {
                        has_controller |= is_ctrl;
                        v1.entry(o.to_owned())
                            .or_insert_with(|| mount_point.clone());
                    }
                }
            }
            "cgroup2" if unified.is_none() => unified = Some(mount_point),
            _ => {}
        }
    }
    if has_controller {
        return Ok(Hierarchy {
            layout: Layout::V1,
            mounts: v1,
        });
    }
    match unified {
        Some(m) => Ok(Hierarchy {
            layout: Layout::V2,
            mounts: BTreeMap::from([(UNIFIED.to_owned(), m)]),
        }),
        None => Err(CgroupError::NoHierarchy),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
