//! `manifest.json` of a head version: everything needed to serve it, trust it and know
//! where it came from.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The `format` of manifests this crate writes and reads.
pub const MANIFEST_FORMAT: &str = "sightline-head/1";

/// A head version's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The catalog the head serves.
    pub catalog: String,
    /// The version (`<UTC time>-<first 8 hex of head.onnx's sha256>`).
    pub version: String,
    /// When it was trained.
    pub created_at: DateTime<Utc>,
    /// The champion when it was trained.
    pub parent: Option<String>,
    /// The backbone whose embeddings the head takes.
    pub backbone: Backbone,
    /// Class names in output order.
    pub classes: Vec<String>,
    /// Tags each class gives (from a `tag`/`coarse_label` column of the labels).
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<String>>,
    /// ONNX input name (`embedding`, `float [N, embedding_dim]`).
    pub input: String,
    /// ONNX output name (`probabilities`, `float [N, classes]`).
    pub output: String,
    /// The version's files with checksums.
    pub files: Vec<FileEntry>,
    /// How it was trained.
    pub training: TrainingInfo,
    /// The holdout fit on the validation rows.
    pub metrics: HeadMetrics,
}

/// The backbone contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backbone {
    /// Model name (a manifest under `models/`).
    pub model: String,
    /// Its version.
    pub version: String,
    /// Embedding length.
    pub embedding_dim: usize,
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name below the version folder.
    pub name: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// Training facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Labelled rows used (training + validation).
    pub rows: usize,
    /// Rows the holdout fit was fitted on.
    pub train_rows: usize,
    /// Rows it was judged on.
    pub validation_rows: usize,
    /// Earliest result partition date of a row used.
    pub first_date: Option<NaiveDate>,
    /// Latest one.
    pub last_date: Option<NaiveDate>,
    /// Labels files read.
    pub label_files: Vec<String>,
    /// Rows per class.
    pub class_counts: BTreeMap<String, usize>,
    /// Share of keys held out (by key hash).
    pub validation_fraction: f64,
    /// The chosen inverse L2 strength.
    pub c: f64,
    /// L-BFGS iterations of the holdout fit (the served fit runs as many).
    pub iterations: u64,
    /// Why the holdout fit stopped.
    pub stop: String,
    /// Wall time of training, seconds.
    pub seconds: f64,
}

/// Quality of the holdout fit on the validation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadMetrics {
    /// Rows judged.
    pub rows: usize,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Macro F1 over the head's classes.
    pub macro_f1: f64,
    /// Recall per class (classes present among the validation rows).
    pub recall: BTreeMap<String, f64>,
}

impl FileEntry {
    /// The entry for `bytes` named `name`.
    pub fn of(name: &str, bytes: &[u8]) -> FileEntry {
        use sha2::{Digest, Sha256};
        FileEntry {
            name: name.to_string(),
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
        }
    }
}

impl HeadManifest {
    /// The entry of file `name`.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// What the `model` column of a row says: `<backbone>+head`.
    pub fn model_name(&self) -> String {
        format!("{}+head", self.backbone.model)
    }

    /// What the `model_version` column says: `<backbone version>+<head version>`.
    pub fn model_version(&self) -> String {
        format!("{}+{}", self.backbone.version, self.version)
    }
}
