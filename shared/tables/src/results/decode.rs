//! One Arrow batch of a results file → rows. Files written by other tools or older
//! versions are read as far as they fit: a nullable column that is missing reads as
//! `None`, a column of an unexpected type is an error naming it (never a panic).

use arrow::array::{
    Array, FixedSizeListArray, Float32Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use chrono::{DateTime, NaiveDate};
use sightline_core::{
    Detection, ErrorKind, ImageStats, Label, RedactionSkip, ResultRow, StageTimings,
};

use crate::TablesError;

fn invalid(message: String) -> TablesError {
    TablesError::InvalidRow {
        key: String::new(),
        message,
    }
}

/// `array` as a `T`, or an error naming `name` and `what` it should be.
fn typed<'a, T: 'static>(
    array: &'a dyn Array,
    name: &str,
    what: &str,
) -> Result<&'a T, TablesError> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| invalid(format!("column {name} is not {what}")))
}

/// Column `name` of `batch` as a `T`: `None` when the column is missing.
fn optional<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    what: &str,
) -> Result<Option<&'a T>, TablesError> {
    batch
        .column_by_name(name)
        .map(|c| typed::<T>(c.as_ref(), name, what))
        .transpose()
}

/// Column `name` of `batch` as a `T`: an error when the column is missing.
fn required<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    what: &str,
) -> Result<&'a T, TablesError> {
    optional(batch, name, what)?
        .ok_or_else(|| invalid(format!("results file has no {name} column")))
}

/// Child `name` of the struct values of a list column.
fn child<'a, T: 'static>(
    values: &'a StructArray,
    list: &str,
    name: &str,
    what: &str,
) -> Result<&'a T, TablesError> {
    let column = values
        .column_by_name(name)
        .ok_or_else(|| invalid(format!("column {list} has no field {name}")))?;
    typed(column.as_ref(), &format!("{list}.{name}"), what)
}

/// The row range of list row `i` in the list's values.
fn range(list: &ListArray, i: usize) -> std::ops::Range<usize> {
    let o = list.value_offsets();
    o[i] as usize..o[i + 1] as usize
}

/// The `labels` column.
struct LabelColumns<'a> {
    list: &'a ListArray,
    class_id: &'a Int32Array,
    label: &'a StringArray,
    score: &'a Float32Array,
}

impl<'a> LabelColumns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self, TablesError> {
        let list: &ListArray = required(batch, "labels", "a list")?;
        let values: &StructArray = typed(list.values().as_ref(), "labels", "a list of structs")?;
        Ok(LabelColumns {
            list,
            class_id: child(values, "labels", "class_id", "int32")?,
            label: child(values, "labels", "label", "utf8")?,
            score: child(values, "labels", "score", "float32")?,
        })
    }

    fn row(&self, i: usize) -> Vec<Label> {
        range(self.list, i)
            .map(|k| Label {
                class_id: self.class_id.value(k),
                label: self.label.value(k).to_string(),
                score: self.score.value(k),
            })
            .collect()
    }
}

/// The `detections` column.
struct DetectionColumns<'a> {
    list: &'a ListArray,
    class_id: &'a Int32Array,
    label: &'a StringArray,
    /// score, x_min, y_min, x_max, y_max.
    values: [&'a Float32Array; 5],
}

impl<'a> DetectionColumns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self, TablesError> {
        let list: &ListArray = required(batch, "detections", "a list")?;
        let v: &StructArray = typed(list.values().as_ref(), "detections", "a list of structs")?;
        let f = |name| child::<Float32Array>(v, "detections", name, "float32");
        Ok(DetectionColumns {
            list,
            class_id: child(v, "detections", "class_id", "int32")?,
            label: child(v, "detections", "label", "utf8")?,
            values: [
                f("score")?,
                f("x_min")?,
                f("y_min")?,
                f("x_max")?,
                f("y_max")?,
            ],
        })
    }

    fn row(&self, i: usize) -> Vec<Detection> {
        let [score, x_min, y_min, x_max, y_max] = self.values;
        range(self.list, i)
            .map(|k| Detection {
                class_id: self.class_id.value(k),
                label: self.label.value(k).to_string(),
                score: score.value(k),
                x_min: x_min.value(k),
                y_min: y_min.value(k),
                x_max: x_max.value(k),
                y_max: y_max.value(k),
            })
            .collect()
    }
}

/// The `tags` column.
struct TagColumns<'a> {
    list: &'a ListArray,
    values: &'a StringArray,
}

impl<'a> TagColumns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self, TablesError> {
        let list: &ListArray = required(batch, "tags", "a list")?;
        let values = typed(list.values().as_ref(), "tags", "a list of strings")?;
        Ok(TagColumns { list, values })
    }

    fn row(&self, i: usize) -> Vec<String> {
        range(self.list, i)
            .map(|k| self.values.value(k).to_string())
            .collect()
    }
}

/// The `embedding` column, of any width.
struct EmbeddingColumn<'a> {
    list: &'a FixedSizeListArray,
    values: &'a Float32Array,
}

impl<'a> EmbeddingColumn<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Option<Self>, TablesError> {
        let Some(list) = optional::<FixedSizeListArray>(batch, "embedding", "a fixed-size list")?
        else {
            return Ok(None);
        };
        let values = typed(list.values().as_ref(), "embedding", "a list of float32")?;
        Ok(Some(EmbeddingColumn { list, values }))
    }

    fn row(&self, i: usize) -> Option<Vec<f32>> {
        let dim = self.list.value_length() as usize;
        let start = self.list.value_offset(i) as usize;
        let values = self.values.values().get(start..start + dim)?;
        self.list.is_valid(i).then(|| values.to_vec())
    }
}

