//! berth-supervisor: the per-container supervisor, as its own small binary.
//!
//! berthd starts one per container (`berth-supervisor __berth_supervisor
//! RUN_DIR`). It links only the runtime's supervisor and init code, so the
//! pages it maps stay few: a supervisor lives as long as its container, and
//! a host may run hundreds of them.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(berth::runtime::supervisor::supervisor_main(&args));
}
