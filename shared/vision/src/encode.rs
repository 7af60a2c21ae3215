//! Encoding decoded images back to PNG or JPEG (annotated images, redacted copies).

use std::io::Write;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, ImageError};

use crate::redact::expected_len;
use crate::RgbImage;

/// Output encodings of [`encode_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeFormat {
    /// Lossless PNG with adaptive filters, at the level [`png_compression`] picks.
    Png,
    /// Baseline JPEG.
    Jpeg {
        /// 1 (smallest) to 100 (best); values outside are clamped.
        quality: u8,
    },
}

/// Rows narrower than this are PNG-encoded at the fastest level.
pub const NARROW_PNG_ROW: u32 = 16;

/// The PNG level for rows of `width` pixels: zlib level 1, which on photos costs about
/// what the image crate's fastest level does and is 40 % smaller (`camera.jpg`,
/// 400 × 400: 144 KB against 241 KB; zlib's default level: 126 KB at 2-4 × the time),
/// except for rows narrower than [`NARROW_PNG_ROW`], where zlib's cost per row dominates
/// (1 × 1,000,000: 2.5 s against 0.2-0.3 s): those keep the fastest level, and the
/// caller's size bound ([`encode_image_within`]) catches their weaker compression.
pub fn png_compression(width: u32) -> CompressionType {
    if width < NARROW_PNG_ROW {
        CompressionType::Fast
    } else {
        CompressionType::Level(1)
    }
}

/// Why [`encode_image_within`] gave no bytes.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The encoding would be longer than the limit (encoding stopped there).
    #[error("encoded image is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The encoder failed.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Encodes an image (for writing annotated or redacted images). An image whose `pixels`
/// does not hold exactly `width * height * 3` bytes is an error.
pub fn encode_image(img: &RgbImage, format: EncodeFormat) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    encode_into(img, format, &mut out)?;
    Ok(out)
}

/// [`encode_image`], refusing to produce more than `limit` bytes: the encoder stops at
/// the first write past the limit, so an oversized encoding is never held whole.
pub fn encode_image_within(
    img: &RgbImage,
    format: EncodeFormat,
    limit: usize,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Capped {
        bytes: Vec::new(),
        limit,
        over: false,
    };
    let result = encode_into(img, format, &mut out);
    // Checked first: an encoder may swallow the refused write (the PNG encoder writes
    // its last chunk when dropped, ignoring errors).
    if out.over {
        return Err(EncodeError::TooLarge { limit });
    }
    result.map(|()| out.bytes).map_err(EncodeError::from)
}

/// Writes the encoding of `img` into `out`.
fn encode_into(img: &RgbImage, format: EncodeFormat, out: impl Write) -> Result<(), ImageError> {
    if expected_len(img) != Some(img.pixels.len()) || img.width == 0 || img.height == 0 {
        return Err(ImageError::Parameter(
            image::error::ParameterError::from_kind(
                image::error::ParameterErrorKind::DimensionMismatch,
            ),
        ));
    }
    let (w, h, rgb) = (img.width, img.height, ExtendedColorType::Rgb8);
    match format {
        EncodeFormat::Png => PngEncoder::new_with_quality(
            out,
            png_compression(w),
            FilterType::Adaptive,
        )
        .write_image(&img.pixels, w, h, rgb),
        EncodeFormat::Jpeg { quality } => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(out, quality.clamp(1, 100))
                .write_image(&img.pixels, w, h, rgb)
        }
    }
}

/// A byte buffer that refuses writes past `limit` (and remembers it did).
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            self.over = true;
            return Err(std::io::Error::other("encoding over the size limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_png_losslessly_and_jpeg() {
        let pixels = (0..33 * 17 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let img = RgbImage {
            width: 33,
            height: 17,
            pixels,
        };
        let png = encode_image(&img, EncodeFormat::Png).unwrap();
        let limits = crate::DecodeLimits {
            max_pixels: 1 << 20,
        };
        assert_eq!(crate::decode_image(&png, limits).unwrap(), img);
        let jpeg = encode_image(&img, EncodeFormat::Jpeg { quality: 90 }).unwrap();
        let back = crate::decode_image(&jpeg, limits).unwrap();
        assert_eq!((back.width, back.height), (33, 17));
    }

    #[test]
    fn the_size_limit_stops_the_encoder() {
        let pixels = (0..64 * 64 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let img = RgbImage {
            width: 64,
            height: 64,
            pixels,
        };
        for format in [EncodeFormat::Png, EncodeFormat::Jpeg { quality: 90 }] {
            let whole = encode_image(&img, format).unwrap();
            let fits = encode_image_within(&img, format, whole.len()).unwrap();
            assert_eq!(fits, whole, "{format:?}");
            let over = encode_image_within(&img, format, whole.len() - 1);
            assert!(
                matches!(over, Err(EncodeError::TooLarge { limit }) if limit == whole.len() - 1),
                "{format:?}: {over:?}"
            );
        }
        let bad = RgbImage {
            width: 3,
            height: 3,
            pixels: vec![0; 2],
        };
        let e = encode_image_within(&bad, EncodeFormat::Png, 1 << 20);
        assert!(matches!(e, Err(EncodeError::Image(_))), "{e:?}");
    }

    #[test]
    fn refuses_inconsistent_images() {
        for (width, height, len) in [(10, 10, 5), (10, 10, 301), (0, 0, 0)] {
            let img = RgbImage {
                width,
                height,
                pixels: vec![0; len],
            };
            assert!(encode_image(&img, EncodeFormat::Png).is_err(), "{len}");
        }
    }
}
