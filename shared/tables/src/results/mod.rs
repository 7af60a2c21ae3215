//! The results table: one row per image.
//!
//! Path: `<prefix>catalog=<catalog>/date=<YYYY-MM-DD>/<content hash>.parquet`; the
//! partition values live only in the path (Hive style, as Athena, DuckDB and DataFusion
//! expect). ZSTD-compressed Parquet with the Arrow schema embedded.

mod decode;
mod encode;
mod latest;
mod schema;

use arrow::array::RecordBatch;
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};
use sightline_core::ResultRow;

use crate::TablesError;

pub use decode::rows_from_batch;
pub use encode::to_record_batch;
pub use latest::latest_rows;
pub use schema::results_schema;

/// Reads every row of one results Parquet file stored at `key`
/// (`…catalog=<c>/date=<d>/….parquet`).
pub fn read_rows(key: &str, bytes: Bytes) -> Result<Vec<ResultRow>, TablesError> {
    let (catalog, date) = parse_partition(key).ok_or_else(|| TablesError::InvalidRow {
        key: key.to_string(),
        message: "path has no catalog=<c>/date=<YYYY-MM-DD>/ partition".into(),
    })?;
    let mut rows = Vec::new();
    for b in read_parquet(bytes)? {
        rows.extend(rows_from_batch(&b, &catalog, date).map_err(|e| match e {
            TablesError::InvalidRow { message, .. } => TablesError::InvalidRow {
                key: key.to_string(),
                message,
            },
            other => other,
        })?);
    }
    Ok(rows)
}

/// The `(catalog, date)` partition values of a key like
/// `results/catalog=retail/date=2026-11-26/part-….parquet`.
pub fn parse_partition(key: &str) -> Option<(String, NaiveDate)> {
    let mut catalog = None;
    let mut date = None;
    for part in key.split('/') {
        if let Some(c) = part.strip_prefix("catalog=") {
            catalog = Some(c.to_string());
        } else if let Some(d) = part.strip_prefix("date=") {
            date = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
        }
    }
    Some((catalog?, date?))
}

/// Encodes a batch as a ZSTD-compressed Parquet file.
pub fn write_parquet(batch: &RecordBatch) -> Result<Bytes, TablesError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_created_by("sightline".into())
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(Bytes::from(buf))
}

/// Decodes a Parquet file into Arrow batches.
pub fn read_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>, TablesError> {
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// The Hive partition folder of a catalog and day: `<prefix>catalog=<c>/date=<YYYY-MM-DD>/`.
pub fn partition_dir(prefix: &str, catalog: &str, date: NaiveDate) -> String {
    format!(
        "{prefix}catalog={catalog}/date={}/",
        date.format("%Y-%m-%d")
    )
}

/// A content-derived file name: the hash of the identities of the rows' objects and
/// models (not of timestamps or scores), so processing the same objects again with the
/// same model overwrites the same file.
pub fn file_name(rows: &[ResultRow]) -> String {
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
                r.bucket, r.key, r.etag, r.model, r.model_version
            )
        })
        .collect();
    ids.sort();
    ids.dedup();
    let mut h = Sha256::new();
    for id in &ids {
        h.update(id.as_bytes());
        h.update([b'\n']);
    }
    format!("part-{}.parquet", &hex::encode(h.finalize())[..32])
}

/// One encoded results file, ready to put.
#[derive(Debug, Clone)]
pub struct ResultFile {
    /// Object key (`<prefix>catalog=…/date=…/part-<hash>.parquet`).
    pub key: String,
    /// Parquet bytes.
    pub bytes: Bytes,
    /// Rows in the file.
    pub rows: usize,
}

/// Groups rows by (catalog, date) and encodes one file per group, each catalog with its
/// embedding width `embedding_dim(catalog)`.
pub fn result_files(
    prefix: &str,
    rows: &[ResultRow],
    embedding_dim: impl Fn(&str) -> usize,
) -> Result<Vec<ResultFile>, TablesError> {
    let mut groups: std::collections::BTreeMap<(&str, NaiveDate), Vec<ResultRow>> =
        Default::default();
    for r in rows {
        groups
            .entry((r.catalog.as_str(), r.date))
            .or_default()
            .push(r.clone());
    }
    groups
        .into_iter()
        .map(|((catalog, date), mut rows)| {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            let batch = to_record_batch(&rows, embedding_dim(catalog))?;
            Ok(ResultFile {
                key: format!(
                    "{}{}",
                    partition_dir(prefix, catalog, date),
                    file_name(&rows)
                ),
                bytes: write_parquet(&batch)?,
                rows: rows.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
