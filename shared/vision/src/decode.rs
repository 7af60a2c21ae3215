//! Decoding: bytes → upright RGB8, with the decompression-bomb guard applied to the
//! header before any pixel is decoded.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

use crate::VisionError;

/// Limits applied before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest width × height accepted, from the header.
    pub max_pixels: u64,
}

/// An upright RGB8 image (EXIF orientation applied), row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

/// Decodes JPEG, PNG, GIF (first frame) or WebP; converts grey, CMYK, 16-bit and alpha
/// images to RGB8 (alpha is dropped, as `PIL.Image.convert("RGB")` does) and applies
/// the EXIF orientation.
pub fn decode_image(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::Corrupt(e.to_string()))?;
    if reader.format().is_none() {
        return Err(VisionError::NotAnImage);
    }
    let mut l = Limits::default();
    // RGBA16 of the largest allowed image plus decoder working memory.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(VisionError::TooLarge {
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(VisionError::Corrupt(format!("image has no pixels ({width}x{height})")));
    }
    let orientation = decoder.orientation().map_err(classify)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    let (width, height) = rgb.dimensions();
    Ok(RgbImage {
        width,
        height,
        pixels: rgb.into_raw(),
    })
}

fn classify(e: ImageError) -> VisionError {
    match e {
        ImageError::Unsupported(u) => VisionError::Unsupported(u.to_string()),
        ImageError::Limits(l) => VisionError::Unsupported(format!("over decoder limits: {l}")),
        other => VisionError::Corrupt(other.to_string()),
    }
}
