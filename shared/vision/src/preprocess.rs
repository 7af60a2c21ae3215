//! Classifier preprocessing, matching torchvision's reference exactly in geometry:
//! shorter side to `resize_shorter` (long side truncated), antialiased bilinear, centre
//! crop `crop` × `crop` at `round((h - crop) / 2)` (round half to even), then
//! `(pixel / 255 - mean) / std` per channel, CHW.
//!
//! The resampling is Pillow's, bit for bit ([`crate::resample`]), and only the crop
//! window of the resized image is computed.

use crate::resample::resize_window;
use crate::RgbImage;

/// A model's preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocess {
    /// Classifiers: resize + centre crop, NCHW.
    CenterCrop(ClassifierPreprocess),
    /// Detectors: letterbox, NHWC.
    Letterbox(Letterbox),
}

impl Preprocess {
    /// Floats written per image.
    pub fn tensor_len(&self) -> usize {
        match self {
            Preprocess::CenterCrop(p) => p.tensor_len(),
            Preprocess::Letterbox(p) => p.tensor_len(),
        }
    }

    /// An upper bound on the bytes [`Preprocess::run`] allocates for an image whose
    /// longer side is `rows` pixels, besides the output tensor, where `side` is the crop
    /// or canvas side: the resampler's intermediate rows (every input row the window
    /// reads, each resized to at most `side` pixels) and output window (`side` × `side`),
    /// 3 bytes per pixel; and its filter weights, bounds and accumulator (under 16 bytes
    /// per input row and 72 per output column).
    pub fn scratch_bytes(&self, rows: u32) -> u64 {
        let side = u64::from(match self {
            Preprocess::CenterCrop(p) => p.crop,
            Preprocess::Letterbox(p) => p.size,
        });
        let rows = u64::from(rows);
        3 * side * (rows + side) + 16 * rows + 72 * side
    }

    /// Writes the model input for `img` into `out`; letterboxing also returns where the
    /// image sits in the input (to map boxes back).
    pub fn run(&self, img: &RgbImage, out: &mut [f32]) -> Option<LetterboxGeometry> {
        match self {
            Preprocess::CenterCrop(p) => {
                p.run(img, out);
                None
            }
            Preprocess::Letterbox(p) => Some(p.run(img, out)),
        }
    }
}

/// Where a letterboxed image sits in the model input: `input = image * scale + (dx, dy)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxGeometry {
    /// Scale from image to input pixels.
    pub scale: f32,
    /// Left padding in input pixels.
    pub dx: f32,
    /// Top padding in input pixels.
    pub dy: f32,
}

impl LetterboxGeometry {
    /// Maps a point from input pixels back to image pixels.
    pub fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.dx) / self.scale, (y - self.dy) / self.scale)
    }
}

/// Aspect-preserving resize into a `size` × `size` canvas of the pixel value `pad`,
/// centred (the CenterNet reference, and Ultralytics' `LetterBox` with `center=True`:
/// `s = min(size/W, size/H)`, resized to `(round(W·s), round(H·s))` with Pillow's bilinear
/// filter, pasted at `((size − w′) / 2, (size − h′) / 2)` rounded down, which equals
/// Ultralytics' `round(d − 0.1)`), then `(p / 255 − mean) / std` per channel, padding
/// included, in `layout` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Letterbox {
    /// Canvas side.
    pub size: u32,
    /// Mean per channel on the 0..1 scale.
    pub mean: [f32; 3],
    /// Std per channel on the 0..1 scale.
    pub std: [f32; 3],
    /// The padding's pixel value before normalisation (0: black, CenterNet and the face
    /// models; 114: Ultralytics).
    pub pad: u8,
    /// Tensor layout.
    pub layout: Layout,
    /// Colour order; `mean` and `std` are in this order.
    pub channels: Channels,
}

/// The order of a model input's axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Batch, height, width, channels (TF-style exports; the face models' quarter turns
    /// need it).
    #[default]
    Nhwc,
    /// Batch, channels, height, width (PyTorch exports: Ultralytics, timm, torchvision).
    Nchw,
}

/// The order of a model input's colour channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// Red, green, blue (the default).
    #[default]
    Rgb,
    /// Blue, green, red (Caffe and OpenCV-trained models).
    Bgr,
}

impl Channels {
    /// The image channel each tensor channel takes.
    pub fn order(self) -> [usize; 3] {
        match self {
            Channels::Rgb => [0, 1, 2],
            Channels::Bgr => [2, 1, 0],
        }
    }
}

/// `(p / 255 − mean) / std` for every pixel value, per tensor channel.
fn normalise_lut(mean: [f32; 3], std: [f32; 3]) -> [[f32; 256]; 3] {
    std::array::from_fn(|c| {
        std::array::from_fn(|v| ((v as f64 / 255.0 - mean[c] as f64) / std[c] as f64) as f32)
    })
}

