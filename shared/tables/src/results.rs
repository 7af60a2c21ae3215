//! The results table: one row per image.
//!
//! Path: `<prefix>catalog=<catalog>/date=<YYYY-MM-DD>/<content hash>.parquet`; the
//! partition values live only in the path (Hive style, as Athena, DuckDB and DataFusion
//! expect). ZSTD-compressed Parquet with the Arrow schema embedded.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::datatypes::{Float32Type, Int32Type, Int64Type, TimestampMicrosecondType};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};
use sightline_core::{Detection, ErrorKind, ImageStats, Label, ResultRow, StageTimings};

use crate::TablesError;

/// Length of the `embedding` column's vectors.
pub const EMBEDDING_DIM: i32 = 1280;

fn label_fields() -> Fields {
    Fields::from(vec![
        Field::new("class_id", DataType::Int32, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ])
}

fn detection_fields() -> Fields {
    Fields::from(vec![
        Field::new("class_id", DataType::Int32, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new("x_min", DataType::Float32, false),
        Field::new("y_min", DataType::Float32, false),
        Field::new("x_max", DataType::Float32, false),
        Field::new("y_max", DataType::Float32, false),
    ])
}

fn list_item(fields: Fields) -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(fields), false))
}

/// The results table's Arrow schema (see the README's "Results table" for each column).
pub fn results_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("etag", DataType::Utf8, false),
        Field::new("size_bytes", DataType::Int64, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("model_version", DataType::Utf8, false),
        Field::new("execution_provider", DataType::Utf8, false),
        Field::new("processed_at", ts, false),
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        Field::new("aspect", DataType::Float32, true),
        Field::new("brightness", DataType::Float32, true),
        Field::new("contrast", DataType::Float32, true),
        Field::new("labels", DataType::List(list_item(label_fields())), false),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
            false,
        ),
        Field::new(
            "detections",
            DataType::List(list_item(detection_fields())),
            false,
        ),
        Field::new(
            "embedding",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                EMBEDDING_DIM,
            ),
            true,
        ),
        Field::new("redacted_key", DataType::Utf8, true),
        Field::new("error_kind", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("fetch_ms", DataType::Float32, false),
        Field::new("decode_ms", DataType::Float32, false),
        Field::new("infer_ms", DataType::Float32, false),
    ]))
}

fn offsets<T>(rows: &[ResultRow], f: impl Fn(&ResultRow) -> &[T]) -> OffsetBuffer<i32> {
    OffsetBuffer::from_lengths(rows.iter().map(|r| f(r).len()))
}

fn strings<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from(v.collect::<Vec<&str>>()))
}

fn floats(v: impl Iterator<Item = f32>) -> ArrayRef {
    Arc::new(Float32Array::from(v.collect::<Vec<f32>>()))
}

