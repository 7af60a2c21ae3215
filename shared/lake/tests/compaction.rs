//! Compaction of a results partition on a local store: target file count, nothing lost or
//! doubled (checksums before and after), writers racing compactions, crashes between steps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use sightline_core::{ImageStats, Label, ResultRow, StageTimings};
use sightline_lake::{compact_partition, journal_dir, CompactOptions, COMPACTED_PREFIX};
use sightline_storage::{LocalStore, StorageError, Store};
use sightline_tables::{latest_rows, read_rows, result_files};

const BUCKET: &str = "b";
const PREFIX: &str = "results/";
const EMBEDDING: usize = 8;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

/// A synthetic row of image `i`: its top-1 label is derived from the key, so a row that
/// lands with another image's content is caught.
fn row(i: usize, processed_at: DateTime<Utc>) -> ResultRow {
    let key = format!("incoming/retail/img-{i:06}.jpg");
    ResultRow {
        catalog: "retail".into(),
        date: day(),
        bucket: "src".into(),
        key: key.clone(),
        etag: format!("etag-{i}"),
        size_bytes: 1000 + i as i64,
        model: "efficientnet_lite0".into(),
        model_version: "1.0.0".into(),
        execution_provider: "cpu".into(),
        processed_at,
        width: Some(640),
        height: Some(480),
        stats: Some(ImageStats {
            aspect: 4.0 / 3.0,
            brightness: 100.0,
            contrast: 40.0,
        }),
        labels: vec![Label {
            class_id: (i % 1000) as i32,
            label: format!("class-{}", i % 1000),
            score: 0.9,
        }],
        tags: vec![],
        detections: vec![],
        embedding: Some(vec![i as f32; EMBEDDING]),
        redacted_key: None,
        redaction_skipped: None,
        faces_redacted: None,
        error_kind: None,
        error: None,
        timings: StageTimings::default(),
    }
}

/// Writes `rows` as one batch file, as the pipeline's writer names it.
async fn write_batch(store: &Store, rows: &[ResultRow]) -> String {
    let files = result_files(PREFIX, rows, |_| EMBEDDING).unwrap();
    assert_eq!(files.len(), 1);
    let f = files.into_iter().next().unwrap();
    let mime = "application/vnd.apache.parquet";
    store.put(BUCKET, &f.key, f.bytes, mime).await.unwrap();
    f.key
}

fn partition() -> String {
    format!("{PREFIX}catalog=retail/date=2026-11-26/")
}

/// Every row of the partition, as a reader lists and reads it; `None` when a listed file
/// disappeared before it was read (the reader's query would fail and be retried).
async fn read_partition(store: &Store) -> Option<Vec<ResultRow>> {
    let mut rows = Vec::new();
    for o in store.list(BUCKET, &partition()).await.unwrap() {
        if !o.key.ends_with(".parquet") {
            continue;
        }
        match store.get(BUCKET, &o.key, u64::MAX).await {
            Ok(obj) => rows.extend(read_rows(&o.key, obj.bytes).unwrap()),
            Err(StorageError::NotFound { .. }) => return None,
            Err(e) => panic!("{e}"),
        }
    }
    Some(rows)
}

/// The documented query path (`results_latest`): one row per identity. Checks each row's
/// content against its key and returns image numbers.
fn latest_images(rows: Vec<ResultRow>) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for r in latest_rows(rows) {
        let i: usize = r.key[20..26].parse().unwrap();
        assert_eq!(r.etag, format!("etag-{i}"), "{r:?}");
        assert_eq!(r.labels[0].label, format!("class-{}", i % 1000), "{r:?}");
        assert_eq!(r.embedding.as_deref(), Some(&[i as f32; EMBEDDING][..]));
        *seen.entry(i).or_insert(0) += 1;
    }
    seen
}

/// (key, model version, top-1) of every latest row, sorted: the checksum of a table.
fn checksum(rows: Vec<ResultRow>) -> Vec<(String, String, String)> {
    let mut sums: Vec<_> = latest_rows(rows)
        .into_iter()
        .map(|r| (r.key, r.model_version, r.labels[0].label.clone()))
        .collect();
    sums.sort();
    sums
}

