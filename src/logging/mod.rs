//! Container output on its way to clients: Docker's stream framing.

pub mod stdcopy;
