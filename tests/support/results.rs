//! Reading the results table back (from a folder or a bucket) into plain rows that
//! tests can assert on.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, Int32Type, Int64Type};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One results row, flattened for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Parquet file the row came from (key or path).
    pub file: String,
    /// `bucket` column.
    pub bucket: String,
    /// `key` column.
    pub key: String,
    /// `etag` column.
    pub etag: String,
    /// `size_bytes` column.
    pub size_bytes: i64,
    /// `model` column.
    pub model: String,
    /// `model_version` column.
    pub model_version: String,
    /// `execution_provider` column.
    pub execution_provider: String,
    /// `width` column.
    pub width: Option<i32>,
    /// `height` column.
    pub height: Option<i32>,
    /// `(class_id, label, score)` of the `labels` column.
    pub labels: Vec<(i32, String, f32)>,
    /// `tags` column.
    pub tags: Vec<String>,
    /// Number of detections.
    pub detections: usize,
    /// Length of the embedding, `None` if null.
    pub embedding_len: Option<usize>,
    /// `error_kind` column.
    pub error_kind: Option<String>,
    /// `error` column.
    pub error: Option<String>,
}

impl Row {
    /// Class id of the top-1 label.
    pub fn top1(&self) -> Option<i32> {
        self.labels.first().map(|l| l.0)
    }
}

fn opt_str(a: &dyn Array, i: usize) -> Option<String> {
    let s = a.as_string::<i32>();
    s.is_valid(i).then(|| s.value(i).to_string())
}

/// Flattens record batches of the results schema.
pub fn rows_of(file: &str, batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let col = |n: &str| {
            b.column_by_name(n)
                .unwrap_or_else(|| panic!("column {n} missing in {file}"))
                .clone()
        };
        let (labels, tags, dets, emb) = (
            col("labels"),
            col("tags"),
            col("detections"),
            col("embedding"),
        );
        let (labels, tags, dets, emb) = (
            labels.as_list::<i32>(),
            tags.as_list::<i32>(),
            dets.as_list::<i32>(),
            emb.as_fixed_size_list(),
        );
        let (w, h) = (col("width"), col("height"));
        let (w, h) = (w.as_primitive::<Int32Type>(), h.as_primitive::<Int32Type>());
        let size = col("size_bytes");
        let size = size.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let l = labels.value(i);
            let l = l.as_struct();
            let ids = l.column(0).as_primitive::<Int32Type>();
            let names = l.column(1).as_string::<i32>();
            let scores = l.column(2).as_primitive::<Float32Type>();
            let t = tags.value(i);
            let t = t.as_string::<i32>();
            out.push(Row {
                file: file.to_string(),
                bucket: opt_str(col("bucket").as_ref(), i).unwrap(),
                key: opt_str(col("key").as_ref(), i).unwrap(),
                etag: opt_str(col("etag").as_ref(), i).unwrap(),
                size_bytes: size.value(i),
                model: opt_str(col("model").as_ref(), i).unwrap(),
                model_version: opt_str(col("model_version").as_ref(), i).unwrap(),
                execution_provider: opt_str(col("execution_provider").as_ref(), i).unwrap(),
                width: w.is_valid(i).then(|| w.value(i)),
                height: h.is_valid(i).then(|| h.value(i)),
                labels: (0..l.len())
                    .map(|j| (ids.value(j), names.value(j).to_string(), scores.value(j)))
                    .collect(),
                tags: (0..t.len()).map(|j| t.value(j).to_string()).collect(),
                detections: dets.value_length(i) as usize,
                embedding_len: emb.is_valid(i).then(|| emb.value_length() as usize),
                error_kind: opt_str(col("error_kind").as_ref(), i),
                error: opt_str(col("error").as_ref(), i),
            });
        }
    }
    out
}

/// Decodes one Parquet file.
pub fn read_parquet(bytes: Bytes) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("a Parquet file")
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches")
}

/// Every `.parquet` file under `dir` (recursively), sorted by path.
pub fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// All rows of every Parquet file under `dir`.
pub fn rows_in_dir(dir: &Path) -> Vec<Row> {
    parquet_files(dir)
        .iter()
        .flat_map(|p| {
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .to_string();
            rows_of(&rel, &read_parquet(Bytes::from(std::fs::read(p).unwrap())))
        })
        .collect()
}

/// All rows of every Parquet object under `prefix` in `bucket`, with the object keys.
pub async fn rows_in_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> (Vec<String>, Vec<Row>) {
    let keys = list_keys(s3, bucket, prefix).await;
    let mut rows = Vec::new();
    for k in &keys {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(k)
            .send()
            .await
            .expect("get result")
            .body
            .collect()
            .await
            .unwrap();
        rows.extend(rows_of(k, &read_parquet(body.into_bytes())));
    }
    (keys, rows)
}

/// Every key under `prefix` in `bucket`, sorted.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list objects");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    keys.sort();
    keys
}

/// A synthetic success row of `catalog` for object `key` (bucket `photos`, ETag `e-<key>`,
/// model `efficientnet_lite0` 1.0.0 on the CPU, one label, a 4-float embedding), processed
/// on 2026-11-26 at noon UTC: for tests that write or aggregate rows without running models.
pub fn sample_row(catalog: &str, key: &str) -> sightline_core::ResultRow {
    use chrono::TimeZone;
    sightline_core::ResultRow {
        catalog: catalog.into(),
        date: chrono::NaiveDate::from_ymd_opt(2026, 11, 26).expect("date"),
        bucket: "photos".into(),
        key: key.into(),
        etag: format!("e-{key}"),
        size_bytes: 100,
        model: "efficientnet_lite0".into(),
        model_version: "1.0.0".into(),
        execution_provider: "cpu".into(),
        processed_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .single()
            .expect("time"),
        width: Some(64),
        height: Some(48),
        stats: None,
        labels: vec![sightline_core::Label {
            class_id: 0,
            label: "c0".into(),
            score: 0.5,
        }],
        tags: vec![],
        detections: vec![],
        embedding: Some(vec![0.0; 4]),
        redacted_key: None,
        redaction_skipped: None,
        faces_redacted: None,
        error_kind: None,
        error: None,
        timings: sightline_core::StageTimings::default(),
    }
}
