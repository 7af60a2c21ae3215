//! The one place a results row is built ([`build_row`]), and the one place each of its
//! facts about the object is settled ([`RowContext`]).

use chrono::{DateTime, Utc};
use sightline_core::{
    Detection, ErrorKind, ImageStats, Label, RedactionSkip, ResultRow, StageTimings, WorkItem,
};
use sightline_storage::Object;

use crate::plan::CatalogPlan;

/// What is known about the object and the models when its row is built.
#[derive(Debug, Clone, Default)]
pub struct RowContext {
    /// ETag of the object version that was read (the store's answer to the GET), else the
    /// event's: a row describes the bytes it analysed, even when the key was overwritten
    /// between the event and the read.
    pub etag: Option<String>,
    /// Size in bytes: what was read, else the event's.
    pub size: Option<i64>,
    /// Object creation time, which picks the partition date: the last-modified time of the
    /// version that was read, else the event's time. Every delivery of one object version
    /// (event, redelivery, backfill) lands in the same partition.
    pub created: Option<DateTime<Utc>>,
    /// Model name(s), `+`-joined.
    pub model: String,
    /// Model version(s), `+`-joined.
    pub model_version: String,
    /// Execution provider that ran the models ("" if none ran).
    pub execution_provider: String,
    /// Upright image size, if decoded.
    pub size_px: Option<(u32, u32)>,
    /// Image properties, if decoded.
    pub stats: Option<ImageStats>,
    /// Stage timings.
    pub timings: StageTimings,
}

impl RowContext {
    /// What the event says about `item`, and the models of its catalog (`None`: unknown
    /// catalog, no models).
    pub fn new(item: &WorkItem, plan: Option<&CatalogPlan>) -> RowContext {
        RowContext {
            etag: item.object.etag.clone(),
            size: item.object.size,
            created: item.object.event_time,
            model: plan.map(|p| p.model.clone()).unwrap_or_default(),
            model_version: plan.map(|p| p.model_version.clone()).unwrap_or_default(),
            ..RowContext::default()
        }
    }

    /// Completes the context with the store's answer for the object that was read.
    pub fn observe(&mut self, object: &Object) {
        self.etag = object.etag.clone().or(self.etag.take());
        self.size = Some(object.size);
        self.created = object.last_modified.or(self.created);
    }
}

/// What the row reports.
#[derive(Debug, Clone)]
pub enum RowContent {
    /// Every model of the catalog ran.
    Analyzed(Analysis),
    /// A permanent failure.
    Failed {
        /// Machine-readable reason.
        kind: ErrorKind,
        /// Human-readable message.
        message: String,
    },
}

/// What the models found in one image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// Classifier top-k labels (empty without a classifier).
    pub labels: Vec<Label>,
    /// Catalog tags from labels, detections and faces, sorted, no duplicates.
    pub tags: Vec<String>,
    /// Detections kept by the catalog's filters, then the kept faces.
    pub detections: Vec<Detection>,
    /// The classifier's embedding.
    pub embedding: Option<Vec<f32>>,
    /// Key of the redacted copy, if one was written.
    pub redacted_key: Option<String>,
    /// Why the catalog redacts but no copy was written.
    pub redaction_skipped: Option<RedactionSkip>,
    /// How many faces the redaction hid (catalogs that redact).
    pub faces_redacted: Option<i32>,
}

/// Builds the results row for `item`.
pub fn build_row(item: &WorkItem, ctx: RowContext, content: RowContent) -> ResultRow {
    let now = Utc::now();
    let created = ctx.created.unwrap_or(now);
    let (analysis, error_kind, error) = match content {
        RowContent::Analyzed(a) => (a, None, None),
        RowContent::Failed { kind, message } => (Analysis::default(), Some(kind), Some(message)),
    };
    ResultRow {
        catalog: item.catalog.clone(),
        date: created.date_naive(),
        bucket: item.object.bucket.clone(),
        key: item.object.key.clone(),
        etag: ctx.etag.unwrap_or_default(),
        size_bytes: ctx.size.unwrap_or(0),
        model: ctx.model,
        model_version: ctx.model_version,
        execution_provider: ctx.execution_provider,
        processed_at: now,
        width: ctx.size_px.map(|(w, _)| w as i32),
        height: ctx.size_px.map(|(_, h)| h as i32),
        stats: ctx.stats,
        labels: analysis.labels,
        tags: analysis.tags,
        detections: analysis.detections,
        embedding: analysis.embedding,
        redacted_key: analysis.redacted_key,
        redaction_skipped: analysis.redaction_skipped,
        faces_redacted: analysis.faces_redacted,
        error_kind,
        error,
        timings: ctx.timings,
    }
}
