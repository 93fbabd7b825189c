//! The processes of a container, for `top`: every host process whose pid
//! namespace is the container init's (`/proc/<pid>/ns/pid` compared by
//! device and inode). The supervisor is not among them: it only made the
//! namespace for its child.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::RuntimeError;
use super::state;

fn ns_id(pid: i32) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(format!("/proc/{pid}/ns/pid"))?;
    Ok((m.dev(), m.ino()))
}

/// Host pids of every process in the pid namespace of `init_pid` (the
/// container init's host pid), ascending. Processes that exit while the
/// list is made are left out. Fails with [`RuntimeError::ProcessGone`] when
/// `init_pid` does not exist.
pub fn container_pids(init_pid: i32) -> Result<Vec<i32>, RuntimeError> {
    let target = ns_id(init_pid).map_err(|_| RuntimeError::ProcessGone { pid: init_pid })?;
    let proc_dir = Path::new("/proc");
    let entries = std::fs::read_dir(proc_dir).map_err(|source| RuntimeError::Io {
        path: proc_dir.to_owned(),
        source,
    })?;
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| ns_id(*pid).is_ok_and(|ns| ns == target))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// [`container_pids`] for the container supervised in `run_dir`, using
/// `supervisor.json`'s pid and start time, so a reused pid is never taken
/// for the container's. [`RuntimeError::ProcessGone`] when it is not running.
pub fn container_pids_in(run_dir: &Path) -> Result<Vec<i32>, RuntimeError> {
    let info = state::read_supervisor_info(run_dir).ok_or_else(|| RuntimeError::Io {
        path: run_dir.join(state::SUPERVISOR_FILE),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no readable supervisor state"),
    })?;
    let pid = info.container_pid.unwrap_or(0);
    if pid <= 0
        || info.container_start_time.is_none()
        || state::proc_start_time(pid) != info.container_start_time
    {
        return Err(RuntimeError::ProcessGone { pid });
    }
    let pids = container_pids(pid)?;
    // The init exited and its pid was reused between the two reads.
    if state::proc_start_time(pid) != info.container_start_time {
        return Err(RuntimeError::ProcessGone { pid });
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_namespace_holds_us() {
        let me = std::process::id() as i32;
        assert!(container_pids(me).unwrap().contains(&me));
    }

    #[test]
    fn a_missing_process_is_gone() {
        // Above the kernel's pid_max limit (2^22), so never a live pid.
        let e = container_pids(i32::MAX).unwrap_err();
        assert!(matches!(e, RuntimeError::ProcessGone { pid } if pid == i32::MAX));
    }
}