/// Every column of a results batch, typed once.
struct ResultColumns<'a> {
    bucket: &'a StringArray,
    key: &'a StringArray,
    etag: &'a StringArray,
    size_bytes: &'a Int64Array,
    model: &'a StringArray,
    model_version: &'a StringArray,
    execution_provider: Option<&'a StringArray>,
    processed_at: &'a TimestampMicrosecondArray,
    width: Option<&'a Int32Array>,
    height: Option<&'a Int32Array>,
    /// aspect, brightness, contrast.
    stats: [Option<&'a Float32Array>; 3],
    labels: LabelColumns<'a>,
    tags: TagColumns<'a>,
    detections: DetectionColumns<'a>,
    embedding: Option<EmbeddingColumn<'a>>,
    redacted_key: Option<&'a StringArray>,
    redaction_skipped: Option<&'a StringArray>,
    faces_redacted: Option<&'a Int32Array>,
    error_kind: Option<&'a StringArray>,
    error: Option<&'a StringArray>,
    /// fetch, decode, infer.
    timings: [Option<&'a Float32Array>; 3],
}

fn text(a: Option<&StringArray>, i: usize) -> Option<String> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_string())
}

fn float(a: Option<&Float32Array>, i: usize) -> Option<f32> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

fn int(a: Option<&Int32Array>, i: usize) -> Option<i32> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

impl<'a> ResultColumns<'a> {
    fn new(b: &'a RecordBatch) -> Result<Self, TablesError> {
        let utf8 = |name| required::<StringArray>(b, name, "utf8");
        let opt_utf8 = |name| optional::<StringArray>(b, name, "utf8");
        let f32s = |name| optional::<Float32Array>(b, name, "float32");
        Ok(ResultColumns {
            bucket: utf8("bucket")?,
            key: utf8("key")?,
            etag: utf8("etag")?,
            size_bytes: required(b, "size_bytes", "int64")?,
            model: utf8("model")?,
            model_version: utf8("model_version")?,
            execution_provider: opt_utf8("execution_provider")?,
            processed_at: required(b, "processed_at", "a timestamp in microseconds")?,
            width: optional(b, "width", "int32")?,
            height: optional(b, "height", "int32")?,
            stats: [f32s("aspect")?, f32s("brightness")?, f32s("contrast")?],
            labels: LabelColumns::new(b)?,
            tags: TagColumns::new(b)?,
            detections: DetectionColumns::new(b)?,
            embedding: EmbeddingColumn::new(b)?,
            redacted_key: opt_utf8("redacted_key")?,
            redaction_skipped: opt_utf8("redaction_skipped")?,
            faces_redacted: optional(b, "faces_redacted", "int32")?,
            error_kind: opt_utf8("error_kind")?,
            error: opt_utf8("error")?,
            timings: [f32s("fetch_ms")?, f32s("decode_ms")?, f32s("infer_ms")?],
        })
    }

    fn row(&self, i: usize, catalog: &str, date: NaiveDate) -> ResultRow {
        let [aspect, brightness, contrast] = self.stats.map(|a| float(a, i));
        let stats = match (aspect, brightness, contrast) {
            (Some(aspect), Some(brightness), Some(contrast)) => Some(ImageStats {
                aspect,
                brightness,
                contrast,
            }),
            _ => None,
        };
        let [fetch_ms, decode_ms, infer_ms] = self.timings.map(|a| float(a, i).unwrap_or(0.0));
        ResultRow {
            catalog: catalog.to_string(),
            date,
            bucket: self.bucket.value(i).to_string(),
            key: self.key.value(i).to_string(),
            etag: self.etag.value(i).to_string(),
            size_bytes: self.size_bytes.value(i),
            model: self.model.value(i).to_string(),
            model_version: self.model_version.value(i).to_string(),
            execution_provider: text(self.execution_provider, i).unwrap_or_default(),
            processed_at: DateTime::from_timestamp_micros(self.processed_at.value(i))
                .unwrap_or_default(),
            width: int(self.width, i),
            height: int(self.height, i),
            stats,
            labels: self.labels.row(i),
            tags: self.tags.row(i),
            detections: self.detections.row(i),
            embedding: self.embedding.as_ref().and_then(|e| e.row(i)),
            redacted_key: text(self.redacted_key, i),
            redaction_skipped: text(self.redaction_skipped, i)
                .and_then(|c| RedactionSkip::from_code(&c)),
            faces_redacted: int(self.faces_redacted, i),
            error_kind: text(self.error_kind, i).and_then(|c| ErrorKind::from_code(&c)),
            error: text(self.error, i),
            timings: StageTimings {
                fetch_ms,
                decode_ms,
                infer_ms,
            },
        }
    }
}

/// Reads rows back from a results batch (the inverse of
/// [`to_record_batch`](super::to_record_batch)). `catalog` and `date` are the partition
/// values from the file's path (see [`parse_partition`](super::parse_partition)). Nullable
/// columns missing from older files read as `None`; timings as 0; embeddings of any width.
pub fn rows_from_batch(
    batch: &RecordBatch,
    catalog: &str,
    date: NaiveDate,
) -> Result<Vec<ResultRow>, TablesError> {
    let columns = ResultColumns::new(batch)?;
    Ok((0..batch.num_rows())
        .map(|i| columns.row(i, catalog, date))
        .collect())
}
