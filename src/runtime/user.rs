//! Resolving Docker's `user[:group]` against a container's `/etc/passwd` and
//! `/etc/group`, with the rules of runc's `GetExecUser` (moby/sys/user).

/// The credentials a container process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Supplementary group IDs.
    pub sgids: Vec<u32>,
    /// Home directory, for `HOME` when the environment lacks it.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.trim().split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.trim().split(':').collect();
        if f.len() < 3 {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

/// Resolves `spec` (`""`, `user`, `uid`, `user:group`, `uid:gid`, ...) given the
/// contents of the container's passwd and group files (`None` when absent).
/// Errors are Docker's messages, e.g.
/// `unable to find user foo: no matching entries in passwd file`.
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser, String> {
    let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
    let uid_arg: Option<u32> = user_arg.parse().ok();
    let gid_arg: Option<u32> = group_arg.parse().ok();
    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        sgids: Vec::new(),
        home: "/".into(),
    };

    let matched = passwd.and_then(|p| {
        passwd_entries(p).find(|u| match (user_arg, uid_arg) {
            ("", _) => u.uid == 0,
            (_, Some(uid)) => u.uid == uid,
            (name, None) => u.name == name,
        })
    });
    let matched_name = match matched {
        Some(u) => {
            user.uid = u.uid;
            user.gid = u.gid;
            user.home = u.home.to_owned();
            u.name
        }
        None if user_arg.is_empty() => "",
        None => match uid_arg {
            Some(uid) => {
                user.uid = uid;
                ""
            }
            None => {
                return Err(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                ));
            }
        },
    };

    if !group_arg.is_empty() {
        let found = group.and_then(|g| {
            group_entries(g).find(|e| match gid_arg {
                Some(gid) => e.gid == gid,
                None => e.name == group_arg,
            })
        });
        user.gid = match (found, gid_arg) {
            (Some(e), _) => e.gid,
            (None, Some(gid)) => gid,
            (None, None) => {
                return Err(format!(
                    "unable to find group {group_arg}: no matching entries in group file"
                ));
            }
        };
    } else if !matched_name.is_empty() {
        // Supplementary groups only in the implicit form, as runc does.
        user.sgids = group
            .map(|g| {
                group_entries(g)
                    .filter(|e| e.members.contains(&matched_name))
                    .map(|e| e.gid)
                    .collect()
            })
            .unwrap_or_default();
    }
    Ok(user)
}

/// Resolves Docker's `GroupAdd` entries (runc's `GetAdditionalGroups`): a
/// group name or gid found in `group`, else a plain number. Errors are
/// runc's message, capital included (dockerd 20.10 passes it on as is):
/// `Unable to find group foo: no matching entries in group file`.
pub fn additional_groups(names: &[String], group: Option<&str>) -> Result<Vec<u32>, String> {
    let mut gids = Vec::new();
    for name in names {
        let found = group
            .and_then(|g| group_entries(g).find(|e| e.name == name || e.gid.to_string() == *name));
        let gid = match found {
            Some(e) => e.gid,
            None => name.parse::<u32>().map_err(|_| {
                format!("Unable to find group {name}: no matching entries in group file")
            })?,
        };
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    Ok(gids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:daemon,root\nstaff:x:50:daemon\nnogroup:x:65534:\n";

    fn r(spec: &str) -> Result<ExecUser, String> {
        resolve(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_user_is_root_with_roots_groups() {
        let u = r("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.sgids, vec![10], "root is listed in wheel");
    }

    #[test]
    fn names_resolve_with_supplementary_groups() {
        let u = r("daemon").unwrap();
        assert_eq!((u.uid, u.gid), (1, 1));
        assert_eq!(u.sgids, vec![10, 50]);
        let u = r("nobody").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.home.as_str()),
            (65534, 65534, "/nonexistent")
        );
    }

    #[test]
    fn numeric_ids_need_no_entry() {
        let u = r("1234").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1234, 0, "/"));
        let u = r("1234:99").unwrap();
        assert_eq!((u.uid, u.gid), (1234, 99));
        let u = r("1").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1, 1, "/usr/sbin"));
    }

    #[test]
    fn explicit_group_wins_and_drops_supplementary_groups() {
        let u = r("daemon:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1, 50));
        assert!(u.sgids.is_empty());
    }

    #[test]
    fn unknown_names_fail_with_dockers_messages() {
        assert_eq!(
            r("foo").unwrap_err(),
            "unable to find user foo: no matching entries in passwd file"
        );
        assert_eq!(
            r("root:foo").unwrap_err(),
            "unable to find group foo: no matching entries in group file"
        );
        assert_eq!(
            resolve("foo", None, None).unwrap_err(),
            "unable to find user foo: no matching entries in passwd file"
        );
    }

    #[test]
    fn added_groups_resolve_by_name_or_number() {
        let names: Vec<String> = ["staff", "4242", "10", "staff"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            additional_groups(&names, Some(GROUP)).unwrap(),
            [50, 4242, 10]
        );
        assert_eq!(
            additional_groups(&["nosuch".into()], Some(GROUP)).unwrap_err(),
            "Unable to find group nosuch: no matching entries in group file"
        );
        assert_eq!(additional_groups(&["7".into()], None).unwrap(), [7]);
    }

    #[test]
    fn missing_files_still_allow_root_and_numbers() {
        let u = resolve("", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
        let u = resolve("7:8", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (7, 8));
    }
}
