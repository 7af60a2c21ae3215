//! The writer stage: rows → Parquet files in the results bucket(s).

use std::collections::BTreeMap;

use sightline_core::ResultRow;
use sightline_tables::{latest_rows, result_files};

use crate::{Pipeline, PipelineError};

impl Pipeline {
    /// Writes rows as Parquet: one file per (results bucket, catalog, date), named by
    /// content, with each catalog's embedding width, one row per identity (at-least-once
    /// delivery can put the same object twice into one batch). Returns the keys written,
    /// sorted.
    pub async fn write_rows(&self, rows: &[ResultRow]) -> Result<Vec<String>, PipelineError> {
        let mut by_bucket: BTreeMap<String, Vec<ResultRow>> = BTreeMap::new();
        for r in latest_rows(rows.iter().cloned()) {
            let bucket = self.settings.results_bucket_for(&r.bucket).to_string();
            by_bucket.entry(bucket).or_default().push(r);
        }
        let mut keys = Vec::new();
        for (bucket, rows) in by_bucket {
            let prefix = self.settings.results_prefix.clone();
            let dims = self.plans.embedding_dims();
            let encode =
                move || result_files(&prefix, &rows, |c| dims.get(c).copied().unwrap_or(0));
            let files = tokio::task::spawn_blocking(encode).await.map_err(|e| {
                PipelineError::TaskFailed {
                    task: "Parquet encoding",
                    message: e.to_string(),
                }
            })??;
            for f in files {
                self.sink
                    .put(&bucket, &f.key, f.bytes, "application/vnd.apache.parquet")
                    .await?;
                tracing::info!(bucket = %bucket, key = %f.key, rows = f.rows, "wrote results");
                keys.push(f.key);
            }
        }
        keys.sort();
        Ok(keys)
    }
}
