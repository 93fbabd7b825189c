//! The Dockerfile builder's daemon-independent half: the Dockerfile parser, variable
//! expansion and the `.dockerignore` matcher, shared by `berthd` and `berth build`.

pub mod dockerfile;
pub mod expand;
pub mod ignore;
pub mod words;
