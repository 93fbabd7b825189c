//! The container's terminal, allocated the way runc does it: the init opens
//! `/dev/ptmx` of the container's own `devpts` instance (so the process sees
//! `/dev/pts/0`), binds the slave on `/dev/console`, hands the master to the
//! supervisor over a socketpair (`SCM_RIGHTS`), and makes the slave its
//! stdio and controlling terminal in a new session.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::sys::stat::Mode;

/// Sets the size of the terminal behind `fd` (`TIOCSWINSZ`); on a master the
/// kernel sends `SIGWINCH` to the slave's foreground process group.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one valid winsize from the given pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Which pty is being set up: the init's console or an exec's terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtyRole {
    /// The init's: the slave is also bound on `/dev/console`.
    Console,
    /// An exec's: nothing is mounted, the container's `/dev/console` stays the init's.
    Terminal,
}

impl PtyRole {
    fn name(self) -> &'static str {
        match self {
            PtyRole::Console => "console",
            PtyRole::Terminal => "terminal",
        }
    }
}

fn step(role: PtyRole, what: &'static str) -> impl FnOnce(nix::Error) -> String {
    move |e| format!("set up the {}: {what}: {e}", role.name())
}

/// Inside the container's mount namespace (the init after `pivot_root`, or an
/// exec child), so `/dev/ptmx` is the container's: allocates the pty, sizes it
/// (`[rows, cols]`, when both are non-zero), for [`PtyRole::Console`] binds the
/// slave on `/dev/console`, sends the master over `socket` (then closed), and
/// makes the slave fds 0-2 and the controlling terminal of a new session.
pub fn setup_pty(socket: OwnedFd, size: Option<[u16; 2]>, role: PtyRole) -> Result<(), String> {
    let name = role.name();
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(step(role, "open /dev/ptmx"))?;
    grantpt(&master).map_err(step(role, "grantpt"))?;
    unlockpt(&master).map_err(step(role, "unlockpt"))?;
    let slave_path = ptsname_r(&master).map_err(step(role, "ptsname"))?;
    if let Some([rows, cols]) = size.filter(|[r, c]| *r > 0 && *c > 0) {
        set_winsize(master.as_raw_fd(), rows, cols)
            .map_err(|e| format!("set up the {name}: set size: {e}"))?;
    }
    if role == PtyRole::Console {
        let console = Path::new("/dev/console");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(console)
            .map_err(|e| format!("set up the {name}: create /dev/console: {e}"))?;
        mount(
            Some(slave_path.as_str()),
            console,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(step(role, "bind the pty on /dev/console"))?;
    }

    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(b"m")],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map_err(step(role, "send the pty master"))?;
    drop((socket, master));

    nix::unistd::setsid().map_err(step(role, "setsid"))?;
    let slave = open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(step(role, "open the pty slave"))?;
    for dst in 0..3 {
        // SAFETY: dup2 acts on descriptors only; 0-2 are ours to replace.
        if unsafe { libc::dup2(slave.as_raw_fd(), dst) } < 0 {
            return Err(format!(
                "set up the {name}: dup the pty slave: {}",
                io::Error::last_os_error()
            ));
        }
    }
    // `slave` may itself be one of 0-2; dropping it then would close stdio.
    if slave.as_raw_fd() <= 2 {
        std::mem::forget(slave);
    }
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(format!(
            "set up the {name}: make the pty the controlling terminal: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// In the supervisor: receives the pty master the init sends over `socket`;
/// `Ok(None)` when the init closed the socket without sending one (it
/// failed or exec'd; its error pipe says which).
pub fn recv_master(socket: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(io::Error::from)?,
        }
    };
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            let mut owned: Vec<OwnedFd> = fds
                .into_iter()
                // SAFETY: SCM_RIGHTS just installed these fds in this process;
                // nothing else owns them.
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect();
            if let Some(master) = owned.pop() {
                return Ok(Some(master));
            }
        }
    }
    Ok(None)
}
