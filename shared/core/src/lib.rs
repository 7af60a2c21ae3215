//! Sightline's domain types, shared by every other crate.
//!
//! * [`ObjectRef`]: one object in a bucket (or a file in a local folder used as a bucket).
//! * [`WorkItem`]: an object routed to a [`catalog`](catalog::CatalogConfig).
//! * [`ResultRow`]: one row of the results table, success or error.
//! * [`ErrorKind`] / [`Disposition`]: how a failure of one object is classified, once,
//!   as permanent (an error row) or transient (retry the message).
//! * [`Settings`]: deployment configuration with documented defaults; [`memory`]: the
//!   default memory budget.

pub mod catalog;
pub mod emf;
pub mod memory;
pub mod redaction;
pub mod routing;
pub mod settings;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use catalog::{
    CatalogConfig, Catalogs, ClassifierConfig, DecodeMode, DetectorConfig, FaceConfig, Precision,
};
pub use redaction::{Redact, RedactLook};
pub use routing::{route_key, Route, UNROUTED_CATALOG};
pub use settings::Settings;

/// Errors of this crate: configuration that cannot be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A config file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A config file or value is invalid.
    #[error("invalid configuration in {origin}: {message}")]
    Invalid {
        /// Where the value came from (a file path or an environment variable).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A catalog name that no catalog file defines.
    #[error("unknown catalog {name:?} (known: {known})")]
    UnknownCatalog {
        /// The requested name.
        name: String,
        /// The names that exist, comma separated.
        known: String,
    },
}

/// One object in object storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Bucket name (for a local folder store: the folder's name).
    pub bucket: String,
    /// Object key, already URL-decoded.
    pub key: String,
    /// ETag as reported by the store (quotes stripped), if known.
    pub etag: Option<String>,
    /// Size in bytes, if known.
    pub size: Option<i64>,
    /// Object version id, if the bucket is versioned.
    pub version_id: Option<String>,
    /// When the object was created (event time or last-modified). It picks the results
    /// partition date, so a retry on a later day writes to the same partition.
    pub event_time: Option<DateTime<Utc>>,
}

impl ObjectRef {
    /// An object known only by bucket and key.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            etag: None,
            size: None,
            version_id: None,
            event_time: None,
        }
    }
}

/// An ETag without the double quotes S3 puts around it (`"abc"` becomes `abc`), as
/// [`ObjectRef::etag`] holds it.
///
/// ```
/// assert_eq!(sightline_core::unquote_etag("\"d41d8cd9\""), "d41d8cd9");
/// assert_eq!(sightline_core::unquote_etag("d41d8cd9"), "d41d8cd9");
/// ```
pub fn unquote_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// An object routed to the catalog that processes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// The object.
    pub object: ObjectRef,
    /// Catalog name (`retail`, `security`, …).
    pub catalog: String,
}

/// Why one object could not be processed, permanently. Written to the `error_kind`
/// column as [`ErrorKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The object has zero bytes.
    EmptyObject,
    /// The bytes are not an image in any supported format.
    NotAnImage,
    /// The format was recognised but decoding failed (truncated, corrupt).
    CorruptImage,
    /// An image format or pixel layout that is recognised but not supported.
    UnsupportedFormat,
    /// The image's header dimensions or the object size exceed the configured limits
    /// (decompression-bomb guard).
    TooLarge,
    /// The object's key routes to a catalog that does not exist.
    UnknownCatalog,
    /// The object was deleted before it could be read.
    NotFound,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::EmptyObject,
        ErrorKind::NotAnImage,
        ErrorKind::CorruptImage,
        ErrorKind::UnsupportedFormat,
        ErrorKind::TooLarge,
        ErrorKind::UnknownCatalog,
        ErrorKind::NotFound,
    ];

    /// The kind whose [`ErrorKind::as_str`] code is `code`.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == code)
    }

    /// The machine-readable code stored in the results table.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::EmptyObject => "empty_object",
            ErrorKind::NotAnImage => "not_an_image",
            ErrorKind::CorruptImage => "corrupt_image",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::UnknownCatalog => "unknown_catalog",
            ErrorKind::NotFound => "not_found",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a catalog that redacts wrote no redacted copy for an analysed image. Written to the
/// `redaction_skipped` column as [`RedactionSkip::as_str`]; the row keeps its analysis and
/// stays a success row (`error_kind` null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionSkip {
    /// The encoded copy was over the size bound (see `sightline_pipeline::redact`).
    TooLarge,
}

impl RedactionSkip {
    /// Every reason, in declaration order.
    pub const ALL: [RedactionSkip; 1] = [RedactionSkip::TooLarge];

    /// The reason whose [`RedactionSkip::as_str`] code is `code`.
    pub fn from_code(code: &str) -> Option<RedactionSkip> {
        Self::ALL.into_iter().find(|k| k.as_str() == code)
    }

