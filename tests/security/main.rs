//! Security tests (issue 12): the capability, user and read-only settings
//! compared with what the reference dockerd 20.10 gives (recorded in
//! `tests/fixtures/security/`), and the escape suite: from inside a
//! container, try each known way out and assert the specific failure, next
//! to a positive twin (`--privileged`, `--cap-add`, or the same probe where
//! the barrier is absent) proving the probe would have noticed success.
//!
//! The probes are one small static C program (`probes/escape.c`) compiled by
//! the tests with `gcc -static` and bind-mounted read-only at `/probe`.

#[path = "../common/mod.rs"]
mod common;

mod devices_v2;
mod escape;
mod fixture;
mod privileges;
mod probe;
