//! Decoding: bytes → upright RGB8, with the decompression-bomb guard applied to the
//! header before any pixel is decoded.
//!
//! JPEG (YCbCr and greyscale) goes through libjpeg-turbo's decoder (ISLOW IDCT, fancy
//! upsampling: what Pillow uses), so tensors match the Python references bit for bit;
//! zune-jpeg (inside `image`) differed by up to 3 levels, enough to flip near-tied
//! predictions. CMYK/YCCK JPEGs, which libjpeg cannot convert to RGB, and every other
//! format go through the `image` crate.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

use sightline_core::ImageStats;

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

impl RgbImage {
    /// A `width` × `height` image of one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage {
            width,
            height,
            pixels: rgb.repeat(width as usize * height as usize),
        }
    }

    /// The pixel at (`x`, `y`).
    ///
    /// # Panics
    /// When (`x`, `y`) lies outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside the image"
        );
        let o = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[o], self.pixels[o + 1], self.pixels[o + 2]]
    }

    /// Aspect ratio, mean luma and luma standard deviation (ITU-R BT.601 weights, 0..255),
    /// from a regular grid of at most ~65 536 pixels (every pixel of images up to that
    /// size): cheap enough to compute for every image, precise to well under one grey
    /// level, and deterministic.
    pub fn stats(&self) -> ImageStats {
        let (w, h) = (self.width as usize, self.height as usize);
        let step = (((w * h) as f64 / 65_536.0).sqrt().ceil() as usize).max(1);
        let (mut n, mut sum, mut sq) = (0u64, 0f64, 0f64);
        for y in (0..h).step_by(step) {
            let row = &self.pixels[y * w * 3..(y + 1) * w * 3];
            for px in row.chunks_exact(3).step_by(step) {
                let l = 0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64;
                n += 1;
                sum += l;
                sq += l * l;
            }
        }
        let n = n.max(1) as f64;
        let mean = sum / n;
        ImageStats {
            aspect: self.width as f32 / self.height.max(1) as f32,
            brightness: mean as f32,
            contrast: (sq / n - mean * mean).max(0.0).sqrt() as f32,
        }
    }
}

/// The smallest decoded size that still serves every model of a catalog. A JPEG may be
/// decoded at a DCT scale (1/2, 1/4 or 1/8, done inside libjpeg-turbo's IDCT: far less
/// work than decoding every pixel and resizing) as long as the decoded image keeps its
/// shorter side ≥ `short` and its longer side ≥ `long`. Orientation does not matter: both
/// sides shrink by the same factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinDecodeSize {
    /// Smallest shorter side.
    pub short: u32,
    /// Smallest longer side.
    pub long: u32,
}

impl MinDecodeSize {
    /// The largest shrink libjpeg-turbo can do for a `width` × `height` JPEG within this
    /// bound, as the numerator of `n/8` (1, 2, 4 or 8 = full size). Only the power-of-two
    /// scales: they have SIMD IDCTs; the other `n/8` steps do not.
    pub fn jpeg_scale(&self, width: u32, height: u32) -> u8 {
        for num in [1u8, 2, 4] {
            let (w, h) = (scaled_side(width, num), scaled_side(height, num));
            if w.min(h) >= self.short && w.max(h) >= self.long {
                return num;
            }
        }
        8
    }
}

/// A side of a JPEG decoded at `num/8`, rounded up as libjpeg does.
fn scaled_side(side: u32, num: u8) -> u32 {
    (u64::from(side) * u64::from(num)).div_ceil(8) as u32
}

/// An image decoded for models, possibly smaller than the original.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The upright decoded pixels.
    pub image: RgbImage,
    /// The original's upright width and height (what results report).
    pub original: (u32, u32),
}

impl Decoded {
    /// Original pixels per decoded pixel (1 when decoded at full size).
    pub fn ratio(&self) -> f32 {
        self.original.0 as f32 / self.image.width.max(1) as f32
    }
}

/// Decodes JPEG, PNG, GIF (first frame) or WebP; converts grey, CMYK, 16-bit and alpha
/// images to RGB8 (alpha is dropped, as `PIL.Image.convert("RGB")` does) and applies
/// the EXIF orientation.
pub fn decode_image(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, VisionError> {
    decode_at_least(bytes, limits, None).map(|d| d.image)
}

/// [`decode_image`], except that a YCbCr or greyscale JPEG is decoded at the smallest DCT
/// scale that keeps `min` ([`MinDecodeSize::jpeg_scale`]); `None`, other formats and
/// CMYK JPEGs decode at full size.
pub fn decode_at_least(
    bytes: &[u8],
    limits: DecodeLimits,
    min: Option<MinDecodeSize>,
) -> Result<Decoded, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::Corrupt(e.to_string()))?;
    let is_jpeg = match reader.format() {
        None => return Err(VisionError::NotAnImage),
        Some(image::ImageFormat::Jpeg) => {
            check_jpeg_complete(bytes)?;
            true
        }
        Some(_) => false,
    };
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
        return Err(VisionError::Corrupt(format!(
            "image has no pixels ({width}x{height})"
        )));
    }
    let orientation = decoder.orientation().map_err(classify)?;
    let scale = min.map_or(8, |m| m.jpeg_scale(width, height));
    let libjpeg = match is_jpeg {
        true => decode_libjpeg(bytes, scale)?,
        false => None,
    };
    let mut img = match libjpeg {
        Some(rgb) => {
            drop(decoder);
            DynamicImage::ImageRgb8(rgb)
        }
        None => DynamicImage::from_decoder(decoder).map_err(classify)?,
    };
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
    let turned = matches!(
        orientation,
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH
    );
    let (w, h) = rgb.dimensions();
    Ok(Decoded {
        image: RgbImage {
            width: w,
            height: h,
            pixels: rgb.into_raw(),
        },
        original: if turned {
            (height, width)
        } else {
            (width, height)
        },
    })
}

