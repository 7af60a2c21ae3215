//! Training examples from a bucket: the latest successful row of each key in the
//! catalog's results table, joined with the labels under `labels/<catalog>/` (the formats
//! the report reads: CSV, Parquet; a `tag`/`coarse_label` column gives each class its tags).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use sightline_core::ResultRow;
use sightline_registry::Backbone;
use sightline_report::labels::{ClassRef, GroundTruth};
use sightline_storage::Store;
use sightline_tables::{parse_partition, read_rows};
use sightline_train::Example;

use crate::RetrainError;

/// Labelled examples and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelledRows {
    /// One example per labelled key.
    pub examples: Vec<Example>,
    /// Class → tags, from the labels' tag column.
    pub tags: BTreeMap<String, Vec<String>>,
    /// Labels naming a key with no usable row (not processed yet, an error row, or a row
    /// of another backbone).
    pub unmatched_labels: usize,
    /// Keys with an embedding but no label.
    pub unlabelled_rows: usize,
    /// Labels files read.
    pub label_files: Vec<String>,
    /// Partition dates of the rows used.
    pub first_date: Option<NaiveDate>,
    /// See `first_date`.
    pub last_date: Option<NaiveDate>,
}

/// Where rows and labels are read.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The store.
    pub store: &'a Store,
    /// The bucket holding `results/`, `labels/` and `registry/`.
    pub bucket: &'a str,
    /// Results table prefix (`results/`).
    pub results_prefix: &'a str,
    /// Upload prefix (`incoming/`), to join labels by relative key.
    pub incoming_prefix: &'a str,
    /// Largest object read.
    pub max_object_bytes: u64,
}

/// Reads the catalog's rows and labels and joins them (see the module docs). Rows from a
/// backbone other than `backbone` (another model or embedding size) are not used.
pub async fn load_examples(
    src: &Source<'_>,
    catalog: &str,
    backbone: &Backbone,
) -> Result<LabelledRows, RetrainError> {
    let labels_prefix = format!("labels/{catalog}/");
    let truth =
        GroundTruth::load(src.store, src.bucket, &labels_prefix, src.max_object_bytes).await?;
    if truth.classes.is_empty() {
        return Err(RetrainError::Invalid(format!(
            "no class labels under {labels_prefix} (CSV or Parquet with a key and a label column)"
        )));
    }
    let latest = latest_rows(src, catalog, backbone).await?;
    Ok(join(&truth, latest, catalog, src.incoming_prefix))
}

/// The latest row with a usable embedding per key.
async fn latest_rows(
    src: &Source<'_>,
    catalog: &str,
    backbone: &Backbone,
) -> Result<HashMap<String, ResultRow>, RetrainError> {
    let prefix = format!("{}catalog={catalog}/", src.results_prefix);
    let mut objects = src.store.list(src.bucket, &prefix).await?;
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    let mut latest: HashMap<String, ResultRow> = HashMap::new();
    for o in objects.iter().filter(|o| o.key.ends_with(".parquet")) {
        if parse_partition(&o.key).is_none() {
            continue;
        }
        let object = src
            .store
            .get(src.bucket, &o.key, src.max_object_bytes)
            .await?;
        let rows = read_rows(&o.key, object.bytes).map_err(sightline_report::ReportError::from)?;
        for row in rows.into_iter().filter(|r| usable(r, backbone)) {
            match latest.get(&row.key) {
                Some(have) if have.processed_at >= row.processed_at => {}
                _ => {
                    latest.insert(row.key.clone(), row);
                }
            }
        }
    }
    Ok(latest)
}

/// A row whose embedding came from `backbone`: the first model of its `model` column.
fn usable(row: &ResultRow, backbone: &Backbone) -> bool {
    let first_model = row.model.split('+').next().unwrap_or_default();
    row.error_kind.is_none()
        && first_model == backbone.model
        && row
            .embedding
            .as_ref()
            .is_some_and(|e| e.len() == backbone.embedding_dim)
}

fn join(
    truth: &GroundTruth,
    latest: HashMap<String, ResultRow>,
    catalog: &str,
    incoming_prefix: &str,
) -> LabelledRows {
    let mut out = LabelledRows {
        label_files: truth.files.clone(),
        ..LabelledRows::default()
    };
    let mut keys: Vec<&String> = latest.keys().collect();
    keys.sort();
    let mut matched = 0;
    let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in keys {
        let row = &latest[key];
        let Some(class) = truth.class_of(key, catalog, incoming_prefix) else {
            out.unlabelled_rows += 1;
            continue;
        };
        let class = match class {
            ClassRef::Name(n) => n.clone(),
            ClassRef::Index(i) => truth.names.get(i).cloned().unwrap_or_else(|| i.to_string()),
        };
        if let Some(tag) = truth.tag_of(key, catalog, incoming_prefix) {
            tags.entry(class.clone()).or_default().insert(tag.clone());
        }
        matched += 1;
        out.first_date = out.first_date.min(Some(row.date)).or(Some(row.date));
        out.last_date = out.last_date.max(Some(row.date));
        out.examples.push(Example {
            key: key.clone(),
            class,
            embedding: row.embedding.clone().unwrap_or_default(),
        });
    }
    out.unmatched_labels = truth.classes.len().saturating_sub(matched);
    out.tags = tags
        .into_iter()
        .map(|(c, t)| (c, t.into_iter().collect()))
        .collect();
    out
}
