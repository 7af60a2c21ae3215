//! Sightline's tables: Arrow schemas and Parquet files in the bucket.
//!
//! [`results`] holds the results table: its schema, the conversion of
//! [`ResultRow`](sightline_core::ResultRow)s to Arrow, and the content-derived file
//! names that make a retried batch overwrite its file, and [`latest_rows`]: one row per
//! object version and model version, as every reader sees the table.

pub mod results;

pub use results::{
    latest_rows, parse_partition, partition_dir, read_rows, result_files, results_schema,
    rows_from_batch, to_record_batch, write_parquet, ResultFile,
};

/// Errors of the tables layer.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// Arrow rejected the arrays (a bug, or an embedding of the wrong size).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A row does not fit the schema.
    #[error("invalid row for {key}: {message}")]
    InvalidRow {
        /// Object key of the row.
        key: String,
        /// What is wrong.
        message: String,
    },
}