/// Decodes a YCbCr or greyscale JPEG to RGB8 with libjpeg-turbo at `scale`/8 of its size;
/// `None` for CMYK/YCCK. libjpeg reports errors by unwinding (the `mozjpeg` crate's
/// contract), caught here.
fn decode_libjpeg(bytes: &[u8], scale: u8) -> Result<Option<image::RgbImage>, VisionError> {
    use mozjpeg_sys::J_COLOR_SPACE::{JCS_CMYK, JCS_YCCK};
    let run = || -> std::io::Result<Option<image::RgbImage>> {
        let mut d = mozjpeg::Decompress::new_mem(bytes)?;
        if matches!(d.color_space(), JCS_CMYK | JCS_YCCK) {
            return Ok(None);
        }
        d.dct_method(mozjpeg::DctMethod::IntegerSlow);
        d.do_fancy_upsampling(true);
        d.scale(scale);
        let mut started = d.rgb()?;
        let (w, h) = (started.width() as u32, started.height() as u32);
        let pixels = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok(image::RgbImage::from_raw(w, h, pixels))
    };
    // libjpeg's fatal errors reach us as panics (the mozjpeg crate unwinds out of its
    // error handler); the crate refuses to build with panic = "abort" (lib.rs).
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(Some(img))) => Ok(Some(img)),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => Err(VisionError::Corrupt(e.to_string())),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg error".into());
            Err(VisionError::Corrupt(msg))
        }
    }
}

/// JPEG decoders fill a truncated scan with grey and report success; a truncated upload
/// must be an error row, not a confident label. The stream is complete when walking it as
/// a decoder does ([`jpeg_stream_end`]) reaches its end-of-image marker; bytes after that
/// marker (a phone's motion-photo video, other trailers) are not part of the image.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), VisionError> {
    match jpeg_stream_end(bytes) {
        Some(_) => Ok(()),
        None => Err(VisionError::Corrupt(
            "truncated JPEG: the stream ends before its end-of-image marker".into(),
        )),
    }
}

/// The next JPEG marker at or after `from` and the position just after it; extraneous
/// bytes and fill `FF`s before a marker are skipped, as libjpeg does (with a warning).
pub(crate) fn next_marker(bytes: &[u8], from: usize) -> Option<(u8, usize)> {
    let mut i = from + bytes.get(from..)?.iter().position(|&b| b == 0xFF)?;
    while *bytes.get(i)? == 0xFF {
        i += 1;
    }
    Some((bytes[i], i + 1))
}

/// The offset just after a JPEG's end-of-image marker, found by walking its marker
/// segments (skipped by their length, so an EXIF thumbnail's markers do not count) and its
/// entropy-coded scans (stuffed `FF 00`, restart markers and fill bytes skipped) from the
/// start-of-image marker; `None` when the bytes end first.
pub fn jpeg_stream_end(bytes: &[u8]) -> Option<usize> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    loop {
        let (marker, after) = next_marker(bytes, i)?;
        i = after;
        match marker {
            0xD9 => return Some(i),
            0xD0..=0xD7 | 0x01 => {}
            _ => {
                let length = u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as usize;
                if length < 2 {
                    return None;
                }
                i += length;
                if marker == 0xDA {
                    i = entropy_data_end(bytes, i)?;
                }
            }
        }
    }
}

/// Where a scan's entropy-coded data starting at `i` ends: at the next marker that is not
/// a stuffed `FF 00`, a restart marker or a fill byte.
fn entropy_data_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += bytes.get(i..)?.iter().position(|&b| b == 0xFF)?;
        match *bytes.get(i + 1)? {
            0x00 | 0xD0..=0xD7 => i += 2,
            0xFF => i += 1,
            _ => return Some(i),
        }
    }
}

