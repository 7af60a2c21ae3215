//! Lake maintenance for the results table: compaction of its partitions.
//!
//! Writers add one small Parquet file per batch to `results/catalog=<c>/date=<d>/`.
//! [`compact_partition`] merges a partition's small files into files of about a target
//! size (rows deduplicated by [`RowIdentity`](sightline_core::RowIdentity), the latest
//! `processed_at` kept, sorted by key), safely while writers add files and readers query:
//!
//! 1. take the partition's lease (`<prefix>_compaction/<c>/<d>/LOCK`, create-only), so one
//!    compaction at a time works on a partition;
//! 2. write a journal (`<prefix>_compaction/<c>/<d>/<output>.json`: the inputs with their
//!    ETags, the output) **before** the output, then the output;
//! 3. delete the inputs once the journal is older than the grace period (immediately with
//!    a zero grace), only those whose ETag is still the journal's (a writer that replaced a
//!    file in the meantime keeps it), then the journal.
//!
//! Readers use the `results_latest` views (one row per identity), so the moments when an
//! input and its output both exist count every image once. A crash leaves a journal: the
//! next run finishes it (all outputs exist: delete the inputs) or rolls it back (an output
//! is missing: delete what was written). The journal folder starts with `_`, which Athena
//! and Hive skip, and holds no `.parquet` files, so DuckDB's glob never reads it.

mod compact;
mod journal;
mod lease;
pub mod schedule;

pub use compact::{
    compact_partition, partition_dates, CompactOptions, PartitionReport, COMPACTED_PREFIX,
};
pub use journal::journal_dir;

use sightline_storage::StorageError;
use sightline_tables::TablesError;

/// Why lake maintenance failed.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// Reading, writing, listing or deleting an object failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A results file could not be read or written as Parquet.
    #[error(transparent)]
    Tables(#[from] TablesError),
    /// A setting read from the environment is missing or invalid.
    #[error("setting {name}: {message}")]
    Config {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A journal or lease object is not what this crate writes.
    #[error("invalid {what} {key}: {message}")]
    Invalid {
        /// `journal` or `lease`.
        what: &'static str,
        /// Its key.
        key: String,
        /// What is wrong.
        message: String,
    },
}