/// Converts rows to one Arrow batch with [`results_schema`].
pub fn to_record_batch(rows: &[ResultRow]) -> Result<RecordBatch, TablesError> {
    let labels = rows.iter().flat_map(|r| &r.labels);
    let label_struct = StructArray::try_new(
        label_fields(),
        vec![
            Arc::new(Int32Array::from(
                labels.clone().map(|l| l.class_id).collect::<Vec<_>>(),
            )),
            strings(labels.clone().map(|l| l.label.as_str())),
            floats(labels.map(|l| l.score)),
        ],
        None,
    )?;
    let dets = rows.iter().flat_map(|r| &r.detections);
    let det_struct = StructArray::try_new(
        detection_fields(),
        vec![
            Arc::new(Int32Array::from(
                dets.clone().map(|d| d.class_id).collect::<Vec<_>>(),
            )),
            strings(dets.clone().map(|d| d.label.as_str())),
            floats(dets.clone().map(|d| d.score)),
            floats(dets.clone().map(|d| d.x_min)),
            floats(dets.clone().map(|d| d.y_min)),
            floats(dets.clone().map(|d| d.x_max)),
            floats(dets.map(|d| d.y_max)),
        ],
        None,
    )?;
    let tags = strings(rows.iter().flat_map(|r| r.tags.iter().map(String::as_str)));

    let dim = EMBEDDING_DIM as usize;
    let mut emb = Vec::with_capacity(rows.len() * dim);
    for r in rows {
        match &r.embedding {
            Some(e) if e.len() == dim => emb.extend_from_slice(e),
            Some(e) => {
                return Err(TablesError::InvalidRow {
                    key: r.key.clone(),
                    message: format!("embedding has {} values, the table stores {dim}", e.len()),
                })
            }
            None => emb.resize(emb.len() + dim, 0.0),
        }
    }
    let emb_valid = NullBuffer::from(
        rows.iter()
            .map(|r| r.embedding.is_some())
            .collect::<Vec<_>>(),
    );
    let schema = results_schema();
    let field = |name: &str| match schema.field_with_name(name).map(|f| f.data_type().clone()) {
        Ok(DataType::List(item)) | Ok(DataType::FixedSizeList(item, _)) => item,
        _ => unreachable!("{name} is a list column"),
    };
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.bucket.as_str())),
        strings(rows.iter().map(|r| r.key.as_str())),
        strings(rows.iter().map(|r| r.etag.as_str())),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.size_bytes),
        )),
        strings(rows.iter().map(|r| r.model.as_str())),
        strings(rows.iter().map(|r| r.model_version.as_str())),
        strings(rows.iter().map(|r| r.execution_provider.as_str())),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.processed_at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.width))),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.height))),
        Arc::new(Float32Array::from_iter(
            rows.iter().map(|r| r.stats.map(|s| s.aspect)),
        )),
        Arc::new(Float32Array::from_iter(
            rows.iter().map(|r| r.stats.map(|s| s.brightness)),
        )),
        Arc::new(Float32Array::from_iter(
            rows.iter().map(|r| r.stats.map(|s| s.contrast)),
        )),
        Arc::new(ListArray::try_new(
            field("labels"),
            offsets(rows, |r| &r.labels),
            Arc::new(label_struct),
            None,
        )?),
        Arc::new(ListArray::try_new(
            field("tags"),
            offsets(rows, |r| &r.tags),
            tags,
            None,
        )?),
        Arc::new(ListArray::try_new(
            field("detections"),
            offsets(rows, |r| &r.detections),
            Arc::new(det_struct),
            None,
        )?),
        Arc::new(FixedSizeListArray::try_new(
            field("embedding"),
            EMBEDDING_DIM,
            Arc::new(Float32Array::from(emb)),
            Some(emb_valid),
        )?),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.redacted_key.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.error_kind.map(|k| k.as_str())),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.error.as_deref()),
        )),
        floats(rows.iter().map(|r| r.timings.fetch_ms)),
        floats(rows.iter().map(|r| r.timings.decode_ms)),
        floats(rows.iter().map(|r| r.timings.infer_ms)),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Reads rows back from a results batch (the inverse of [`to_record_batch`]). `catalog`
