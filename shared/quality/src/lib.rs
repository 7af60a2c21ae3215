//! Sightline's model-quality metrics: pure functions, no I/O.
//!
//! * [`coco`]: COCO-style detection AP (pycocotools-compatible).

pub mod coco;

pub use coco::{evaluate as evaluate_detections, DetectionMetrics, LabeledBox};
