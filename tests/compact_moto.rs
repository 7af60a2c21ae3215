//! `sightline compact --bucket` against moto, through the fault proxy: the batch deletes
//! are lost (the run fails after writing its compacted file), the documented query path
//! (DuckDB over the bucket's files: `results_latest` and the Athena view) still shows every
//! image once; the lease it could not release keeps the next run off the partition until it
//! expires; then a run settles the partition into one file with no duplicate.

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{TimeZone, Utc};
use sightline_core::ResultRow;
use sightline_tests::lake::{download_prefix, query_latest};
use sightline_tests::proxy::{Fault, FaultProxy, RequestInfo, Rule};
use sightline_tests::results::sample_row;
use sightline_tests::{repo_root, require_python, run_lambda, shared_moto, workspace_bin, Moto};

/// Image `i` processed at second `at`.
fn row(i: usize, at: i64) -> ResultRow {
    let mut r = sample_row("retail", &format!("incoming/retail/{i:04}.jpg"));
    r.etag = format!("e{i}");
    r.processed_at = Utc
        .timestamp_opt(1_790_000_000 + at, 0)
        .single()
        .expect("time");
    r.labels[0].class_id = i as i32;
    r.labels[0].label = format!("c{i}");
    r.embedding = Some(vec![i as f32; 4]);
    r
}

fn compact(moto: &Moto, endpoint: &str, bucket: &str) -> std::process::Output {
    Command::new(workspace_bin("sightline"))
        .args([
            "compact",
            "--catalog",
            "retail",
            "--bucket",
            bucket,
            "--json",
        ])
        .envs(moto.env_vars())
        .env("AWS_ENDPOINT_URL", endpoint)
        .current_dir(repo_root())
        .output()
        .expect("run sightline compact")
}

