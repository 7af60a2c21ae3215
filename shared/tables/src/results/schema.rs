//! The results table's Arrow schema (see the README's "Results table" for each column).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The `labels` list's struct fields.
pub(crate) fn label_fields() -> Fields {
    Fields::from(vec![
        Field::new("class_id", DataType::Int32, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ])
}

/// The `detections` list's struct fields.
pub(crate) fn detection_fields() -> Fields {
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

/// The item field of the `labels` and `detections` lists.
pub(crate) fn struct_item(fields: Fields) -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(fields), false))
}

/// The item field of the `tags` list and of the `embedding` vectors.
pub(crate) fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, false))
}

/// The results table's schema for a catalog whose rows carry `embedding_dim` values in
/// the `embedding` column (the classifier manifest's `embedding_dim`; 0 for a catalog
/// without an embedding, whose column is all null).
pub fn results_schema(embedding_dim: usize) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let embedding = DataType::FixedSizeList(item(DataType::Float32), embedding_dim as i32);
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
        Field::new("labels", DataType::List(struct_item(label_fields())), false),
        Field::new("tags", DataType::List(item(DataType::Utf8)), false),
        Field::new(
            "detections",
            DataType::List(struct_item(detection_fields())),
            false,
        ),
        Field::new("embedding", embedding, true),
        Field::new("redacted_key", DataType::Utf8, true),
        Field::new("redaction_skipped", DataType::Utf8, true),
        Field::new("faces_redacted", DataType::Int32, true),
        Field::new("error_kind", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("fetch_ms", DataType::Float32, false),
        Field::new("decode_ms", DataType::Float32, false),
        Field::new("infer_ms", DataType::Float32, false),
    ]))
}