fn parquet_count(dir: &std::path::Path) -> usize {
    let part = dir.join(partition());
    std::fs::read_dir(part)
        .map(|d| {
            d.filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".parquet")
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_rows_in_two_thousand_files_compact_to_the_target_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    // 2,000 batch files of 10 rows; every 50th batch redelivers the second half of the
    // previous one's images later, grouped with 5 of its own (the same identities, a later
    // processed_at, another file): 200 duplicates to remove.
    let mut total_bytes = 0;
    for b in 0..2000 {
        let first = if b % 50 == 49 {
            (b - 1) * 10 + 5
        } else {
            b * 10
        };
        let at = t0() + TimeDelta::seconds(b as i64);
        let rows: Vec<ResultRow> = (first..first + 10).map(|i| row(i, at)).collect();
        let key = write_batch(&store, &rows).await;
        total_bytes += std::fs::metadata(dir.path().join(key)).unwrap().len();
    }
    assert_eq!(parquet_count(dir.path()), 2000);
    let before = read_partition(&store).await.unwrap();
    let (raw_before, sum_before) = (before.len(), checksum(before));
    assert_eq!(raw_before, 20_000);
    assert_eq!(sum_before.len(), 20_000 - 40 * 5);

    let mut opts = CompactOptions::new(PREFIX);
    opts.target_bytes = 64 << 10;
    opts.max_merge_bytes = total_bytes;
    let report = compact_partition(&store, BUCKET, "retail", day(), &opts, t0())
        .await
        .unwrap();
    let after = read_partition(&store).await.unwrap();
    // The target count: the bytes written over the target, rounded up, plus at most one
    // for the estimate (each output's rows are sized from a sample's encoding).
    let target_count = report.bytes_written.div_ceil(opts.target_bytes) as usize;
    assert!(
        (2..=target_count + 1).contains(&report.files_after)
            && parquet_count(dir.path()) == report.files_after,
        "{report:?}"
    );
    assert_eq!(after.len(), sum_before.len(), "no physical duplicates left");
    assert_eq!(checksum(after), sum_before);
    assert_eq!((report.rows_read, report.rows_written), (20_000, 19_800));
    assert!(report.outputs.iter().all(|k| k.contains(COMPACTED_PREFIX)));
    // Nothing left to do: a second run changes nothing.
    let again = compact_partition(&store, BUCKET, "retail", day(), &opts, t0())
        .await
        .unwrap();
    assert!(again.outputs.is_empty() && again.deleted == 0, "{again:?}");
    let journals = dir.path().join(journal_dir(PREFIX, "retail", day()));
    assert_eq!(
        std::fs::read_dir(journals).map(|d| d.count()).unwrap_or(0),
        0
    );
}

/// Writers add batch files (new images, redeliveries in new groupings, the same batch
/// again under the same name) while compactions run one after another with a grace
/// period on a simulated clock, and readers query; repeated 20 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_racing_compactions_never_lose_or_double_an_image() {
    for seed in 0..20u64 {
        race(seed).await;
    }
}

