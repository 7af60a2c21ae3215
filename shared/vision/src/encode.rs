//! Encoding decoded images back to PNG or JPEG (annotated images, redacted copies).

use image::{ExtendedColorType, ImageEncoder, ImageError};

use crate::redact::expected_len;
use crate::RgbImage;

/// Output encodings of [`encode_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeFormat {
    /// Lossless PNG.
    Png,
    /// Baseline JPEG.
    Jpeg {
        /// 1 (smallest) to 100 (best); values outside are clamped.
        quality: u8,
    },
}

/// Encodes an image (for writing annotated or redacted images). An image whose `pixels`
/// does not hold exactly `width * height * 3` bytes is an error.
pub fn encode_image(img: &RgbImage, format: EncodeFormat) -> Result<Vec<u8>, ImageError> {
    if expected_len(img) != Some(img.pixels.len()) || img.width == 0 || img.height == 0 {
        return Err(ImageError::Parameter(
            image::error::ParameterError::from_kind(
                image::error::ParameterErrorKind::DimensionMismatch,
            ),
        ));
    }
    let mut out = Vec::new();
    let (w, h, rgb) = (img.width, img.height, ExtendedColorType::Rgb8);
    match format {
        EncodeFormat::Png => {
            image::codecs::png::PngEncoder::new(&mut out).write_image(&img.pixels, w, h, rgb)?
        }
        EncodeFormat::Jpeg { quality } => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
                .write_image(&img.pixels, w, h, rgb)?
        }
    }
    Ok(out)
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
