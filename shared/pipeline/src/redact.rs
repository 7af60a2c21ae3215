//! The redaction stage: a copy of the image with every face hidden (found at any quarter
//! turn, [`crate::turns`], and re-checked, [`crate::recheck`]), and the detector boxes the
//! catalog redacts (`redact_classes`, people without a face), written to
//! [`redacted_key`] in the results bucket. The original is never touched. The copy is
//! bounded by a multiple of the original's size ([`CopyLimit`]); a copy over it is not
//! written, and the row says so in `redaction_skipped`.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use sightline_core::{Detection, RedactLook, RedactionSkip, WorkItem};
use sightline_vision::{
    encode_image_within, redact, EncodeError, EncodeFormat, RedactStyle, RgbImage,
};

use crate::{Pipeline, PipelineError};

/// Each face box grows by this fraction of its size on every side before redaction
/// (BlazeFace boxes are tight around eyes–mouth; hair, ears and chin lie outside).
pub const REDACT_MARGIN: f32 = 0.25;

/// The longest object key S3 accepts, in bytes (UTF-8).
pub const MAX_KEY_BYTES: usize = 1024;

/// Prefix of every redacted copy.
const PREFIX: &str = "redacted/";

/// Where the redacted copy of `key` is written: `redacted/<key>` when that fits in
/// [`MAX_KEY_BYTES`]; else (keys of 1,016 bytes and more)
/// `redacted/sha256/<sha256 of key, hex>` plus the key's extension (`.jpg`, … : 1–8
/// ASCII letters or digits after the last `.` of its last segment; none otherwise), so
/// every key has a valid copy key of the same format.
pub fn redacted_key(key: &str) -> String {
    let plain = format!("{PREFIX}{key}");
    if plain.len() <= MAX_KEY_BYTES {
        return plain;
    }
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{PREFIX}sha256/{digest}{}", extension(key))
}

/// `.ext` of the key's last segment when short and alphanumeric, else "".
fn extension(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    match name.rsplit_once('.') {
        Some((_, ext))
            if (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!(".{ext}")
        }
        _ => String::new(),
    }
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

/// The bound on a redacted copy's size: `factor` × the original object's bytes, and never
/// less than `floor_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyLimit {
    /// Multiple of the original's size.
    pub factor: u64,
    /// Smallest bound in bytes (small originals may grow more).
    pub floor_bytes: u64,
}

impl Default for CopyLimit {
    /// 16 × the original, at least 8 MiB: room for a PNG copy of a lossy source (WebP,
    /// GIF), which can be several times its original; a 194 KB 1 × 100,000,000 PNG once
    /// gave a 125 MB copy.
    fn default() -> Self {
        CopyLimit {
            factor: 16,
            floor_bytes: 8 << 20,
        }
    }
}

impl CopyLimit {
    /// The bound in bytes for an original of `original_bytes`.
    pub fn bytes(self, original_bytes: u64) -> usize {
        let bound = original_bytes
            .saturating_mul(self.factor)
            .max(self.floor_bytes);
        usize::try_from(bound).unwrap_or(usize::MAX)
    }
}

/// What the redaction stage did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redacted {
    /// The copy was written under this key.
    Written(String),
    /// No copy was written, for this reason.
    Skipped(RedactionSkip),
}

/// Hides `faces` (each grown by [`REDACT_MARGIN`]) and `regions` (detector boxes, as they
/// are) in `image`, the way `look` says. CPU work: run it on a blocking thread.
pub fn hide(image: &mut RgbImage, faces: &[Detection], regions: &[Detection], look: RedactLook) {
    let style = match look {
        RedactLook::Fill => RedactStyle::Fill,
        RedactLook::Pixelate => RedactStyle::Pixelate { block: 8 },
        RedactLook::Blur => RedactStyle::Blur { radius: 8 },
    };
    let boxes = |d: &[Detection]| -> Vec<[f32; 4]> {
        d.iter()
            .map(|f| [f.x_min, f.y_min, f.x_max, f.y_max])
            .collect()
    };
    redact(image, &boxes(faces), style, REDACT_MARGIN);
    redact(image, &boxes(regions), style, 0.0);
}

