//! The documented query path, run for real: DuckDB (the test venv's Python) executes
//! `infra/duckdb/views.sql` over a results folder and reads the `results_latest` view.

use std::path::Path;
use std::process::Command;

use crate::repo_root;

/// One row of `results_latest`, the fields tests assert on.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRow {
    /// `bucket`.
    pub bucket: String,
    /// `key`.
    pub key: String,
    /// `etag`.
    pub etag: String,
    /// `model_version`.
    pub model_version: String,
    /// `size_bytes`.
    pub size_bytes: i64,
    /// Class id of the top-1 label (`None` on error rows).
    pub top1: Option<i64>,
    /// `error_kind`.
    pub error_kind: Option<String>,
}

/// What DuckDB sees: every row of the raw `results` view, and `results_latest`.
#[derive(Debug, Clone)]
pub struct LakeView {
    /// Rows in the raw table (all files, duplicates included).
    pub raw_rows: usize,
    /// The documented view, ordered by key.
    pub latest: Vec<LatestRow>,
    /// Rows of `results_current` (one per object version).
    pub current_rows: usize,
}

const QUERY: &str = r#"
import json, sys, duckdb
views, results = sys.argv[1], sys.argv[2]
sql = open(views).read().replace("'out/results/", "'" + results.rstrip("/") + "/")
con = duckdb.connect()
con.execute(sql)
raw = con.execute("SELECT count(*) FROM results").fetchone()[0]
rows = con.execute(
    "SELECT bucket, key, etag, model_version, size_bytes, labels[1].class_id, error_kind "
    "FROM results_latest ORDER BY key, model_version, etag").fetchall()
# The Athena view, run by DuckDB over the same files: its SQL parses and its column list
# matches the Parquet files.
athena = open(sys.argv[3]).read()
view = athena[athena.index("CREATE OR REPLACE VIEW sightline_results_latest"):]
con.execute("CREATE VIEW sightline_results AS SELECT * FROM results")
con.execute(view[:view.index(";") + 1])
athena_n = con.execute("SELECT count(*) FROM sightline_results_latest").fetchone()[0]
current = athena[athena.index("CREATE OR REPLACE VIEW sightline_results_current"):]
con.execute(current[:current.index(";") + 1])
current_n = con.execute("SELECT count(*) FROM results_current").fetchone()[0]
athena_current = con.execute(
    "SELECT count(*) FROM (SELECT bucket, key, etag, model_version FROM sightline_results_current "
    "EXCEPT SELECT bucket, key, etag, model_version FROM results_current)").fetchone()[0]
print(json.dumps({"raw": raw, "latest": rows, "athena": athena_n, "current": current_n,
                  "athena_current_differs": athena_current}))
"#;

/// Runs `infra/duckdb/views.sql` with `python` over the Parquet files under
/// `results_dir` (a `results/` folder: `catalog=…/date=…/*.parquet`). Also runs the Athena
/// views of `infra/athena/results.sql` over the same files and checks they agree.
pub fn query_latest(python: &std::ffi::OsStr, results_dir: &Path) -> LakeView {
    let views = repo_root().join("infra/duckdb/views.sql");
    let out = Command::new(python)
        .arg("-c")
        .arg(QUERY)
        .arg(&views)
        .arg(results_dir)
        .arg(repo_root().join("infra/athena/results.sql"))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "DuckDB over {} failed:\n{}",
        results_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from python");
    let text = |x: &serde_json::Value| x.as_str().map(str::to_string);
    let latest: Vec<LatestRow> = v["latest"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| LatestRow {
            bucket: text(&r[0]).unwrap_or_default(),
            key: text(&r[1]).unwrap_or_default(),
            etag: text(&r[2]).unwrap_or_default(),
            model_version: text(&r[3]).unwrap_or_default(),
            size_bytes: r[4].as_i64().unwrap_or(-1),
            top1: r[5].as_i64(),
            error_kind: text(&r[6]),
        })
        .collect();
    assert_eq!(
        v["athena"].as_u64(),
        Some(latest.len() as u64),
        "the Athena view disagrees with DuckDB's results_latest"
    );
    assert_eq!(
        v["athena_current_differs"].as_u64(),
        Some(0),
        "the Athena view sightline_results_current disagrees with DuckDB's results_current"
    );
    LakeView {
        raw_rows: v["raw"].as_u64().expect("raw count") as usize,
        current_rows: v["current"].as_u64().expect("current count") as usize,
        latest,
    }
}

/// Copies every object under `prefix` of `bucket` into `dir`, keeping the key layout
/// (`dir/<key>`). Returns how many objects were copied.
pub async fn download_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &Path,
) -> usize {
    let keys = crate::results::list_keys(s3, bucket, prefix).await;
    for key in &keys {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().expect("a key has a folder")).unwrap();
        std::fs::write(&path, body).unwrap();
    }
    keys.len()
}
