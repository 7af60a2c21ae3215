//! Compaction of one results partition (see the crate documentation for the protocol).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sightline_core::{ObjectRef, ResultRow};
use sightline_storage::Store;
use sightline_tables::{
    latest_rows, parse_partition, partition_dir, read_rows, to_record_batch, write_parquet,
};

use crate::journal::{journal_dir, Journal, JournalInput};
use crate::lease::Lease;
use crate::LakeError;

/// File names of compaction outputs start with this (`compact-<content hash>.parquet`).
pub const COMPACTED_PREFIX: &str = "compact-";

/// How a partition is compacted.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The results table's key prefix (`results/`).
    pub results_prefix: String,
    /// Output files aim at this size; files of at least 3/4 of it are left as they are.
    /// Default: 128 MiB. (Set `max_merge_bytes` with it.)
    pub target_bytes: u64,
    /// How long merged inputs stay after their output is written, for queries that
    /// listed them before. Default: zero (deleted at once).
    pub grace: TimeDelta,
    /// How long a partition's lease lasts (a crashed compaction's lease expires). Default:
    /// 15 minutes, a Lambda's longest run.
    pub lease: TimeDelta,
    /// One run merges at most this many bytes of small files (its memory is a few times
    /// this); the rest waits for the next run. Default: 4 × `target_bytes`.
    pub max_merge_bytes: u64,
    /// Files read at the same time. Default: 16.
    pub concurrency: usize,
}

impl CompactOptions {
    /// The defaults for a table under `results_prefix`.
    pub fn new(results_prefix: impl Into<String>) -> CompactOptions {
        CompactOptions {
            results_prefix: results_prefix.into(),
            target_bytes: 128 << 20,
            grace: TimeDelta::zero(),
            lease: TimeDelta::minutes(15),
            max_merge_bytes: 4 * (128 << 20),
            concurrency: 16,
        }
    }
}

/// What compacting one partition did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartitionReport {
    /// The partition's catalog.
    pub catalog: String,
    /// The partition's date.
    pub date: Option<NaiveDate>,
    /// Another compaction held the partition's lease: nothing was done.
    pub busy: bool,
    /// Parquet files in the partition before and after.
    pub files_before: usize,
    /// Parquet files after (inputs still in their grace period included).
    pub files_after: usize,
    /// Rows read from merged files.
    pub rows_read: usize,
    /// Rows written (after deduplication).
    pub rows_written: usize,
    /// Bytes of the merged files.
    pub bytes_read: u64,
    /// Bytes of the outputs.
    pub bytes_written: u64,
    /// Output keys written by this run.
    pub outputs: Vec<String>,
    /// Files deleted (merged inputs whose grace period ended, rolled-back outputs).
    pub deleted: usize,
    /// Merges whose inputs wait for their grace period.
    pub pending: usize,
    /// Journals of crashed runs undone (an output was missing).
    pub rolled_back: usize,
}

/// Compacts the partition `catalog`/`date` of the results table in `bucket`: merges its
/// small files, settles earlier runs' journals. `now` is the clock (journals, grace,
/// lease).
pub async fn compact_partition(
    store: &Store,
    bucket: &str,
    catalog: &str,
    date: NaiveDate,
    opts: &CompactOptions,
    now: DateTime<Utc>,
) -> Result<PartitionReport, LakeError> {
    let mut report = PartitionReport {
        catalog: catalog.to_string(),
        date: Some(date),
        ..PartitionReport::default()
    };
    let journals = journal_dir(&opts.results_prefix, catalog, date);
    let lease_key = format!("{journals}LOCK");
    let Some(lease) = Lease::acquire(store, bucket, lease_key, opts.lease, now).await? else {
        report.busy = true;
        return Ok(report);
    };
    let partition = Partition {
        store,
        bucket,
        dir: partition_dir(&opts.results_prefix, catalog, date),
        journals,
        opts,
        now,
    };
    let done = partition.compact(&mut report).await;
    let released = lease.release(store, bucket).await;
    done.and(released).map(|()| report)
}

/// The dates that have a partition of `catalog` (one listing of the catalog's files).
pub async fn partition_dates(
    store: &Store,
    bucket: &str,
    results_prefix: &str,
    catalog: &str,
) -> Result<Vec<NaiveDate>, LakeError> {
    let prefix = format!("{results_prefix}catalog={catalog}/");
    let dates: BTreeSet<NaiveDate> = (store.list(bucket, &prefix).await?.iter())
        .filter_map(|o| parse_partition(&o.key))
        .filter(|(c, _)| c == catalog)
        .map(|(_, d)| d)
        .collect();
    Ok(dates.into_iter().collect())
}

