//! Error classes: every module's error maps to one of these, and the daemon
//! turns the class into an HTTP status while the CLI turns it into an exit code.

use serde::{Deserialize, Serialize};

/// What kind of failure an error is, independent of which module raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The named object (container, image, ...) does not exist: 404.
    NotFound,
    /// The request clashes with the current state (name in use, running container): 409.
    Conflict,
    /// The request itself is malformed or names impossible values: 400.
    InvalidArgument,
    /// The caller may not do this: 403.
    Forbidden,
    /// The endpoint or feature is not implemented by berthd: 501.
    NotImplemented,
    /// A dependency (kernel facility, registry) is not reachable now: 503.
    Unavailable,
    /// The request body is over the size the endpoint accepts: 413.
    TooLarge,
    /// A failure inside berthd: 500.
    Internal,
}

impl ErrorClass {
    /// The HTTP status code dockerd uses for this class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::NotFound => 404,
            ErrorClass::Conflict => 409,
            ErrorClass::InvalidArgument => 400,
            ErrorClass::Forbidden => 403,
            ErrorClass::NotImplemented => 501,
            ErrorClass::Unavailable => 503,
            ErrorClass::TooLarge => 413,
            ErrorClass::Internal => 500,
        }
    }

    /// The class a status code received from a daemon stands for.
    pub fn from_http_status(status: u16) -> ErrorClass {
        match status {
            404 => ErrorClass::NotFound,
            409 => ErrorClass::Conflict,
            400 => ErrorClass::InvalidArgument,
            401 | 403 => ErrorClass::Forbidden,
            501 => ErrorClass::NotImplemented,
            503 => ErrorClass::Unavailable,
            413 => ErrorClass::TooLarge,
            _ => ErrorClass::Internal,
        }
    }
}

/// Docker's error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The one-line, lower-case error message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_for_every_class() {
        for c in [
            ErrorClass::NotFound,
            ErrorClass::Conflict,
            ErrorClass::InvalidArgument,
            ErrorClass::Forbidden,
            ErrorClass::NotImplemented,
            ErrorClass::Unavailable,
            ErrorClass::Internal,
        ] {
            assert_eq!(ErrorClass::from_http_status(c.http_status()), c);
        }
    }
}