/// 30 batch files of 4 images under `results/` of `bucket`; every third one redelivers two
/// images of the one before.
async fn write_batches(s3: &aws_sdk_s3::Client, bucket: &str) {
    for b in 0..30usize {
        let first = if b % 3 == 2 { b * 4 - 2 } else { b * 4 };
        let rows: Vec<ResultRow> = (first..first + 4).map(|i| row(i, b as i64)).collect();
        for f in sightline_tables::result_files("results/", &rows, |_| 4).expect("encode") {
            s3.put_object()
                .bucket(bucket)
                .key(&f.key)
                .body(ByteStream::from(f.bytes.to_vec()))
                .send()
                .await
                .expect("put");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_over_s3_survives_lost_deletes() {
    let python = require_python(&["duckdb"]).expect("python with duckdb");
    let moto = shared_moto();
    let s3 = moto.s3().await;
    let bucket = moto.new_bucket("compact").await;
    write_batches(&s3, &bucket).await;
    let expected: std::collections::BTreeSet<String> = (0..30usize)
        .flat_map(|b| {
            if b % 3 == 2 {
                b * 4 - 2..b * 4 + 2
            } else {
                b * 4..b * 4 + 4
            }
        })
        .map(|i| format!("incoming/retail/{i:04}.jpg"))
        .collect();
    let view = |dir: &tempfile::TempDir| query_latest(&python, &dir.path().join("results"));

    let lost_deletes: fn(&RequestInfo) -> bool = |r| r.is_s3("POST", "?delete");
    let proxy = FaultProxy::start(
        moto.endpoint(),
        vec![Rule {
            name: "delete_objects lost",
            matches: lost_deletes,
            probability: 1.0,
            fault: Fault::DropRequest,
        }],
        1,
    );
    let failed = compact(moto, proxy.endpoint(), &bucket);
    assert!(
        !failed.status.success(),
        "the deletes were dropped: it must fail"
    );
    let dir = tempfile::tempdir().expect("tmp");
    download_prefix(&s3, &bucket, "results/", dir.path()).await;
    let after_crash = view(&dir);
    let keys: Vec<&str> = after_crash.latest.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        after_crash.raw_rows > expected.len(),
        "inputs and output both there"
    );

    // The failed run's lease was not released (its delete was lost too): the partition is
    // busy until the lease expires (15 minutes); expire it by hand.
    let busy = compact(moto, moto.endpoint(), &bucket);
    let busy: serde_json::Value = serde_json::from_slice(&busy.stdout).expect("JSON");
    assert_eq!(busy["busy"], true, "{busy}");
    let lease = "results/_compaction/retail/2026-11-26/LOCK";
    s3.delete_object()
        .bucket(&bucket)
        .key(lease)
        .send()
        .await
        .expect("expire the lease");

    let done = compact(moto, moto.endpoint(), &bucket);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&done.stdout).expect("one JSON line for one partition");
    assert_eq!(report["files_after"], 1, "{report}");
    let dir = tempfile::tempdir().expect("tmp");
    download_prefix(&s3, &bucket, "results/", dir.path()).await;
    let settled = view(&dir);
    assert_eq!(settled.latest.len(), expected.len());
    assert_eq!(
        settled.raw_rows,
        expected.len(),
        "no physical duplicate left"
    );
    let files = std::fs::read_dir(dir.path().join("results/catalog=retail/date=2026-11-26"))
        .expect("partition")
        .count();
    assert_eq!(files, 1);
    assert_eq!(settled.current_rows, expected.len());

    // A new model version reprocesses four images: results_latest keeps both versions'
    // rows, results_current the newer one only.
    let mut newer: Vec<ResultRow> = (0..4).map(|i| row(i, 1000)).collect();
    newer
        .iter_mut()
        .for_each(|r| r.model_version = "2.0.0".into());
    for f in sightline_tables::result_files("results/", &newer, |_| 4).expect("encode") {
        let body = ByteStream::from(f.bytes.to_vec());
        let put = s3.put_object().bucket(&bucket).key(&f.key).body(body);
        put.send().await.expect("put");
    }
    let dir = tempfile::tempdir().expect("tmp");
    download_prefix(&s3, &bucket, "results/", dir.path()).await;
    let both = view(&dir);
    assert_eq!(both.latest.len(), expected.len() + 4);
    assert_eq!(both.current_rows, expected.len());
}

/// The `compact` Lambda under the Runtime API harness: the sample scheduled event compacts
/// the configured catalog's partition of the event's day.
#[test]
fn the_compact_lambda_compacts_the_days_partitions() {
    let moto = shared_moto();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bucket = rt.block_on(async {
        let bucket = moto.new_bucket("compact-fn").await;
        write_batches(&moto.s3().await, &bucket).await;
        bucket
    });
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/eventbridge-scheduled-compact.json"))
            .expect("sample event"),
    )
    .expect("JSON");
    let mut env = moto.env_vars();
    env.extend(
        [
            ("SIGHTLINE_COMPACT_BUCKET", bucket.as_str()),
            ("SIGHTLINE_COMPACT_CATALOGS", "retail,security"),
            ("SIGHTLINE_COMPACT_DAYS", "1"),
            ("SIGHTLINE_COMPACT_GRACE_MINUTES", "0"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let run = run_lambda(
        &workspace_bin("sightline-compact"),
        &[event],
        &env,
        Duration::from_secs(60),
    );
    let reports = run.responses()[0].clone();
    let retail = &reports[0];
    assert_eq!(retail["catalog"], "retail", "{reports}");
    assert_eq!(retail["date"], "2026-11-26", "{reports}");
    assert_eq!(
        (
            retail["files_before"].as_u64(),
            retail["files_after"].as_u64()
        ),
        (Some(30), Some(1))
    );
    assert_eq!(retail["rows_written"], 100, "{reports}");
    assert_eq!(reports[1]["catalog"], "security");
    assert_eq!(reports[1]["files_before"], 0, "an empty partition is fine");
}