struct Partition<'a> {
    store: &'a Store,
    bucket: &'a str,
    dir: String,
    journals: String,
    opts: &'a CompactOptions,
    now: DateTime<Utc>,
}

impl Partition<'_> {
    async fn compact(&self, report: &mut PartitionReport) -> Result<(), LakeError> {
        let mut files = self.files().await?;
        report.files_before = files.len();
        let busy = self.settle_journals(&files, report).await?;
        if report.deleted > 0 {
            files = self.files().await?;
        }
        let inputs = self.plan(&files, &busy);
        self.merge(&inputs, report).await?;
        // What a listing would show now: merged inputs still in their grace period stay.
        report.files_after = match report.deleted {
            0 if inputs.is_empty() => files.len(),
            _ => self.files().await?.len(),
        };
        Ok(())
    }

    /// The partition's Parquet files.
    async fn files(&self) -> Result<Vec<ObjectRef>, LakeError> {
        let mut files = self.store.list(self.bucket, &self.dir).await?;
        files.retain(|o| o.key.ends_with(".parquet"));
        Ok(files)
    }

    /// Finishes or undoes earlier runs' merges; returns the files of merges still in their
    /// grace period, which this run leaves alone.
    async fn settle_journals(
        &self,
        files: &[ObjectRef],
        report: &mut PartitionReport,
    ) -> Result<HashSet<String>, LakeError> {
        let present: HashSet<&str> = files.iter().map(|o| o.key.as_str()).collect();
        let mut busy = HashSet::new();
        let mut keys = self.store.list(self.bucket, &self.journals).await?;
        keys.retain(|o| o.key.ends_with(".json"));
        for j in keys {
            let journal = Journal::read(self.store, self.bucket, &j.key).await?;
            if !journal.outputs.iter().all(|k| present.contains(k.as_str())) {
                // Crashed while writing its outputs: its inputs are all still there.
                let written: Vec<String> = (journal.outputs.iter())
                    .filter(|k| present.contains(k.as_str()))
                    .cloned()
                    .collect();
                self.store.delete(self.bucket, &written).await?;
                self.store.delete(self.bucket, &[j.key]).await?;
                report.deleted += written.len();
                report.rolled_back += 1;
            } else if journal.written_at + self.opts.grace <= self.now {
                report.deleted += self.delete_inputs(&journal, &j.key).await?;
            } else {
                busy.extend(journal.inputs.iter().map(|i| i.key.clone()));
                busy.extend(journal.outputs.iter().cloned());
                report.pending += 1;
            }
        }
        Ok(busy)
    }

    /// Deletes the journal's inputs that are still as it listed them, then the journal.
    async fn delete_inputs(&self, journal: &Journal, key: &str) -> Result<usize, LakeError> {
        let current: HashMap<String, Option<String>> = (self.files().await?.into_iter())
            .map(|o| (o.key, o.etag))
            .collect();
        let unchanged: Vec<String> = (journal.inputs.iter())
            .filter(|i| {
                current
                    .get(&i.key)
                    .is_some_and(|e| e.as_deref() == Some(&i.etag))
            })
            .map(|i| i.key.clone())
            .collect();
        self.store.delete(self.bucket, &unchanged).await?;
        self.store.delete(self.bucket, &[key.to_string()]).await?;
        Ok(unchanged.len())
    }

    /// The files to merge: the small ones (under 3/4 of the target, not `busy`) in key
    /// order, at most `max_merge_bytes` of them; none when fewer than two.
    fn plan(&self, files: &[ObjectRef], busy: &HashSet<String>) -> Vec<ObjectRef> {
        let target = self.opts.target_bytes.max(1);
        let mut chosen = Vec::new();
        let mut bytes = 0;
        for f in files {
            if size(f) >= target / 4 * 3 || busy.contains(&f.key) {
                continue;
            }
            if bytes + size(f) > self.opts.max_merge_bytes && chosen.len() >= 2 {
                break;
            }
            bytes += size(f);
            chosen.push(f.clone());
        }
        if chosen.len() < 2 {
            chosen.clear();
        }
        chosen
    }

    /// Merges `inputs`: reads every row, keeps the latest per identity, sorts by key and
    /// cuts the rows into outputs of about the target size; writes the journal, the
    /// outputs, then (zero grace) deletes the inputs.
    async fn merge(
        &self,
        inputs: &[ObjectRef],
        report: &mut PartitionReport,
    ) -> Result<(), LakeError> {
        if inputs.is_empty() {
            return Ok(());
        }
        let rows = self.read(inputs).await?;
        report.rows_read += rows.len();
        report.bytes_read += inputs.iter().map(size).sum::<u64>();
        let rows = latest_rows(rows);
        report.rows_written += rows.len();
        let rows_per_output = rows_per_output(&rows, self.opts.target_bytes)?;
        let mut outputs = Vec::new();
        for chunk in rows.chunks(rows_per_output) {
            for group in by_embedding_width(chunk) {
                let bytes = write_parquet(&to_record_batch(&group.rows, group.width)?)?;
                let hash = hex::encode(Sha256::digest(&bytes));
                let key = format!("{}{COMPACTED_PREFIX}{}.parquet", self.dir, &hash[..32]);
                outputs.push((key, bytes));
            }
        }
        let journal = Journal {
            written_at: self.now,
            inputs: (inputs.iter())
                .map(|o| JournalInput {
                    key: o.key.clone(),
                    etag: o.etag.clone().unwrap_or_default(),
                })
                .collect(),
            outputs: outputs.iter().map(|(k, _)| k.clone()).collect(),
        };
        let journal_key = journal.key(&self.journals);
        journal.write(self.store, self.bucket, &journal_key).await?;
        for (key, bytes) in outputs {
            report.bytes_written += bytes.len() as u64;
            let mime = "application/vnd.apache.parquet";
            self.store.put(self.bucket, &key, bytes, mime).await?;
            tracing::info!(bucket = self.bucket, key = %key, inputs = inputs.len(), "compacted");
            report.outputs.push(key);
        }
        if self.opts.grace <= TimeDelta::zero() {
            report.deleted += self.delete_inputs(&journal, &journal_key).await?;
        } else {
            report.pending += 1;
        }
        Ok(())
    }

    /// Every row of `files`, read `concurrency` files at a time.
    async fn read(&self, files: &[ObjectRef]) -> Result<Vec<ResultRow>, LakeError> {
        let read_one = |key: String| async move {
            let object = self.store.get(self.bucket, &key, u64::MAX).await?;
            Ok::<_, LakeError>(read_rows(&key, object.bytes)?)
        };
        let batches: Vec<Vec<ResultRow>> =
            futures::stream::iter(files.iter().map(|o| o.key.clone()))
                .map(read_one)
                .buffer_unordered(self.opts.concurrency.max(1))
                .try_collect()
                .await?;
        Ok(batches.into_iter().flatten().collect())
    }
}

