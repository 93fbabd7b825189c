//! The container runtime: supervisor process, container init, kernel adapters.
//!
//! ```text
//! berthd ──client::start──► berth-supervisor __berth_supervisor RUN_DIR  (exits at once)
//!                              └─ supervisor (setsid, single-threaded poll loop)
//!                                   └─ init: pid 1 of new pid/mnt/uts/ipc/net/cgroup
//!                                      namespaces; overlay, pivot_root, caps, execve
//! ```
//!
//! - [`client`]: the daemon's async side (tokio): [`client::start`],
//!   [`client::connect`], [`client::read_exit_status`].
//! - [`supervisor`]: [`supervisor::supervisor_main`], the whole of the small
//!   `berth-supervisor` binary (`src/supervisor`), single-threaded.
//! - [`proto`]: the frames on the supervisor socket.
//! - [`mounts`]: the container's binds, volumes and tmpfs mounts (made by the init).
//! - [`init`], [`rootfs`], [`capabilities`], [`rlimits`], [`devices`],
//!   [`user`], [`etc`]: what the container init does between fork and exec.
//! - [`procs`]: the host pids of a container's processes (for `top`).
//! - [`cgroups`]: cgroup v1/v2 limits, freezer, OOM count and stats.
//! - [`rootaccess`]: a container's root as the daemon reaches it (`cp`, `export`, `commit`).
//! - [`tty`]: the container's terminal (pty in its own devpts, master sent to the supervisor).
//! - [`userns`]: user namespaces for `--userns-remap` (id maps, idmapped layers).
//! - [`seccomp`]: Docker's seccomp profiles, compiled in the daemon, loaded by the init.
//! - [`exec`]: further processes in a running container (`exec`), each under a
//!   supervisor of its own in exec mode.
//!
//! Files, per container:
//! - exec root `RUN_DIR` (`/run/berth/containers/<id>`, created by
//!   [`client::start`], mode 0700): `spec.json` (the [`spec::ContainerSpec`],
//!   written by the daemon), `sup.sock` (removed when the supervisor exits),
//!   `supervisor.json` ([`state::SupervisorInfo`]: supervisor and container
//!   pid + start time); a socket path longer than `sun_path` is reached
//!   through `/proc/self/fd/N/sup.sock`, `supervisor.log`, `hostname`, `hosts`, `resolv.conf`
//!   (bound into the container), `rootfs/` (mount point, used only inside the
//!   container's mount namespace), `empty/` (lower layer for layerless images).
//!   `execs/<exec-id>/`: one run dir per exec, with a supervisor of its own
//!   (see [`exec`]).
//! - data root `STATE_DIR` (`/var/lib/berth/containers/<id>`): `exit.json`
//!   (`{"version":1,"exit_code":N,"signal":S|null,"finished_at":"RFC3339","oom_killed":B}`),
//!   written atomically by the supervisor before it reports the exit.
//! - cgroup ([`cgroups`], when the spec has one): `<parent>/<id>` under every
//!   hierarchy, created by the supervisor before the fork (with Docker's
//!   device rules for unprivileged containers on v1), joined by the init
//!   before it unshares the cgroup namespace, removed by the supervisor after
//!   the exit (before it reports it).
//!
//! The overlay and every other mount exist only in the container's mount
//! namespace, so nothing stays mounted on the host when the container dies.

pub mod apparmor;
pub mod capabilities;
pub mod cgroups;
pub mod client;
pub mod devices;
pub mod error;
pub mod etc;
pub mod exec;
pub mod init;
pub mod mounts;
pub mod procs;
pub mod proto;
pub mod rlimits;
pub mod rootaccess;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod supervisor;
pub mod tty;
pub mod user;
pub mod userns;

pub use error::RuntimeError;
