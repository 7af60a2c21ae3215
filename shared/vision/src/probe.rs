//! An image's header, read without decoding any pixel, and the peak memory
//! [`crate::decode_image`] needs for it (the pipeline's memory budget is charged with it
//! before the decode starts).

use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader, Limits};

/// What an image's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// Width in pixels, before EXIF orientation.
    pub width: u32,
    /// Height in pixels, before EXIF orientation.
    pub height: u32,
    /// Bytes per pixel of the decoder's native output (1 for grey, 3 for RGB8, 8 for
    /// RGBA16, …; for a JPEG, its number of components).
    pub bytes_per_pixel: u8,
    /// Whether the image is a JPEG (decoded by libjpeg, see [`crate::decode`]).
    pub jpeg: bool,
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
    let decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    Some(ImageHeader {
        width,
        height,
        bytes_per_pixel: decoder.color_type().bytes_per_pixel(),
        jpeg: format == ImageFormat::Jpeg,
    })
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
    /// (every JPEG is assumed decoded at full size), about 3 × [`ImageHeader::rgb_bytes`]
    /// for 8-bit colour images:
    ///
    /// * JPEG (libjpeg): `pixels × max(3 + 2c, 6)` with `c` components. The RGB8 output
    ///   coexists with the coefficient buffer of a progressive JPEG (2 bytes per sample),
    ///   then with its EXIF-rotated copy. Colour: 9 bytes per pixel.
    /// * Other formats: `pixels × (max(2n, n + 3) + 3)` with `n` the native bytes per
    ///   pixel. The native output coexists with its rotated copy or its RGB8 conversion;
    ///   the last 3 bytes per pixel cover the decoder's own buffers (WebP's YUV planes,
    ///   PNG's rows). RGB8: 9 bytes per pixel; RGBA16: 19.
    pub fn decode_peak_bytes(&self) -> u64 {
        let n = u64::from(self.bytes_per_pixel);
        let per_pixel = if self.jpeg {
            (3 + 2 * n).max(6)
        } else {
            (2 * n).max(n + 3) + 3
        };
        self.pixels() * per_pixel
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
        assert_eq!(
            (h.width, h.height, h.bytes_per_pixel, h.jpeg),
            (40, 30, 3, false)
        );
        assert_eq!(h.decode_peak_bytes(), 40 * 30 * 9);
        let wide = png(image::DynamicImage::new_rgba16(4, 5));
        let h = probe_header(&wide).unwrap();
        assert_eq!(h.bytes_per_pixel, 8);
        assert_eq!(h.decode_peak_bytes(), 20 * 19);
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
}