/// How many rows make an output of about `target` bytes: the encoded size of 1,000 rows
/// gives a first estimate, the encoded size of that many rows the answer (compression
/// improves with more rows; small input files' sizes overstate with per-file overhead).
fn rows_per_output(rows: &[ResultRow], target: u64) -> Result<usize, LakeError> {
    let mut n = rows.len().min(1000);
    for _ in 0..2 {
        let sample = &rows[..n];
        let mut bytes = 0;
        for group in by_embedding_width(sample) {
            bytes += write_parquet(&to_record_batch(&group.rows, group.width)?)?.len() as u64;
        }
        let estimate = (target as u128 * n as u128 / bytes.max(1) as u128).max(1) as usize;
        if estimate <= n || n == rows.len() {
            return Ok(estimate);
        }
        n = estimate.min(rows.len());
    }
    Ok(n)
}

fn size(o: &ObjectRef) -> u64 {
    o.size.unwrap_or(0).max(0) as u64
}

/// Rows of one embedding width (a catalog that changed models has several).
struct WidthGroup {
    width: usize,
    rows: Vec<ResultRow>,
}

/// Splits rows by embedding width, keeping their order; rows without an embedding (error
/// rows) join the first group.
fn by_embedding_width(rows: &[ResultRow]) -> Vec<WidthGroup> {
    let width = |r: &ResultRow| r.embedding.as_ref().map_or(0, Vec::len);
    let mut groups: Vec<WidthGroup> = Vec::new();
    let first_width = rows.iter().map(width).find(|&w| w > 0).unwrap_or(0);
    for row in rows {
        let w = match width(row) {
            0 => first_width,
            w => w,
        };
        match groups.iter_mut().find(|g| g.width == w) {
            Some(g) => g.rows.push(row.clone()),
            None => groups.push(WidthGroup {
                width: w,
                rows: vec![row.clone()],
            }),
        }
    }
    groups
}
