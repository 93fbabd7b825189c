//! The API edge's error: a class and a message, rendered as Docker's
//! `{"message": ...}` body with the class's HTTP status.

use berth::api::ErrorClass;

/// An error on its way to an API client.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Decides the HTTP status.
    pub class: ErrorClass,
    /// Shown to the client as is.
    pub message: String,
}

impl ApiError {
    /// An error of `class` with `message`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> ApiError {
        ApiError {
            class,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorClass::InvalidArgument, message)
    }

    /// 404: the object does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorClass::NotFound, message)
    }

    /// 409: the request clashes with the current state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorClass::Conflict, message)
    }

    /// 500: a failure inside berthd.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorClass::Internal, message)
    }
}

impl From<berth::image::ImageError> for ApiError {
    fn from(e: berth::image::ImageError) -> ApiError {
        ApiError::new(e.class(), e.to_string())
    }
}

impl From<berth::runtime::RuntimeError> for ApiError {
    fn from(e: berth::runtime::RuntimeError) -> ApiError {
        ApiError::new(e.class(), e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("worker task failed: {e}"))
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;
