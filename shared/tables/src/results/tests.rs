//! Round trips of the results table.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{TimeZone, Utc};
use sightline_core::{Detection, ErrorKind, ImageStats, Label, RedactionSkip, StageTimings};

use super::*;

/// A successful row for `key` (other modules' tests build on it).
pub(crate) fn sample_row(key: &str) -> ResultRow {
    row(key, true)
}

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
        redaction_skipped: None,
        faces_redacted: None,
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
    let mut skipped = row("z.png", true);
    (skipped.redacted_key, skipped.redaction_skipped) = (None, Some(RedactionSkip::TooLarge));
    let rows = vec![row("x.jpg", true), row("y.jpg", false), skipped];
    let files = result_files("results/", &rows, |_| 1280).unwrap();
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
    assert_eq!(b.schema(), results_schema(1280));
    assert_eq!(b.num_rows(), 3);
    let labels = b.column_by_name("labels").unwrap().as_list::<i32>();
    assert_eq!(labels.value_length(0), 2);
    assert_eq!(labels.value_length(1), 0);
    let emb = b.column_by_name("embedding").unwrap().as_fixed_size_list();
    assert!(emb.is_valid(0) && emb.is_null(1));
    let ek = b.column_by_name("error_kind").unwrap().as_string::<i32>();
    assert!(ek.is_null(0));
    assert_eq!(ek.value(1), "corrupt_image");
    assert!(ek.is_null(2), "a skipped copy leaves the row a success row");
    let rs = b.column_by_name("redaction_skipped").unwrap();
    let rs = rs.as_string::<i32>();
    assert!(rs.is_null(0) && rs.is_null(1));
    assert_eq!(rs.value(2), "too_large");
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
    let e = to_record_batch(&[r], 1280).unwrap_err().to_string();
    assert!(e.contains("3 values") && e.contains("1280"), "{e}");
}

#[test]
fn embedding_width_follows_the_catalog() {
    let mut ok = row("x.jpg", true);
    ok.embedding = Some(vec![0.25, 0.5, 0.75, 1.0]);
    let mut other = row("y.jpg", false);
    other.catalog = "nofeatures".into();
    let rows = vec![ok, other];
    let files = result_files("results/", &rows, |c| if c == "retail" { 4 } else { 0 }).unwrap();
    assert_eq!(files.len(), 2);
    for f in &files {
        let batch = &read_parquet(f.bytes.clone()).unwrap()[0];
        let want = if f.key.contains("catalog=retail/") {
            4
        } else {
            0
        };
        assert_eq!(batch.schema(), results_schema(want), "{}", f.key);
        let back = read_rows(&f.key, f.bytes.clone()).unwrap();
        let original = rows.iter().find(|r| r.key == back[0].key).unwrap();
        assert_eq!(&back[0], original);
    }
}

/// The columns of `batch` with `name` replaced by `column` (of another type).
fn replace_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    let i = schema.index_of(name).unwrap();
    fields[i] = Field::new(name, column.data_type().clone(), true);
    columns[i] = column;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn unexpected_column_types_are_errors_not_panics() {
    let rows = vec![row("x.jpg", true), row("y.jpg", false)];
    let batch = to_record_batch(&rows, 1280).unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let cases: Vec<(&str, ArrayRef)> = vec![
        ("size_bytes", Arc::new(Int32Array::from(vec![1, 2]))),
        ("key", Arc::new(Int32Array::from(vec![1, 2]))),
        ("width", Arc::new(StringArray::from(vec!["a", "b"]))),
        ("labels", Arc::new(StringArray::from(vec!["a", "b"]))),
        ("embedding", Arc::new(StringArray::from(vec!["a", "b"]))),
    ];
    for (name, column) in cases {
        let bad = replace_column(&batch, name, column);
        let e = rows_from_batch(&bad, "retail", date)
            .unwrap_err()
            .to_string();
        assert!(e.contains(name), "{name}: {e}");
    }
    // A labels list whose structs have a string class_id.
    let labels = batch.column_by_name("labels").unwrap().as_list::<i32>();
    let values = labels.values().as_struct();
    let class_id: ArrayRef = Arc::new(StringArray::from(vec!["1"; values.len()]));
    let fields = vec![
        Field::new("class_id", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ];
    let structs = arrow::array::StructArray::try_new(
        fields.into(),
        vec![class_id, values.column(1).clone(), values.column(2).clone()],
        None,
    )
    .unwrap();
    let item = Arc::new(Field::new("item", structs.data_type().clone(), false));
    let list =
        arrow::array::ListArray::try_new(item, labels.offsets().clone(), Arc::new(structs), None)
            .unwrap();
    let bad = replace_column(&batch, "labels", Arc::new(list));
    let e = rows_from_batch(&bad, "retail", date)
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels.class_id"), "{e}");
}

#[test]
fn missing_optional_columns_read_as_none() {
    let rows = vec![row("x.jpg", true)];
    let batch = to_record_batch(&rows, 1280).unwrap();
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| {
            !["width", "embedding", "error", "fetch_ms"]
                .contains(&batch.schema().field(i).name().as_str())
        })
        .collect();
    let old = batch.project(&keep).unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let back = &rows_from_batch(&old, "retail", date).unwrap()[0];
    assert_eq!(
        (back.width, back.embedding.as_ref(), back.timings.fetch_ms),
        (None, None, 0.0)
    );
    assert_eq!(back.height, Some(480));
}
