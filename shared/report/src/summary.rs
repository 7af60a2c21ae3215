//! The report as data: what the JSON summary holds and the HTML page shows. Every
//! number here is computed by [`compute`](mod@crate::compute); rendering never computes.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sightline_quality::{DriftMethod, DriftStatus, Thresholds};

/// One report run for one catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Catalog reported on.
    pub catalog: String,
    /// When the report was computed.
    pub generated_at: DateTime<Utc>,
    /// Partition date the report's tables are written under.
    pub date: NaiveDate,
    /// Model(s) of the current window (`+`-joined as in the results table).
    pub model: String,
    /// Model version(s) of the current window.
    pub model_version: String,
    /// The reference window (drift baseline).
    pub reference: WindowSummary,
    /// The current window (what is judged).
    pub current: WindowSummary,
    /// Classification metrics of the current window against ground truth, when labels exist.
    pub classification: Option<ClassificationSummary>,
    /// Detection metrics of the current window against ground-truth boxes, when they exist.
    pub detection: Option<DetectionSummary>,
    /// Drift tests, reference vs current.
    pub drift: Vec<DriftCheck>,
    /// Distributions behind the numeric drift tests (for the charts).
    pub histograms: Vec<Histogram>,
    /// Metric floors and whether they hold.
    pub floors: Vec<FloorCheck>,
    /// Worst status over drift tests and floors (a failed floor counts as alert).
    pub status: DriftStatus,
    /// The retrain request this report emitted, if any.
    pub retrain: Option<RetrainRequest>,
    /// Rows and accuracy per model version in each window (versions side by side).
    #[serde(default)]
    pub versions: Vec<VersionRow>,
    /// Things a reader should know (a window was empty, labels matched no row, …).
    pub notes: Vec<String>,
}

/// One model version's rows in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    /// `reference` or `current`.
    pub window: String,
    /// The `model` column.
    pub model: String,
    /// The `model_version` column (`<backbone>+<head version>+…` when a head served).
    pub model_version: String,
    /// Analysed rows.
    pub rows: usize,
    /// Rows with a class label.
    pub labelled: usize,
    /// Labelled rows whose top-1 label is the labelled class.
    pub correct: usize,
    /// `correct / labelled`, when any row is labelled.
    pub accuracy: Option<f64>,
}

/// A window of result rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// The window as given (`dates=2026-11-01..2026-11-20,model_version=…`).
    pub spec: String,
    /// Rows in the window (one per image, latest per key).
    pub rows: usize,
    /// Rows with an error instead of a result.
    pub errors: usize,
    /// Rows joined to a ground-truth label.
    pub labelled: usize,
    /// First partition date in the window.
    pub first_date: Option<NaiveDate>,
    /// Last partition date in the window.
    pub last_date: Option<NaiveDate>,
}

/// Precision, recall and F1 of one class or one average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// Classification metrics (scikit-learn definitions, `zero_division = 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationSummary {
    /// Labelled images evaluated.
    pub samples: usize,
    /// Classes present in the ground truth or the predictions.
    pub classes: usize,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Top-5 accuracy (over the stored top-k labels; `None` when fewer than 5 are stored).
    pub top5_accuracy: Option<f64>,
    /// Macro average over classes.
    pub macro_avg: Prf,
    /// Micro average (equals accuracy for single-label data).
    pub micro_avg: Prf,
    /// Support-weighted average.
    pub weighted_avg: Prf,
    /// One-vs-rest ROC AUC, macro over classes with both positives and negatives.
    pub roc_auc_macro: Option<f64>,
    /// Expected calibration error of the top-1 probability.
    pub ece: f64,
    /// Per class, by support descending.
    pub per_class: Vec<ClassRow>,
    /// Confusion matrix over the classes with the most support and errors.
    pub confusion: Confusion,
    /// Reliability diagram bins.
    pub reliability: Vec<ReliabilityBin>,
}

/// Metrics of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    /// Class index in the model's label file.
    pub class_id: i32,
    /// Class name.
    pub label: String,
    /// Precision, recall, F1.
    pub prf: Prf,
    /// Ground-truth images of the class.
    pub support: usize,
    /// Score threshold that maximises this class's F1 (one-vs-rest), if it has positives.
    pub best_threshold: Option<f64>,
    /// F1 at that threshold.
    pub best_f1: Option<f64>,
}

/// A confusion matrix: rows are true classes, columns predicted classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Class names, row/column order.
    pub labels: Vec<String>,
    /// Counts, `labels.len()` rows of `labels.len()` columns.
    pub matrix: Vec<Vec<u64>>,
    /// Classes in the full matrix (the shown one may be cut to the most relevant).
    pub total_classes: usize,
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the confidence bin.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Predictions in the bin.
    pub count: usize,
    /// Mean top-1 confidence in the bin.
    pub confidence: f64,
    /// Fraction correct in the bin.
    pub accuracy: f64,
}

/// Detection metrics (COCO-style, pycocotools-compatible).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionSummary {
    /// Images with ground-truth boxes evaluated.
    pub images: usize,
    /// mAP@0.5:0.95.
    pub map: f64,
    /// mAP@0.5.
    pub map50: f64,
    /// Per class AP@0.5:0.95 and ground-truth count.
    pub per_class: Vec<ApRow>,
}

/// AP of one detector class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApRow {
    /// Class name.
    pub label: String,
    /// AP@0.5:0.95.
    pub ap: f64,
    /// Ground-truth boxes.
    pub ground_truth: usize,
}

/// One drift test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftCheck {
    /// What is compared (`top1_class`, `top1_confidence`, `brightness`, `embedding`, …).
    pub feature: String,
    /// The statistic.
    pub method: DriftMethod,
    /// Its value.
    pub value: f64,
    /// Warn/alert levels it was judged against.
    pub thresholds: Thresholds,
    /// The verdict.
    pub status: DriftStatus,
    /// Values in the reference window.
    pub n_reference: usize,
    /// Values in the current window.
    pub n_current: usize,
}

/// A feature's distribution in both windows over shared bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Feature name.
    pub feature: String,
    /// Bin edges (`bins + 1` values, ascending).
    pub edges: Vec<f64>,
    /// Fraction of the reference window per bin.
    pub reference: Vec<f64>,
    /// Fraction of the current window per bin.
    pub current: Vec<f64>,
}

/// A metric that must stay at or above a floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorCheck {
    /// Metric name (`accuracy`, `macro_f1`, `map`).
    pub metric: String,
    /// Its value in the current window.
    pub value: f64,
    /// The configured floor.
    pub floor: f64,
    /// `value >= floor`.
    pub passed: bool,
}

/// The message a report sends when quality drops: a metric below its floor or a drift
/// test at alert. A retraining job consumes it from the retrain queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainRequest {
    /// Always `"retrain_request"`, so queue consumers can tell message types apart.
    pub kind: String,
    /// Catalog to retrain.
    pub catalog: String,
    /// Current model(s).
    pub model: String,
    /// Current model version(s).
    pub model_version: String,
    /// Why, one line per failed floor or alerting drift test.
    pub reasons: Vec<String>,
    /// Key of the JSON summary that triggered it.
    pub report_key: String,
    /// When it was emitted.
    pub requested_at: DateTime<Utc>,
}