/// and `date` are the partition values from the file's path (see [`parse_partition`]).
/// Nullable columns missing from older files read as `None`; timings as 0.
pub fn rows_from_batch(
    batch: &RecordBatch,
    catalog: &str,
    date: NaiveDate,
) -> Result<Vec<ResultRow>, TablesError> {
    let bad = |message: String| TablesError::InvalidRow {
        key: String::new(),
        message,
    };
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| bad(format!("results file has no {name} column")))
    };
    let text = |name: &str| -> Result<Option<&StringArray>, TablesError> {
        match batch.column_by_name(name) {
            None => Ok(None),
            Some(c) => c
                .as_any()
                .downcast_ref::<StringArray>()
                .map(Some)
                .ok_or_else(|| bad(format!("column {name} is not a string column"))),
        }
    };
    let req_text = |name: &str| -> Result<&StringArray, TablesError> {
        text(name)?.ok_or_else(|| bad(format!("results file has no {name} column")))
    };
    let f32s = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Float32Type>())
    };
    let i32s = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
    };
    let (bucket, key, etag) = (req_text("bucket")?, req_text("key")?, req_text("etag")?);
    let (model, version) = (req_text("model")?, req_text("model_version")?);
    let ep = text("execution_provider")?;
    let (redacted, error_kind, error) =
        (text("redacted_key")?, text("error_kind")?, text("error")?);
    let size = col("size_bytes")?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad("size_bytes is not int64".into()))?;
    let processed = col("processed_at")?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| bad("processed_at is not a timestamp".into()))?;
    let (width, height) = (i32s("width"), i32s("height"));
    let (aspect, brightness, contrast) = (f32s("aspect"), f32s("brightness"), f32s("contrast"));
    let (fetch, decode, infer) = (f32s("fetch_ms"), f32s("decode_ms"), f32s("infer_ms"));
    let labels = col("labels")?
        .as_list_opt::<i32>()
        .ok_or_else(|| bad("labels is not a list".into()))?;
    let dets = col("detections")?
        .as_list_opt::<i32>()
        .ok_or_else(|| bad("detections is not a list".into()))?;
    let tags = col("tags")?
        .as_list_opt::<i32>()
        .ok_or_else(|| bad("tags is not a list".into()))?;
    let emb = batch
        .column_by_name("embedding")
        .and_then(|c| c.as_fixed_size_list_opt());
    let opt_f =
        |a: Option<&Float32Array>, i: usize| a.filter(|a| a.is_valid(i)).map(|a| a.value(i));
    let opt_i = |a: Option<&Int32Array>, i: usize| a.filter(|a| a.is_valid(i)).map(|a| a.value(i));
    let opt_s = |a: Option<&StringArray>, i: usize| {
        a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_string())
    };
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let l = labels.value(i);
        let l = l.as_struct();
        let (lc, ll, ls) = (
            l.column(0).as_primitive::<Int32Type>(),
            l.column(1).as_string::<i32>(),
            l.column(2).as_primitive::<Float32Type>(),
        );
        let d = dets.value(i);
        let d = d.as_struct();
        let dc: Vec<&Float32Array> = (2..7)
            .map(|k| d.column(k).as_primitive::<Float32Type>())
            .collect();
        let (di, dl) = (
            d.column(0).as_primitive::<Int32Type>(),
            d.column(1).as_string::<i32>(),
        );
        let t = tags.value(i);
        let t = t.as_string::<i32>();
        let stats = match (opt_f(aspect, i), opt_f(brightness, i), opt_f(contrast, i)) {
            (Some(aspect), Some(brightness), Some(contrast)) => Some(ImageStats {
                aspect,
                brightness,
                contrast,
            }),
            _ => None,
        };
        rows.push(ResultRow {
            catalog: catalog.to_string(),
            date,
            bucket: bucket.value(i).to_string(),
            key: key.value(i).to_string(),
            etag: etag.value(i).to_string(),
            size_bytes: size.value(i),
            model: model.value(i).to_string(),
            model_version: version.value(i).to_string(),
            execution_provider: opt_s(ep, i).unwrap_or_default(),
            processed_at: DateTime::from_timestamp_micros(processed.value(i)).unwrap_or_default(),
            width: opt_i(width, i),
            height: opt_i(height, i),
            stats,
            labels: (0..l.len())
                .map(|k| Label {
                    class_id: lc.value(k),
                    label: ll.value(k).to_string(),
                    score: ls.value(k),
                })
                .collect(),
            tags: (0..t.len()).map(|k| t.value(k).to_string()).collect(),
            detections: (0..d.len())
                .map(|k| Detection {
                    class_id: di.value(k),
                    label: dl.value(k).to_string(),
                    score: dc[0].value(k),
                    x_min: dc[1].value(k),
                    y_min: dc[2].value(k),
                    x_max: dc[3].value(k),
                    y_max: dc[4].value(k),
                })
                .collect(),
            embedding: emb
                .filter(|e| e.is_valid(i))
                .map(|e| e.value(i).as_primitive::<Float32Type>().values().to_vec()),
            redacted_key: opt_s(redacted, i),
            error_kind: opt_s(error_kind, i).and_then(|c| ErrorKind::from_code(&c)),
            error: opt_s(error, i),
            timings: StageTimings {
                fetch_ms: opt_f(fetch, i).unwrap_or(0.0),
                decode_ms: opt_f(decode, i).unwrap_or(0.0),
                infer_ms: opt_f(infer, i).unwrap_or(0.0),
            },
        });
    }
    Ok(rows)
}

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

