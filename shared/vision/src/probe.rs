//! An image's header, read without decoding any pixel, and the peak memory
//! [`crate::decode_image`] needs for it (the pipeline's memory budget is charged with it
//! before the decode starts).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageFormat, ImageReader, Limits};

/// Bytes of decoder state counted for every image besides its per-pixel buffers
/// (Huffman and quantisation tables, libjpeg's pools, inflate windows, row buffers).
pub const DECODER_STATE_BYTES: u64 = 256 << 10;

/// What an image's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// Width in pixels, before EXIF orientation.
    pub width: u32,
    /// Height in pixels, before EXIF orientation.
    pub height: u32,
    /// Bytes per pixel of the decoder's native output (1 for grey, 3 for RGB8, 8 for
    /// RGBA16, …).
    pub bytes_per_pixel: u8,
    /// Whether the EXIF orientation asks for a rotation or flip (a second copy).
    pub rotated: bool,
    /// The format, as far as the decoders' own buffers depend on it.
    pub codec: Codec,
}

/// The formats whose decoders hold buffers of their own in proportion to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// JPEG, from its start-of-frame segment.
    Jpeg {
        /// Progressive (or otherwise multi-scan): libjpeg keeps every DCT coefficient.
        progressive: bool,
        /// Colour components (1 grey, 3 YCbCr, 4 CMYK/YCCK).
        components: u8,
    },
    /// PNG.
    Png,
    /// GIF (the first frame).
    Gif,
    /// WebP.
    WebP,
    /// Anything else the decoders accept.
    Other,
}

/// Reads the header of `bytes`: `None` when there is none that the decoders can read (the
/// decode then reports why: empty, not an image, corrupt, unsupported). Allocates nothing
/// in proportion to the image's size.
pub fn probe_header(bytes: &[u8]) -> Option<ImageHeader> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let format = reader.format()?;
    // No pixel is decoded, so the size limits of the decode do not apply here.
    reader.limits(Limits::no_limits());
    let mut decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let codec = match format {
        ImageFormat::Jpeg => jpeg_frame(bytes)?,
        ImageFormat::Png => Codec::Png,
        ImageFormat::Gif => Codec::Gif,
        ImageFormat::WebP => Codec::WebP,
        _ => Codec::Other,
    };
    Some(ImageHeader {
        width,
        height,
        bytes_per_pixel: decoder.color_type().bytes_per_pixel(),
        rotated: orientation != Orientation::NoTransforms,
        codec,
    })
}

/// The JPEG's start-of-frame: progressive or not, and its components; `None` when the
/// marker segments before the first scan hold none.
fn jpeg_frame(bytes: &[u8]) -> Option<Codec> {
    let mut i = 2;
    loop {
        let (marker, after) = crate::decode::next_marker(bytes, i)?;
        i = after;
        match marker {
            0xD0..=0xD8 | 0x01 => continue,
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let length = u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as usize;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            return Some(Codec::Jpeg {
                progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
                components: *bytes.get(i + 7)?,
            });
        }
        i += length;
    }
}

impl ImageHeader {
    /// Width × height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Bytes of the decoded upright RGB8 image (3 per pixel).
    pub fn rgb_bytes(&self) -> u64 {
        self.pixels() * 3
    }

    /// An upper bound on the bytes [`crate::decode_image`] holds at once for this image
    /// (a JPEG is assumed decoded at full size): [`ImageHeader::decode_bytes_per_pixel`]
    /// per pixel plus [`DECODER_STATE_BYTES`].
    pub fn decode_peak_bytes(&self) -> u64 {
        self.pixels() * self.decode_bytes_per_pixel() + DECODER_STATE_BYTES
    }

    /// Bytes per pixel held at the decode's peak, `max(rotation, conversion) + working`:
    ///
    /// * the output in its native layout, `n` bytes per pixel (3 for a JPEG: libjpeg
    ///   writes RGB8), and, when the EXIF orientation rotates or flips it, a second copy;
    /// * or, when the output is not RGB8, the output and its RGB8 conversion (`n + 3`);
    /// * plus the decoder's own buffers (`working`): a progressive JPEG's coefficients (2
    ///   bytes per sample, at most 2 per component and pixel), a CMYK JPEG's CMYK output
    ///   (4, converted by the `image` crate), WebP's ARGB (lossless: 4) or YUV and alpha
    ///   planes (lossy: 2.5), counted 5, a GIF frame in its native layout (`n`), 3 for
    ///   other formats and 1 for PNG (its rows) and baseline JPEG (libjpeg's strips).
    ///
    /// Measured (`tests/decode_peak.rs`, bytes per pixel, measured / estimated): RGB8 PNG
    /// 3.3 / 4.2; with EXIF rotation 6 / 7.2; lossless WebP 7 / 8.2; progressive JPEG
    /// (resident memory) 6 / 9.
    pub fn decode_bytes_per_pixel(&self) -> u64 {
        let native = u64::from(self.bytes_per_pixel);
        let (n, working) = match self.codec {
            Codec::Jpeg {
                progressive,
                components,
            } => {
                let c = u64::from(components);
                let coefficients = if progressive { 2 * c } else { 0 };
                let cmyk = if c == 4 { 4 } else { 0 };
                (3, (coefficients + cmyk).max(1))
            }
            Codec::Png => (native, 1),
            Codec::Gif => (native, native.max(1)),
            Codec::WebP => (native, 5),
            Codec::Other => (native, 3),
        };
        let rotation = if self.rotated { 2 * n } else { n };
        let conversion = if n == 3 { n } else { n + 3 };
        rotation.max(conversion) + working
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: image::DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn headers_are_read_without_decoding() {
        let rgb = png(image::DynamicImage::new_rgb8(40, 30));
        let h = probe_header(&rgb).unwrap();
        assert_eq!((h.width, h.height, h.bytes_per_pixel), (40, 30, 3));
        assert_eq!((h.codec, h.rotated), (Codec::Png, false));
        assert_eq!(h.decode_bytes_per_pixel(), 4);
        assert_eq!(h.decode_peak_bytes(), 40 * 30 * 4 + DECODER_STATE_BYTES);
        let wide = png(image::DynamicImage::new_rgba16(4, 5));
        let h = probe_header(&wide).unwrap();
        assert_eq!(h.bytes_per_pixel, 8);
        assert_eq!(h.decode_bytes_per_pixel(), 8 + 3 + 1);
        // A file cut in its pixel data keeps its header; garbage and empty objects have
        // none (nor does a PNG cut before its first data chunk: the decode reports it).
        assert_eq!(
            probe_header(&rgb[..rgb.len() - 20]).map(|h| h.width),
            Some(40)
        );
        assert_eq!(probe_header(&rgb[..40]), None);
        assert_eq!(probe_header(b"not an image at all"), None);
        assert_eq!(probe_header(&[]), None);
    }

    #[test]
    fn jpeg_frames_tell_progressive_scans_and_components() {
        // SOI, APP0 (length 4), SOF2 (length 11: precision, height, width, 3 components).
        let progressive = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC2, 0, 11, 8, 0, 16, 0, 16, 3,
        ];
        assert_eq!(
            jpeg_frame(&progressive),
            Some(Codec::Jpeg {
                progressive: true,
                components: 3
            })
        );
        let mut baseline = progressive;
        baseline[9] = 0xC0;
        baseline[17] = 1;
        assert_eq!(
            jpeg_frame(&baseline),
            Some(Codec::Jpeg {
                progressive: false,
                components: 1
            })
        );
        assert_eq!(jpeg_frame(&progressive[..14]), None);
    }
}
