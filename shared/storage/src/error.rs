use sightline_core::{Disposition, ErrorKind};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist (deleted after its event was sent, or never written).
    #[error("object {bucket}/{key} not found")]
    NotFound {
        /// The bucket (for a local store: the bucket argument as given).
        bucket: String,
        /// The key.
        key: String,
    },
    /// The object is larger than the caller's limit; its body was not read.
    #[error("object is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The object's size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A key that a local store refuses because it could escape the store's folder
    /// (`..`, absolute, empty components, backslashes, NUL).
    #[error("invalid object key {key:?}")]
    InvalidKey {
        /// The refused key.
        key: String,
    },
    /// A failure that may go away on retry: HTTP 5xx, throttling, timeouts, connection
    /// errors, or an error while streaming the body.
    #[error("{op} failed (transient): {message}")]
    Transient {
        /// The operation (`get_object`, `list_objects_v2`, …).
        op: &'static str,
        /// What happened.
        message: String,
    },
    /// A failure the service reported as the caller's fault (other 4xx: `AccessDenied`,
    /// `NoSuchBucket`, …). See [`StorageError::disposition`] for why it is still retried.
    #[error("{op} failed: {message}")]
    Permanent {
        /// The operation (`get_object`, `list_objects_v2`, …).
        op: &'static str,
        /// What happened.
        message: String,
    },
    /// A local file-system error other than "not found".
    #[error("local storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// How the pipeline handles this failure of one object.
    ///
    /// * A missing object, an object over the size limit and an invalid key are facts about
    ///   that one object: [`Disposition::Permanent`], so an error row is written.
    /// * [`StorageError::Permanent`] is **[`Disposition::Transient`] on purpose**: a wrong bucket
    ///   name or missing permissions is a deployment error that fails *every* object. Retrying
    ///   sends the messages to the dead-letter queue, where they can be redriven once the
    ///   configuration is fixed, instead of writing a silent error row for each object.
    /// * Everything else (5xx, throttling, timeouts, local I/O errors) is transient.
    pub fn disposition(&self) -> Disposition {
        match self {
            StorageError::NotFound { .. } | StorageError::InvalidKey { .. } => {
                Disposition::Permanent(ErrorKind::NotFound)
            }
            StorageError::TooLarge { .. } => Disposition::Permanent(ErrorKind::TooLarge),
            StorageError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Disposition::Permanent(ErrorKind::NotFound)
            }
            StorageError::Transient { .. }
            | StorageError::Permanent { .. }
            | StorageError::Io(_) => Disposition::Transient,
        }
    }
}
