use sightline_aws::AwsError;
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
    /// A failed S3 call, classified by [`AwsError::from_sdk`] (a missing object is
    /// [`StorageError::NotFound`] instead): transient (5xx, throttling, timeouts, connection
    /// errors, a body that broke off) or the caller's fault (`AccessDenied`, `NoSuchBucket`,
    /// …). See [`StorageError::disposition`] for why the latter is still retried.
    #[error(transparent)]
    S3(#[from] AwsError),
    /// A conditional write found the object not as expected (another writer got there
    /// first): re-read it and decide again.
    #[error("object {key} changed since it was read (conditional write refused)")]
    PreconditionFailed {
        /// The key.
        key: String,
    },
    /// A batch delete that S3 answered with a per-key error (`DeleteObjects` reports
    /// failures in its body, not as a failed call).
    #[error("could not delete {key}: {message}")]
    DeleteFailed {
        /// The first key that was not deleted.
        key: String,
        /// S3's code and message.
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
    /// * Every [`StorageError::S3`] error is **[`Disposition::Transient`]**, including the
    ///   permanent ones on purpose: a wrong bucket name or missing permissions is a deployment
    ///   error that fails *every* object. Retrying sends the messages to the dead-letter
    ///   queue, where they can be redriven once the configuration is fixed, instead of
    ///   writing a silent error row for each object.
    /// * Other local I/O errors are transient too.
    pub fn disposition(&self) -> Disposition {
        match self {
            StorageError::NotFound { .. } | StorageError::InvalidKey { .. } => {
                Disposition::Permanent(ErrorKind::NotFound)
            }
            StorageError::TooLarge { .. } => Disposition::Permanent(ErrorKind::TooLarge),
            StorageError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Disposition::Permanent(ErrorKind::NotFound)
            }
            StorageError::S3(_)
            | StorageError::Io(_)
            | StorageError::PreconditionFailed { .. }
            | StorageError::DeleteFailed { .. } => Disposition::Transient,
        }
    }
}
