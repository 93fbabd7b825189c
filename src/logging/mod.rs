//! Container output: stream framing for attach/logs.