async fn race(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let mut opts = CompactOptions::new(PREFIX);
    opts.grace = TimeDelta::minutes(2);
    let written = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let (store, written) = (store.clone(), written.clone());
            tokio::spawn(async move {
                let mut rng = seed * 7919 + w * 104_729 + 1;
                for b in 0..15usize {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let fresh = (w as usize * 1000 + b * 5..w as usize * 1000 + b * 5 + 5)
                        .collect::<Vec<_>>();
                    // A third of the batches redeliver earlier images in a new grouping.
                    let images: Vec<usize> = if rng.is_multiple_of(3) && b > 2 {
                        let start = w as usize * 1000 + ((rng >> 8) as usize % (b * 5 - 6));
                        (start..start + 6).collect()
                    } else {
                        fresh
                    };
                    let at = t0() + TimeDelta::milliseconds((rng >> 20) as i64 % 100_000);
                    let rows: Vec<ResultRow> = images.iter().map(|&i| row(i, at)).collect();
                    write_batch(&store, &rows).await;
                    if rng.is_multiple_of(5) {
                        write_batch(&store, &rows).await; // the same file again
                    }
                    written.lock().unwrap().extend(images);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let reader = {
        let (store, written) = (store.clone(), written.clone());
        tokio::spawn(async move {
            let mut checks = 0;
            for _ in 0..20 {
                let acknowledged = written.lock().unwrap().clone();
                if let Some(rows) = read_partition(&store).await {
                    let seen = latest_images(rows);
                    let lost: Vec<_> = acknowledged
                        .iter()
                        .filter(|i| !seen.contains_key(i))
                        .collect();
                    assert!(lost.is_empty(), "seed {seed}: lost {lost:?}");
                    checks += 1;
                }
                tokio::task::yield_now().await;
            }
            checks
        })
    };
    let mut now = t0();
    let mut runs = 0;
    while !writers.iter().all(|w| w.is_finished()) || runs < 3 {
        compact_partition(&store, BUCKET, "retail", day(), &opts, now)
            .await
            .unwrap();
        now += TimeDelta::minutes(1);
        runs += 1;
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        reader.await.unwrap() > 0,
        "seed {seed}: no reader query succeeded"
    );
    // Writers done: runs past the grace period until one has nothing left to do.
    for _ in 0..5 {
        now += TimeDelta::minutes(3);
        let r = compact_partition(&store, BUCKET, "retail", day(), &opts, now)
            .await
            .unwrap();
        if r.outputs.is_empty() && r.pending == 0 {
            break;
        }
    }
    let rows = read_partition(&store).await.unwrap();
    let physical = rows.len();
    let seen = latest_images(rows);
    let expected = written.lock().unwrap().clone();
    assert_eq!(
        seen.keys().copied().collect::<BTreeSet<_>>(),
        expected,
        "seed {seed}"
    );
    // Settled: one compacted file, no physical duplicate, no journal.
    assert_eq!(parquet_count(dir.path()), 1, "seed {seed}");
    assert_eq!(physical, expected.len(), "seed {seed}");
    let journals = dir.path().join(journal_dir(PREFIX, "retail", day()));
    assert_eq!(
        std::fs::read_dir(journals).unwrap().count(),
        0,
        "seed {seed}"
    );
}

/// A crash after the output was written (inputs not yet deleted) and a crash after the
/// journal but before the output: the table reads the same in both states, and the next
/// run finishes or undoes the merge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_steps_leaves_a_consistent_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    for b in 0..20 {
        let rows: Vec<ResultRow> = (b * 3..b * 3 + 3).map(|i| row(i, t0())).collect();
        write_batch(&store, &rows).await;
    }
    let expected: BTreeSet<usize> = (0..60).collect();
    let check = |rows: Vec<ResultRow>| {
        let seen = latest_images(rows);
        assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), expected);
    };
    // "Killed after the write, before the delete": a grace period keeps the inputs.
    let mut opts = CompactOptions::new(PREFIX);
    opts.grace = TimeDelta::hours(1);
    let first = compact_partition(&store, BUCKET, "retail", day(), &opts, t0())
        .await
        .unwrap();
    assert_eq!((first.outputs.len(), first.pending), (1, 1));
    assert_eq!(parquet_count(dir.path()), 21);
    check(read_partition(&store).await.unwrap());

    // "Killed after the journal, before the output": remove the output.
    let output = dir.path().join(&first.outputs[0]);
    std::fs::remove_file(&output).unwrap();
    check(read_partition(&store).await.unwrap());
    let later = t0() + TimeDelta::hours(2);
    let redo = compact_partition(&store, BUCKET, "retail", day(), &opts, later)
        .await
        .unwrap();
    assert_eq!(redo.rolled_back, 1, "{redo:?}");
    assert_eq!(redo.outputs.len(), 1, "merged again: {redo:?}");
    check(read_partition(&store).await.unwrap());

    // Past the grace period the inputs go; the table still reads the same.
    let last = t0() + TimeDelta::hours(4);
    let settled = compact_partition(&store, BUCKET, "retail", day(), &opts, last)
        .await
        .unwrap();
    assert_eq!(settled.deleted, 20, "{settled:?}");
    assert_eq!(parquet_count(dir.path()), 1);
    let rows = read_partition(&store).await.unwrap();
    assert_eq!(rows.len(), 60);
    check(rows);
}

/// Another compaction holding the partition's lease makes a run skip it; an expired
/// lease (a crashed compaction) is taken over.
#[tokio::test]
async fn one_compaction_at_a_time_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    for b in 0..4 {
        write_batch(&store, &[row(b, t0())]).await;
    }
    let lock = format!("{}LOCK", journal_dir(PREFIX, "retail", day()));
    let held = serde_json::json!({"owner": "other", "expires_at": t0() + TimeDelta::minutes(15)});
    store
        .put(BUCKET, &lock, held.to_string().into(), "application/json")
        .await
        .unwrap();
    let opts = CompactOptions::new(PREFIX);
    let busy = compact_partition(&store, BUCKET, "retail", day(), &opts, t0())
        .await
        .unwrap();
    assert!(busy.busy && busy.outputs.is_empty(), "{busy:?}");
    let later = t0() + TimeDelta::minutes(16);
    let taken = compact_partition(&store, BUCKET, "retail", day(), &opts, later)
        .await
        .unwrap();
    assert!(!taken.busy && taken.outputs.len() == 1, "{taken:?}");
    assert!(!dir.path().join(&lock).exists(), "released");
}
