//! Rows → one Arrow batch of the results schema.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Fields};
use sightline_core::ResultRow;

use super::schema::{detection_fields, item, label_fields, results_schema, struct_item};
use crate::TablesError;

fn offsets<T>(rows: &[ResultRow], f: impl Fn(&ResultRow) -> &[T]) -> OffsetBuffer<i32> {
    OffsetBuffer::from_lengths(rows.iter().map(|r| f(r).len()))
}

fn strings<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from(v.collect::<Vec<&str>>()))
}

fn floats(v: impl Iterator<Item = f32>) -> ArrayRef {
    Arc::new(Float32Array::from(v.collect::<Vec<f32>>()))
}

fn ints(v: impl Iterator<Item = i32>) -> ArrayRef {
    Arc::new(Int32Array::from(v.collect::<Vec<i32>>()))
}

/// A list column of structs: `columns` hold the flattened items' fields, `offsets` say
/// which items belong to each row.
fn struct_list(
    fields: Fields,
    columns: Vec<ArrayRef>,
    offsets: OffsetBuffer<i32>,
) -> Result<ArrayRef, TablesError> {
    let values = StructArray::try_new(fields.clone(), columns, None)?;
    let list = ListArray::try_new(struct_item(fields), offsets, Arc::new(values), None)?;
    Ok(Arc::new(list))
}

/// The `labels` column.
fn labels(rows: &[ResultRow]) -> Result<ArrayRef, TablesError> {
    let l = rows.iter().flat_map(|r| &r.labels);
    let columns = vec![
        ints(l.clone().map(|l| l.class_id)),
        strings(l.clone().map(|l| l.label.as_str())),
        floats(l.map(|l| l.score)),
    ];
    struct_list(label_fields(), columns, offsets(rows, |r| &r.labels))
}

/// The `detections` column.
fn detections(rows: &[ResultRow]) -> Result<ArrayRef, TablesError> {
    let d = rows.iter().flat_map(|r| &r.detections);
    let columns = vec![
        ints(d.clone().map(|d| d.class_id)),
        strings(d.clone().map(|d| d.label.as_str())),
        floats(d.clone().map(|d| d.score)),
        floats(d.clone().map(|d| d.x_min)),
        floats(d.clone().map(|d| d.y_min)),
        floats(d.clone().map(|d| d.x_max)),
        floats(d.map(|d| d.y_max)),
    ];
    struct_list(
        detection_fields(),
        columns,
        offsets(rows, |r| &r.detections),
    )
}

/// The `tags` column.
fn tags(rows: &[ResultRow]) -> Result<ArrayRef, TablesError> {
    let values = strings(rows.iter().flat_map(|r| r.tags.iter().map(String::as_str)));
    let offsets = offsets(rows, |r| &r.tags);
    Ok(Arc::new(ListArray::try_new(
        item(DataType::Utf8),
        offsets,
        values,
        None,
    )?))
}

/// The `embedding` column: `dim` values per row, null where a row has none.
fn embedding(rows: &[ResultRow], dim: usize) -> Result<ArrayRef, TablesError> {
    let mut values = Vec::with_capacity(rows.len() * dim);
    for r in rows {
        match &r.embedding {
            Some(e) if e.len() == dim => values.extend_from_slice(e),
            Some(e) => {
                return Err(TablesError::InvalidRow {
                    key: r.key.clone(),
                    message: format!(
                        "embedding has {} values, the catalog's table stores {dim}",
                        e.len()
                    ),
                })
            }
            None => values.resize(values.len() + dim, 0.0),
        }
    }
    let valid = NullBuffer::from_iter(rows.iter().map(|r| r.embedding.is_some()));
    Ok(Arc::new(FixedSizeListArray::try_new(
        item(DataType::Float32),
        dim as i32,
        Arc::new(Float32Array::from(values)),
        Some(valid),
    )?))
}

/// Converts rows to one Arrow batch with [`results_schema`]`(embedding_dim)`.
pub fn to_record_batch(
    rows: &[ResultRow],
    embedding_dim: usize,
) -> Result<RecordBatch, TablesError> {
    let text = |f: fn(&ResultRow) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    let nullable_f32 = |f: fn(&ResultRow) -> Option<f32>| -> ArrayRef {
        Arc::new(Float32Array::from_iter(rows.iter().map(f)))
    };
    let processed_at = TimestampMicrosecondArray::from_iter_values(
        rows.iter().map(|r| r.processed_at.timestamp_micros()),
    );
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
        Arc::new(processed_at.with_timezone("UTC")),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.width))),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.height))),
        nullable_f32(|r| r.stats.map(|s| s.aspect)),
        nullable_f32(|r| r.stats.map(|s| s.brightness)),
        nullable_f32(|r| r.stats.map(|s| s.contrast)),
        labels(rows)?,
        tags(rows)?,
        detections(rows)?,
        embedding(rows, embedding_dim)?,
        text(|r| r.redacted_key.as_deref()),
        text(|r| r.redaction_skipped.map(|k| k.as_str())),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.faces_redacted))),
        text(|r| r.error_kind.map(|k| k.as_str())),
        text(|r| r.error.as_deref()),
        floats(rows.iter().map(|r| r.timings.fetch_ms)),
        floats(rows.iter().map(|r| r.timings.decode_ms)),
        floats(rows.iter().map(|r| r.timings.infer_ms)),
    ];
    Ok(RecordBatch::try_new(
        results_schema(embedding_dim),
        columns,
    )?)
}
