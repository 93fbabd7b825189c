//! The container runtime: supervisor process, container init, kernel adapters.
