//! Networking kernel adapters.