/// Groups rows by (catalog, date) and encodes one file per group.
pub fn result_files(prefix: &str, rows: &[ResultRow]) -> Result<Vec<ResultFile>, TablesError> {
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
            let batch = to_record_batch(&rows)?;
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
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn row(key: &str, ok: bool) -> ResultRow {
        ResultRow {
            catalog: "retail".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            bucket: "b".into(),
            key: key.into(),
            etag: "e".into(),
            size_bytes: 10,
            model: "m".into(),
            model_version: "1".into(),
            execution_provider: "cpu".into(),
            processed_at: Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap(),
            width: ok.then_some(640),
            height: ok.then_some(480),
            stats: ok.then_some(ImageStats {
                aspect: 4.0 / 3.0,
                brightness: 120.0,
                contrast: 50.0,
            }),
            labels: if ok {
                vec![
                    Label {
                        class_id: 1,
                        label: "a".into(),
                        score: 0.9,
                    },
                    Label {
                        class_id: 2,
                        label: "b".into(),
                        score: 0.1,
                    },
                ]
            } else {
                vec![]
            },
            tags: if ok { vec!["t".into()] } else { vec![] },
            detections: if ok {
                vec![Detection {
                    class_id: 0,
                    label: "person".into(),
                    score: 0.8,
                    x_min: 1.0,
                    y_min: 2.0,
                    x_max: 3.0,
                    y_max: 4.0,
                }]
            } else {
                vec![]
            },
            embedding: ok.then(|| vec![0.5; 1280]),
            redacted_key: ok.then(|| format!("redacted/{key}")),
            error_kind: (!ok).then_some(ErrorKind::CorruptImage),
            error: (!ok).then(|| "bad".into()),
            timings: StageTimings {
                fetch_ms: 1.0,
                decode_ms: 2.0,
                infer_ms: 3.0,
            },
        }
    }

    #[test]
    fn round_trip_through_parquet() {
        let rows = vec![row("x.jpg", true), row("y.jpg", false)];
        let files = result_files("results/", &rows).unwrap();
        assert_eq!(files.len(), 1);
        assert!(
            files[0]
                .key
                .starts_with("results/catalog=retail/date=2026-11-26/part-"),
            "{}",
            files[0].key
        );
        let batches = read_parquet(files[0].bytes.clone()).unwrap();
        let b = &batches[0];
        assert_eq!(b.schema(), results_schema());
        assert_eq!(b.num_rows(), 2);
        let labels = b.column_by_name("labels").unwrap().as_list::<i32>();
        assert_eq!(labels.value_length(0), 2);
        assert_eq!(labels.value_length(1), 0);
        let emb = b.column_by_name("embedding").unwrap().as_fixed_size_list();
        assert!(emb.is_valid(0) && emb.is_null(1));
        let ek = b.column_by_name("error_kind").unwrap().as_string::<i32>();
        assert!(ek.is_null(0));
        assert_eq!(ek.value(1), "corrupt_image");
        let back = read_rows(&files[0].key, files[0].bytes.clone()).unwrap();
        assert_eq!(back, rows, "the typed reader is the writer's inverse");
    }

    #[test]
    fn partitions_parse_from_keys() {
        assert_eq!(
            parse_partition("results/catalog=retail/date=2026-11-26/part-x.parquet"),
            Some((
                "retail".into(),
                NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
            ))
        );
        assert_eq!(parse_partition("results/catalog=retail/x.parquet"), None);
    }

    #[test]
    fn names_depend_on_identity_not_order_or_time() {
        let a = vec![row("x.jpg", true), row("y.jpg", true)];
        let mut b = vec![row("y.jpg", true), row("x.jpg", true)];
        b[0].processed_at = Utc::now();
        assert_eq!(file_name(&a), file_name(&b));
        assert_ne!(file_name(&a), file_name(&a[..1]));
    }

    #[test]
    fn wrong_embedding_size_is_an_error() {
        let mut r = row("x.jpg", true);
        r.embedding = Some(vec![0.0; 3]);
        assert!(to_record_batch(&[r]).is_err());
    }
}