/// Encodes the redacted `image` in at most `limit` bytes (`None` when the encoding is
/// longer). CPU work: run it on a blocking thread.
pub fn encode_copy(
    image: &RgbImage,
    format: EncodeFormat,
    limit: usize,
) -> Result<Option<Vec<u8>>, PipelineError> {
    match encode_image_within(image, format, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(EncodeError::TooLarge { .. }) => Ok(None),
        Err(EncodeError::Image(e)) => Err(PipelineError::RedactionEncoding(e.to_string())),
    }
}

impl Pipeline {
    /// Writes the redacted copy of `item`'s image (`image`, already redacted; the
    /// original object has `original_bytes`), unless it is over the pipeline's
    /// [`CopyLimit`].
    pub(crate) async fn write_redacted(
        &self,
        item: &WorkItem,
        image: RgbImage,
        original_bytes: u64,
    ) -> Result<Redacted, PipelineError> {
        let key = redacted_key(&item.object.key);
        let (format, content_type) = redaction_format(&item.object.key);
        let limit = self.copy_limit.bytes(original_bytes);
        let copy = tokio::task::spawn_blocking(move || encode_copy(&image, format, limit))
            .await
            .map_err(|e| PipelineError::TaskFailed {
                task: "redaction",
                message: e.to_string(),
            })??;
        let Some(bytes) = copy else {
            tracing::warn!(
                key = %item.object.key,
                limit,
                "redacted copy over its size bound: not written"
            );
            return Ok(Redacted::Skipped(RedactionSkip::TooLarge));
        };
        let bucket = self.settings.results_bucket_for(&item.object.bucket);
        self.sink
            .put(bucket, &key, Bytes::from(bytes), content_type)
            .await?;
        Ok(Redacted::Written(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_keys_are_valid_s3_keys_for_every_key() {
        assert_eq!(
            redacted_key("incoming/a/b.jpg"),
            "redacted/incoming/a/b.jpg"
        );
        // 1,015 bytes of key: 1,024 with the prefix, still plain.
        let fits = format!("incoming/x/{}.jpg", "a".repeat(1015 - 15));
        assert_eq!(fits.len(), 1015);
        assert_eq!(redacted_key(&fits), format!("redacted/{fits}"));
        for key in [
            format!("incoming/x/{}.jpg", "a".repeat(1016 - 15)),
            format!("incoming/x/{}.JPEG", "é".repeat(500)),
            format!("incoming/x/{}", "b".repeat(1020)),
            format!("incoming/x/{}.tar.gz?", "c".repeat(1010)),
            format!("incoming/{}/photo", "d.e".repeat(340)),
        ] {
            let r = redacted_key(&key);
            assert!(r.len() <= MAX_KEY_BYTES, "{} bytes", r.len());
            assert!(r.starts_with("redacted/sha256/"), "{r}");
            let digest = &r[16..16 + 64];
            assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{r}");
            assert_eq!(r, redacted_key(&key), "deterministic");
            assert_ne!(r, redacted_key(&format!("{key}x")), "distinct keys differ");
            // Same format family as the original.
            assert_eq!(redaction_format(&r), redaction_format(&key), "{r}");
        }
        let long = format!("incoming/x/{}.jpg", "a".repeat(1100));
        assert!(redacted_key(&long).ends_with(".jpg"));
        let no_ext = format!("incoming/{}/photo", "d.e".repeat(340));
        assert_eq!(redacted_key(&no_ext).len(), "redacted/sha256/".len() + 64);
    }

    #[test]
    fn the_copy_limit_is_a_multiple_of_the_original_with_a_floor() {
        let l = CopyLimit::default();
        assert_eq!(l.bytes(0), 8 << 20);
        assert_eq!(l.bytes(194_000), 8 << 20);
        assert_eq!(l.bytes(1 << 20), 16 << 20);
        assert_eq!(l.bytes(u64::MAX), usize::MAX);
    }
}