impl Letterbox {
    /// Floats written per image: `size * size * 3`.
    pub fn tensor_len(&self) -> usize {
        (self.size as usize).pow(2) * 3
    }

    /// Writes the NHWC tensor of `img` into `out` and returns the geometry.
    pub fn run(&self, img: &RgbImage, out: &mut [f32]) -> LetterboxGeometry {
        assert_eq!(
            out.len(),
            self.tensor_len(),
            "output slice has the wrong length"
        );
        let size = self.size as usize;
        let scale = (self.size as f64 / img.width as f64).min(self.size as f64 / img.height as f64);
        let w = ((img.width as f64 * scale).round_ties_even() as usize).clamp(1, size);
        let h = ((img.height as f64 * scale).round_ties_even() as usize).clamp(1, size);
        let (dx, dy) = ((size - w) / 2, (size - h) / 2);
        let px = resize_window(
            &img.pixels,
            img.width as usize,
            img.height as usize,
            (w, h),
            (0, 0),
            (w, h),
        );
        let lut = normalise_lut(self.mean, self.std);
        let order = self.channels.order();
        let pad = self.pad as usize;
        match self.layout {
            Layout::Nhwc => {
                for o in out.chunks_exact_mut(3) {
                    (0..3).for_each(|c| o[c] = lut[c][pad]);
                }
                for y in 0..h {
                    let at = ((y + dy) * size + dx) * 3;
                    let row = &mut out[at..at + w * 3];
                    for (o, p) in row
                        .chunks_exact_mut(3)
                        .zip(px[y * w * 3..(y + 1) * w * 3].chunks_exact(3))
                    {
                        (0..3).for_each(|c| o[c] = lut[c][p[order[c]] as usize]);
                    }
                }
            }
            Layout::Nchw => {
                let plane = size * size;
                for (c, channel) in out.chunks_exact_mut(plane).enumerate() {
                    channel.fill(lut[c][pad]);
                    for y in 0..h {
                        let at = (y + dy) * size + dx;
                        let src = px[y * w * 3..(y + 1) * w * 3].chunks_exact(3);
                        for (o, p) in channel[at..at + w].iter_mut().zip(src) {
                            *o = lut[c][p[order[c]] as usize];
                        }
                    }
                }
            }
        }
        LetterboxGeometry {
            scale: scale as f32,
            dx: dx as f32,
            dy: dy as f32,
        }
    }
}

/// Resize + crop + normalise for an NCHW float classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierPreprocess {
    /// Shorter side after the resize (256 for the shipped models).
    pub resize_shorter: u32,
    /// Side of the square centre crop, and of the model input (224).
    pub crop: u32,
    /// Per-channel mean on the 0..1 scale (R, G, B).
    pub mean: [f32; 3],
    /// Per-channel standard deviation on the 0..1 scale (R, G, B).
    pub std: [f32; 3],
    /// Tensor layout (PyTorch classifiers: NCHW; Keras/TF ones: NHWC).
    pub layout: Layout,
    /// Colour order; `mean` and `std` are in this order.
    pub channels: Channels,
}

/// Python's `round(x / 2)` for a non-negative integer `x` (round half to even).
fn half_round_even(x: u32) -> u32 {
    let h = x / 2;
    if x % 2 == 1 && h % 2 == 1 {
        h + 1
    } else {
        h
    }
}

impl ClassifierPreprocess {
    /// Floats written per image: `3 * crop * crop`.
    pub fn tensor_len(&self) -> usize {
        3 * (self.crop as usize) * (self.crop as usize)
    }

    /// The resized size and the crop's top-left corner in it, for a `width × height` image.
    pub fn geometry(&self, width: u32, height: u32) -> ((usize, usize), (usize, usize)) {
        let (s, c) = (self.resize_shorter as u64, self.crop as u64);
        let (w, h) = (width as u64, height as u64);
        let (rw, rh) = if w <= h {
            (s, s * h / w)
        } else {
            (s * w / h, s)
        };
        let (rw, rh) = (rw.max(c) as u32, rh.max(c) as u32);
        let c = self.crop;
        (
            (rw as usize, rh as usize),
            (
                half_round_even(rw - c) as usize,
                half_round_even(rh - c) as usize,
            ),
        )
    }