    /// The machine-readable code stored in the results table.
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionSkip::TooLarge => "too_large",
        }
    }
}

/// How a failure is handled: the single classification every crate maps its errors to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Retrying cannot help: write an error row, acknowledge the message.
    Permanent(ErrorKind),
    /// Retrying may help (5xx, throttling, timeouts): report the message as a batch item
    /// failure so the queue redelivers it (and eventually dead-letters it).
    Transient,
}

/// One class score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Class index in the model's label file.
    pub class_id: i32,
    /// Human-readable class name.
    pub label: String,
    /// Probability (softmax) or detector score.
    pub score: f32,
}

/// One detected object; box corners in original-image pixels (after EXIF orientation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class index in the catalog's detection labels: the object detector's label file,
    /// then the face detector's (with COCO, `face` is 80).
    pub class_id: i32,
    /// Class name.
    pub label: String,
    /// Detector score.
    pub score: f32,
    /// Left edge.
    pub x_min: f32,
    /// Top edge.
    pub y_min: f32,
    /// Right edge.
    pub x_max: f32,
    /// Bottom edge.
    pub y_max: f32,
}

/// Properties of a decoded image, stored per row for drift reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageStats {
    /// Width / height after EXIF orientation.
    pub aspect: f32,
    /// Mean luma (ITU-R BT.601, 0..255).
    pub brightness: f32,
    /// Standard deviation of luma (RMS contrast, 0..255 scale).
    pub contrast: f32,
}

/// Wall-clock time spent on one object per stage, in milliseconds. Batched stages
/// (inference) are divided evenly among the images of the batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    /// Download from the store.
    pub fetch_ms: f32,
    /// Decode + orientation + preprocessing for every model.
    pub decode_ms: f32,
    /// This image's share of the model runs.
    pub infer_ms: f32,
}

/// What makes two results rows "the same": one object version (bucket, key, ETag) seen
/// by one model version. The results lake shows at most one row per identity through its
/// documented query path (the `results_latest` views; [`ResultRow::identity`]), the latest
/// by `processed_at`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowIdentity<'a> {
    /// Bucket of the source object.
    pub bucket: &'a str,
    /// Key of the source object.
    pub key: &'a str,
    /// ETag of the object version that was read.
    pub etag: &'a str,
    /// Model version(s) of the catalog that produced the row.
    pub model_version: &'a str,
}

/// One row of the results table. Built in exactly one place
/// (`sightline_pipeline::rows`), written by `sightline_tables::results`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// Catalog (partition value, stored only in the path).
    pub catalog: String,
    /// Partition date (stored only in the path).
    pub date: NaiveDate,
    /// Bucket of the source object.
    pub bucket: String,
    /// Key of the source object.
    pub key: String,
    /// ETag of the source object ("" when unknown).
    pub etag: String,
    /// Size of the source object in bytes.
    pub size_bytes: i64,
    /// Model name (the classifier's, or the first model of the catalog).
    pub model: String,
    /// Model version from its manifest.
    pub model_version: String,
    /// ONNX Runtime execution provider that ran the model (`cpu`, `cuda`), "" on error rows
    /// that never reached a model.
    pub execution_provider: String,
    /// When the row was produced.
    pub processed_at: DateTime<Utc>,
    /// Image width after EXIF orientation.
    pub width: Option<i32>,
    /// Image height after EXIF orientation.
    pub height: Option<i32>,
    /// Image properties of the decoded image (drift inputs), `None` on rows that were
    /// never decoded.
    pub stats: Option<ImageStats>,
    /// Top-k classes, score descending.
    pub labels: Vec<Label>,
    /// Catalog tags derived from labels.
    pub tags: Vec<String>,
    /// Detections (empty when the catalog runs no detector).
    pub detections: Vec<Detection>,
    /// Classifier embedding (1280 floats), `None` on error rows.
    pub embedding: Option<Vec<f32>>,
    /// Key of the redacted copy (`redacted/<key>`, faces hidden), when the catalog
    /// redacts and the image was analysed.
    pub redacted_key: Option<String>,
    /// Why no redacted copy was written although the catalog redacts (`redacted_key` is
    /// then `None`); `None` otherwise.
    pub redaction_skipped: Option<RedactionSkip>,
    /// How many faces the redacted copy hides (each one is also a `face` detection),
    /// when the catalog redacts and the image was analysed; `None` otherwise.
    pub faces_redacted: Option<i32>,
    /// Machine-readable error code, `None` on success.
    pub error_kind: Option<ErrorKind>,
    /// Human-readable error message, `None` on success.
    pub error: Option<String>,
    /// Per-stage timings.
    pub timings: StageTimings,
}

impl ResultRow {
    /// The row's identity: one object version seen by one model version.
    pub fn identity(&self) -> RowIdentity<'_> {
        RowIdentity {
            bucket: &self.bucket,
            key: &self.key,
            etag: &self.etag,
            model_version: &self.model_version,
        }
    }
}
