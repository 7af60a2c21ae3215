//! How much memory one image needs, estimated from its header before it is decoded
//! (what it reserves in the [`MemoryBudget`](crate::budget::MemoryBudget)).

use sightline_vision::{ImageHeader, Preprocess};

/// Bytes per pixel an image of a redacting catalog keeps after its decode, until its
/// redacted copy is written: the decoded RGB8 image (3), and the encoder's output
/// (up to 3 for a PNG of incompressible pixels; a JPEG at quality 90 is far smaller).
/// Pixelation works in place.
pub const KEPT_BYTES_PER_PIXEL: u64 = 6;

/// An image's estimated memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// The most at any time: while it is decoded and preprocessed, the fetched object
    /// plus the larger of the decode's peak ([`ImageHeader::decode_peak_bytes`]: 4
    /// bytes per pixel for an 8-bit RGB PNG or baseline JPEG) and the preprocessing's
    /// (the RGB8 image, the largest resampler scratch of its models and every model's
    /// input tensor); afterwards, [`Footprint::kept`].
    pub peak: u64,
    /// Afterwards, until its row is settled: the input tensors twice (a chunk's batched run
    /// copies its members' tensors into one input), and for redacting catalogs
    /// [`KEPT_BYTES_PER_PIXEL`] per pixel.
    pub kept: u64,
}

/// The footprint of the image with `header`, fetched as `object_bytes`, prepared for
/// `models` (one entry per input tensor: a redacting catalog's face model is listed once per
/// quarter turn); `redacts` when its catalog writes redacted copies.
pub fn footprint(
    header: &ImageHeader,
    object_bytes: u64,
    models: &[Preprocess],
    redacts: bool,
) -> Footprint {
    let tensors: u64 = models.iter().map(|p| 4 * p.tensor_len() as u64).sum();
    // EXIF orientation may swap the sides: count the longer one as the height.
    let rows = header.width.max(header.height);
    let scratch = models.iter().map(|p| p.scratch_bytes(rows)).max();
    let preprocessing = header.rgb_bytes() + scratch.unwrap_or(0) + tensors;
    let kept_image = if redacts {
        KEPT_BYTES_PER_PIXEL * header.pixels()
    } else {
        0
    };
    let kept = 2 * tensors + kept_image;
    Footprint {
        peak: (object_bytes + header.decode_peak_bytes().max(preprocessing)).max(kept),
        kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_vision::probe::{Codec, DECODER_STATE_BYTES};
    use sightline_vision::{Channels, Layout, Letterbox};

    #[test]
    fn the_peak_is_the_decode_or_the_kept_image_whichever_is_larger() {
        let header = ImageHeader {
            width: 6000,
            height: 4000,
            bytes_per_pixel: 3,
            rotated: true,
            codec: Codec::Png,
        };
        let letterbox = Preprocess::Letterbox(Letterbox {
            size: 640,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 0,
            layout: Layout::Nhwc,
            channels: Channels::Rgb,
        });
        let tensor = 640 * 640 * 3 * 4;
        let plain = footprint(&header, 1000, std::slice::from_ref(&letterbox), false);
        // Rotated RGB8: two copies and the PNG rows, 7 bytes per pixel.
        assert_eq!(plain.peak, 1000 + 24_000_000 * 7 + DECODER_STATE_BYTES);
        assert_eq!(plain.kept, 2 * tensor);
        // Upright, the kept image and its encoding outweigh the decode: they set the peak.
        let upright = ImageHeader {
            rotated: false,
            ..header
        };
        let redacting = footprint(&upright, 1000, &[letterbox], true);
        assert_eq!(redacting.kept, 2 * tensor + 24_000_000 * 6);
        assert_eq!(redacting.peak, redacting.kept);
    }
}