fn classify(e: ImageError) -> VisionError {
    match e {
        ImageError::Unsupported(u) => VisionError::Unsupported(u.to_string()),
        ImageError::Limits(l) => VisionError::Unsupported(format!("over decoder limits: {l}")),
        other => VisionError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stats_of_flat_and_split_images() {
        let grey = super::RgbImage {
            width: 4,
            height: 2,
            pixels: vec![100; 24],
        };
        let s = grey.stats();
        assert_eq!(s.aspect, 2.0);
        assert!(
            (s.brightness - 100.0).abs() < 1e-3 && s.contrast < 1e-3,
            "{s:?}"
        );
        // Half black, half white: mean 127.5, standard deviation 127.5.
        let mut pixels = vec![0u8; 12];
        pixels.extend([255u8; 12]);
        let split = super::RgbImage {
            width: 4,
            height: 2,
            pixels,
        };
        let s = split.stats();
        assert!((s.brightness - 127.5).abs() < 1e-3, "{s:?}");
        assert!((s.contrast - 127.5).abs() < 1e-3, "{s:?}");
    }

    use super::*;

    #[test]
    fn jpeg_completeness() {
        // SOI, SOS (length 2), scan data with a stuffed FF 00 and a restart marker, EOI.
        let ok = [
            0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD0, 4, 0xFF, 0xD9,
        ];
        assert_eq!(jpeg_stream_end(&ok), Some(ok.len()));
        assert!(check_jpeg_complete(&ok[..12]).is_err());
        // A thumbnail's markers inside an APP1 segment do not end the image.
        let thumb = [
            0xFF, 0xD8, 0xFF, 0xE1, 0, 8, 0xFF, 0xD8, 0xFF, 0xD9, 0, 0, 0xFF, 0xDA, 0, 2, 1, 2,
        ];
        assert!(check_jpeg_complete(&thumb).is_err());
        // A trailer after EOI, even one full of markers, is not part of the image.
        let mut trailer = ok.to_vec();
        trailer.extend([0xFF, 0xDA, 9, 9, 0xFF, 0xD8, 7]);
        assert_eq!(jpeg_stream_end(&trailer), Some(ok.len()));
    }

    #[test]
    fn the_dct_scale_keeps_every_model_enough_pixels() {
        let classifier = MinDecodeSize {
            short: 512,
            long: 0,
        };
        // 4032x3024 phone photo: 1/4 gives 1008x756 (1/8 would be 504x378).
        assert_eq!(classifier.jpeg_scale(4032, 3024), 2);
        assert_eq!(classifier.jpeg_scale(3024, 4032), 2);
        // A detector that needs a long side of 1024 as well: 1/2.
        let both = MinDecodeSize {
            short: 512,
            long: 1024,
        };
        assert_eq!(both.jpeg_scale(4032, 3024), 4);
        // Small images decode at full size; big ones down to 1/8.
        assert_eq!(classifier.jpeg_scale(640, 480), 8);
        assert_eq!(classifier.jpeg_scale(8000, 6000), 1);
        // libjpeg rounds scaled sides up: 4100/8 = 512.5 → 513.
        assert_eq!(classifier.jpeg_scale(4100, 4100), 1);
        assert_eq!(MinDecodeSize::default().jpeg_scale(1, 1), 1);
    }

    #[test]
    fn scaled_decoding_reports_the_original_size_and_looks_the_same() {
        let bytes = chelsea();
        let limits = DecodeLimits {
            max_pixels: 1 << 30,
        };
        let full = decode_image(&bytes, limits).unwrap();
        let min = MinDecodeSize {
            short: full.height.min(full.width) / 2 - 10,
            long: 0,
        };
        let half = decode_at_least(&bytes, limits, Some(min)).unwrap();
        assert_eq!(half.original, (full.width, full.height));
        assert_eq!(
            (half.image.width, half.image.height),
            (full.width.div_ceil(2), full.height.div_ceil(2))
        );
        assert!((half.ratio() - 2.0).abs() < 0.01, "{}", half.ratio());
        // The same picture: mean brightness within a grey level.
        let (a, b) = (full.stats(), half.image.stats());
        assert!((a.brightness - b.brightness).abs() < 1.0, "{a:?} {b:?}");
        // No bound, or a PNG: full size.
        let same = decode_at_least(&bytes, limits, None).unwrap();
        assert_eq!(same.image, full);
        assert_eq!(same.ratio(), 1.0);
    }

    fn chelsea() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/chelsea.jpg"
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn photos_with_trailers_decode_like_the_photo_and_cut_ones_are_refused() {
        let limits = DecodeLimits {
            max_pixels: 100_000_000,
        };
        let photo = chelsea();
        let plain = decode_image(&photo, limits).unwrap();
        // Motion photos and other trailers: random bytes after EOI, 100 seeds.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for seed in 0..100 {
            let mut with_trailer = photo.clone();
            for _ in 0..(4096 + seed * 97) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                with_trailer.push((state >> 24) as u8);
            }
            match decode_image(&with_trailer, limits) {
                Ok(img) => assert!(img == plain, "seed {seed}: other pixels"),
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        for cut in [photo.len() / 3, photo.len() - 2] {
            let err = decode_image(&photo[..cut], limits).unwrap_err();
            assert!(matches!(err, VisionError::Corrupt(_)), "{err}");
        }
    }
}
