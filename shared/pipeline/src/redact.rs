//! The redaction stage: a copy of the image with every face pixelated, written to
//! `redacted/<key>` in the results bucket. The original is never touched.

use bytes::Bytes;
use sightline_core::{Detection, WorkItem};
use sightline_vision::{encode_image, redact, EncodeFormat, RedactStyle, RgbImage};

use crate::{Pipeline, PipelineError};

/// Each face box grows by this fraction of its size on every side before redaction
/// (BlazeFace boxes are tight around eyes–mouth; hair, ears and chin lie outside).
pub const REDACT_MARGIN: f32 = 0.25;

/// Where the redacted copy of `key` is written.
pub fn redacted_key(key: &str) -> String {
    format!("redacted/{key}")
}

/// The copy keeps the original's format family: JPEG stays JPEG (quality 90), anything
/// else becomes PNG. Returns the format and its content type.
pub fn redaction_format(key: &str) -> (EncodeFormat, &'static str) {
    let lower = key.to_ascii_lowercase();
    if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        (EncodeFormat::Jpeg { quality: 90 }, "image/jpeg")
    } else {
        (EncodeFormat::Png, "image/png")
    }
}

/// Pixelates `faces` in `image` and encodes it (CPU work: run it on a blocking thread).
pub fn redacted_copy(
    mut image: RgbImage,
    faces: &[Detection],
    format: EncodeFormat,
) -> Result<Vec<u8>, PipelineError> {
    let boxes: Vec<[f32; 4]> = faces
        .iter()
        .map(|f| [f.x_min, f.y_min, f.x_max, f.y_max])
        .collect();
    redact(&mut image, &boxes, RedactStyle::default(), REDACT_MARGIN);
    encode_image(&image, format).map_err(|e| PipelineError::RedactionEncoding(e.to_string()))
}

impl Pipeline {
    /// Writes the redacted copy of `item`'s image; returns its key.
    pub(crate) async fn write_redacted(
        &self,
        item: &WorkItem,
        image: RgbImage,
        faces: &[Detection],
    ) -> Result<String, PipelineError> {
        let key = redacted_key(&item.object.key);
        let (format, content_type) = redaction_format(&item.object.key);
        let faces = faces.to_vec();
        let bytes = tokio::task::spawn_blocking(move || redacted_copy(image, &faces, format))
            .await
            .map_err(|e| PipelineError::TaskFailed {
                task: "redaction",
                message: e.to_string(),
            })??;
        let bucket = self.settings.results_bucket_for(&item.object.bucket);
        self.sink
            .put(bucket, &key, Bytes::from(bytes), content_type)
            .await?;
        Ok(key)
    }
}