    /// Writes the CHW tensor of `img` into `out` (length [`Self::tensor_len`]).
    pub fn run(&self, img: &RgbImage, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            self.tensor_len(),
            "output slice has the wrong length"
        );
        let (size, corner) = self.geometry(img.width, img.height);
        let c = self.crop as usize;
        let dst = resize_window(
            &img.pixels,
            img.width as usize,
            img.height as usize,
            size,
            corner,
            (c, c),
        );
        let lut: [[f32; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|v| (v as f32 / 255.0 - self.mean[c]) / self.std[c])
        });
        let order = self.channels.order();
        match self.layout {
            Layout::Nchw => {
                let plane = (self.crop * self.crop) as usize;
                for (c, channel) in out.chunks_exact_mut(plane).enumerate() {
                    for (o, px) in channel.iter_mut().zip(dst.chunks_exact(3)) {
                        *o = lut[c][px[order[c]] as usize];
                    }
                }
            }
            Layout::Nhwc => {
                for (o, px) in out.chunks_exact_mut(3).zip(dst.chunks_exact(3)) {
                    (0..3).for_each(|c| o[c] = lut[c][px[order[c]] as usize]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classifier_input_follows_its_layout_and_channel_order() {
        // A 4 × 4 image of one colour: every layout and order holds the same values, moved.
        let img = RgbImage::filled(4, 4, [255, 128, 0]);
        let run = |layout, channels| {
            let p = ClassifierPreprocess {
                resize_shorter: 4,
                crop: 2,
                mean: [0.0; 3],
                std: [1.0; 3],
                layout,
                channels,
            };
            let mut out = vec![f32::NAN; p.tensor_len()];
            p.run(&img, &mut out);
            out
        };
        let (r, g) = (1.0, 128.0 / 255.0);
        let nchw = run(Layout::Nchw, Channels::Rgb);
        assert_eq!((nchw[0], nchw[4], nchw[8]), (r, g, 0.0));
        let bgr = run(Layout::Nchw, Channels::Bgr);
        assert_eq!((bgr[0], bgr[4], bgr[8]), (0.0, g, r));
        let nhwc = run(Layout::Nhwc, Channels::Bgr);
        assert_eq!(&nhwc[..6], &[0.0, g, r, 0.0, g, r]);
    }

    #[test]
    fn a_letterbox_pads_with_its_value_in_either_layout() {
        // 8 × 4 red image into 8 × 8: scale 1, rows 2..6, padding 114 (Ultralytics).
        let img = RgbImage::filled(8, 4, [255, 0, 0]);
        let boxed = |layout| {
            let lb = Letterbox {
                size: 8,
                mean: [0.0; 3],
                std: [1.0; 3],
                pad: 114,
                layout,
                channels: Channels::Rgb,
            };
            let mut out = vec![f32::NAN; lb.tensor_len()];
            let g = lb.run(&img, &mut out);
            assert_eq!((g.scale, g.dx, g.dy), (1.0, 0.0, 2.0));
            out
        };
        let pad = 114.0 / 255.0;
        let nhwc = boxed(Layout::Nhwc);
        assert_eq!(&nhwc[..3], &[pad; 3], "top padding, one pixel's 3 channels");
        assert_eq!(&nhwc[2 * 8 * 3..2 * 8 * 3 + 3], &[1.0, 0.0, 0.0]);
        let nchw = boxed(Layout::Nchw);
        let (red, green) = (&nchw[..64], &nchw[64..128]);
        assert_eq!((red[0], red[2 * 8], red[6 * 8]), (pad, 1.0, pad));
        assert_eq!((green[0], green[2 * 8]), (pad, 0.0));
        assert!(nchw.iter().all(|v| v.is_finite()));
    }

    fn pp() -> ClassifierPreprocess {
        ClassifierPreprocess {
            resize_shorter: 256,
            crop: 224,
            mean: [0.5; 3],
            std: [0.5; 3],
            layout: Layout::Nchw,
            channels: Channels::Rgb,
        }
    }

    #[test]
    fn geometry_matches_torchvision() {
        // 500x375 -> 341x256 (int(256*500/375) = 341), left = round(117/2) = 58 (58.5 -> 58),
        // top = 16
        assert_eq!(pp().geometry(500, 375), ((341, 256), (58, 16)));
        assert_eq!(pp().geometry(100, 300), ((256, 768), (16, 272)));
        assert_eq!(half_round_even(33), 16);
        assert_eq!(half_round_even(35), 18);
        assert_eq!(half_round_even(34), 17);
    }

    #[test]
    fn constant_image_normalises_exactly() {
        let img = RgbImage {
            width: 300,
            height: 200,
            pixels: [255u8, 0, 127].repeat(300 * 200),
        };
        let mut out = vec![0f32; pp().tensor_len()];
        pp().run(&img, &mut out);
        let plane = 224 * 224;
        assert!(out[..plane].iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(out[plane..2 * plane]
            .iter()
            .all(|&v| (v + 1.0).abs() < 1e-6));
        assert!(out[2 * plane..]
            .iter()
            .all(|&v| (v - (127.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6));
    }

    #[test]
    fn tiny_and_extreme_aspect_images_work() {
        for (w, h) in [(1, 1), (3, 1000), (4000, 7)] {
            let img = RgbImage {
                width: w,
                height: h,
                pixels: vec![9; (w * h * 3) as usize],
            };
            let mut out = vec![0f32; pp().tensor_len()];
            pp().run(&img, &mut out);
        }
    }
}
