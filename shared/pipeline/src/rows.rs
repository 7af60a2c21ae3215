//! The one place a results row is built.

use chrono::{DateTime, Utc};
use sightline_core::{Detection, ErrorKind, ImageStats, Label, ResultRow, StageTimings, WorkItem};

/// What is known about the object and the model when its row is built.
#[derive(Debug, Clone, Default)]
pub struct RowContext {
    /// ETag (event's, else the store's).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Object creation time (picks the partition date).
    pub created: Option<DateTime<Utc>>,
    /// Model name.
    pub model: String,
    /// Model version.
    pub model_version: String,
    /// Execution provider that ran the model ("" if none ran).
    pub execution_provider: String,
    /// Upright image size, if decoded.
    pub size_px: Option<(u32, u32)>,
    /// Image properties, if decoded.
    pub stats: Option<ImageStats>,
    /// Stage timings.
    pub timings: StageTimings,
}

/// What the row reports.
#[derive(Debug, Clone)]
pub enum RowContent {
    /// Every model of the catalog ran.
    Analyzed {
        /// Classifier top-k labels (empty without a classifier).
        labels: Vec<Label>,
        /// Catalog tags from labels and detections, sorted, no duplicates.
        tags: Vec<String>,
        /// Detections kept by the catalog's filters (empty without a detector).
        detections: Vec<Detection>,
        /// The classifier's embedding.
        embedding: Option<Vec<f32>>,
        /// Key of the redacted copy, if one was written.
        redacted_key: Option<String>,
    },
    /// A permanent failure.
    Failed {
        /// Machine-readable reason.
        kind: ErrorKind,
        /// Human-readable message.
        message: String,
    },
}

/// Builds the results row for `item`.
pub fn build_row(item: &WorkItem, ctx: RowContext, content: RowContent) -> ResultRow {
    let now = Utc::now();
    let created = ctx.created.or(item.object.event_time).unwrap_or(now);
    let (labels, tags, detections, embedding, redacted_key, error_kind, error) = match content {
        RowContent::Analyzed {
            labels,
            tags,
            detections,
            embedding,
            redacted_key,
        } => (
            labels,
            tags,
            detections,
            embedding,
            redacted_key,
            None,
            None,
        ),
        RowContent::Failed { kind, message } => (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            None,
            None,
            Some(kind),
            Some(message),
        ),
    };
    ResultRow {
        catalog: item.catalog.clone(),
        date: created.date_naive(),
        bucket: item.object.bucket.clone(),
        key: item.object.key.clone(),
        etag: ctx
            .etag
            .or_else(|| item.object.etag.clone())
            .unwrap_or_default(),
        size_bytes: ctx.size.or(item.object.size).unwrap_or(0),
        model: ctx.model,
        model_version: ctx.model_version,
        execution_provider: ctx.execution_provider,
        processed_at: now,
        width: ctx.size_px.map(|(w, _)| w as i32),
        height: ctx.size_px.map(|(_, h)| h as i32),
        stats: ctx.stats,
        labels,
        tags,
        detections,
        embedding,
        redacted_key,
        error_kind,
        error,
        timings: ctx.timings,
    }
}
