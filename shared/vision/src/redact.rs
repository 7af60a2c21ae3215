//! Redaction of image regions such as faces: a flat fill (the default), pixelation or blur,
//! in place on the decoder's upright [`RgbImage`].
//!
//! Boxes are in the same pixel coordinates as [`sightline_core::Detection`] boxes
//! (original-image pixels after EXIF orientation); [`PixelRect::covering`] says which
//! pixels a box covers. Nothing here panics on any input: boxes with a NaN or infinite
//! coordinate, or with `x_max <= x_min` or `y_max <= y_min`, are skipped; boxes partly or
//! wholly outside the image are clipped; an image whose `pixels` is shorter than
//! `width * height * 3` is left as it is.

use crate::RgbImage;

/// An RGB colour.
type Rgb = [u8; 3];

/// How [`redact`] hides a region. `Pixelate` and `Blur` are lower-bounded by the region's
/// size so that the result cannot be read back, whatever the parameter: cells (or the blur
/// radius) are at least 1/[`REDACT_CELLS`] of the longer side of the expanded box (before
/// clipping to the image), so a box is never more than [`REDACT_CELLS`] cells across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactStyle {
    /// Replace the whole region by its mean colour: nothing of the face's layout is left
    /// for a person or a face detector (a mosaic of 8 cells keeps dark eye and mouth cells,
    /// which independent detectors still score as a face: scripts/privacy_bench.sh).
    Fill,
    /// Replace each cell of (at least) `block × block` pixels by its mean colour. Cells
    /// are laid out from the clipped region's top-left corner; cells at the right and
    /// bottom take the remainder, so no cell is narrower than the block.
    Pixelate {
        /// Smallest cell side in pixels (0 is treated as 1).
        block: u32,
    },
    /// Three passes of a box blur (close to a Gaussian of σ ≈ radius) over the region
    /// alone (edges clamped to the region, nothing outside it is read).
    Blur {
        /// Smallest blur radius in pixels.
        radius: u32,
    },
}

/// The lower bound on redaction coarseness: see [`RedactStyle`].
pub const REDACT_CELLS: u32 = 8;

impl Default for RedactStyle {
    /// [`RedactStyle::Fill`], the strongest.
    fn default() -> Self {
        RedactStyle::Fill
    }
}

/// Redacts every box (`[x_min, y_min, x_max, y_max]` in image pixels): the box is first
/// expanded by `margin` × its width on the left and right and `margin` × its height on
/// the top and bottom (a negative, NaN or infinite `margin` counts as 0), then clipped to
/// the image, and every pixel of that region is replaced per `style`. Pixels outside
/// every expanded box are left bit-identical. Overlapping boxes are redacted one after
/// the other. Degenerate and non-finite boxes are skipped.
pub fn redact(img: &mut RgbImage, boxes: &[[f32; 4]], style: RedactStyle, margin: f32) {
    let Some(mut c) = Canvas::new(img) else {
        return;
    };
    let margin = if margin.is_finite() && margin > 0.0 {
        f64::from(margin)
    } else {
        0.0
    };
    for b in boxes {
        let [x_min, y_min, x_max, y_max] = b.map(f64::from);
        if !b.iter().all(|v| v.is_finite()) || x_max <= x_min || y_max <= y_min {
            continue;
        }
        let (mx, my) = ((x_max - x_min) * margin, (y_max - y_min) * margin);
        let expanded = [x_min - mx, y_min - my, x_max + mx, y_max + my];
        let Some(r) = PixelRect::covering(expanded, c.w, c.h) else {
            continue;
        };
        let longer = (expanded[2] - expanded[0]).max(expanded[3] - expanded[1]);
        let floor = (longer / f64::from(REDACT_CELLS))
            .ceil()
            .min(f64::from(u32::MAX)) as u32;
        match style {
            RedactStyle::Fill => c.pixelate(r, r.width().max(r.height())),
            RedactStyle::Pixelate { block } => c.pixelate(r, block.max(floor).max(1)),
            RedactStyle::Blur { radius } => c.blur(r, radius.max(floor)),
        }
    }
}

/// A non-empty pixel rectangle inside an image: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

impl PixelRect {
    /// The pixels a box `[x_min, y_min, x_max, y_max]` covers inside a `w × h` image:
    /// columns `floor(x_min)..ceil(x_max)` and rows `floor(y_min)..ceil(y_max)`, clipped
    /// to the image; `None` for non-finite, degenerate or wholly outside boxes.
    pub fn covering(b: [f64; 4], w: u32, h: u32) -> Option<Self> {
        let [x_min, y_min, x_max, y_max] = b;
        if !b.iter().all(|v| v.is_finite()) || x_max <= x_min || y_max <= y_min {
            return None;
        }
        let (w, h) = (f64::from(w), f64::from(h));
        // Clamped to [0, size] before the cast, so the casts are exact.
        let x0 = x_min.floor().clamp(0.0, w) as u32;
        let x1 = x_max.ceil().clamp(0.0, w) as u32;
        let y0 = y_min.floor().clamp(0.0, h) as u32;
        let y1 = y_max.ceil().clamp(0.0, h) as u32;
        (x1 > x0 && y1 > y0).then_some(PixelRect { x0, y0, x1, y1 })
    }

    /// Number of columns (at least 1).
    pub fn width(self) -> u32 {
        self.x1 - self.x0
    }

    /// Number of rows (at least 1).
    pub fn height(self) -> u32 {
        self.y1 - self.y0
    }
}

/// The pixels of an image checked for size once, so that every access after is in bounds.
struct Canvas<'a> {
    w: u32,
    h: u32,
    px: &'a mut [u8],
}

/// `width * height * 3`, the number of bytes an [`RgbImage`] of its size holds; `None` on
/// overflow.
pub(crate) fn expected_len(img: &RgbImage) -> Option<usize> {
    (img.width as usize)
        .checked_mul(img.height as usize)?
        .checked_mul(3)
}

impl<'a> Canvas<'a> {
    fn new(img: &'a mut RgbImage) -> Option<Self> {
        let len = expected_len(img)?;
        if len == 0 || img.pixels.len() < len {
            return None;
        }
        Some(Canvas {
            w: img.width,
            h: img.height,
            px: &mut img.pixels[..len],
        })
    }

    fn offset(&self, x: u32, y: u32) -> usize {
        (y as usize * self.w as usize + x as usize) * 3
    }

    /// Fills columns `x0..x1`, rows `y0..y1`, clipped to the image.
    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb) {
        let cx = |v: i64| v.clamp(0, i64::from(self.w)) as u32;
        let cy = |v: i64| v.clamp(0, i64::from(self.h)) as u32;
        let (x0, x1, y0, y1) = (cx(x0), cx(x1), cy(y0), cy(y1));
        if x1 <= x0 {
            return;
        }
        for y in y0..y1 {
            let (a, b) = (self.offset(x0, y), self.offset(x1 - 1, y) + 3);
            for p in self.px[a..b].chunks_exact_mut(3) {
                p.copy_from_slice(&color);
            }
        }
    }

    /// Replaces each cell of the region by its mean colour.
    fn pixelate(&mut self, r: PixelRect, block: u32) {
        let cells = |len: u32| (len / block).max(1);
        let (nx, ny) = (cells(r.width()), cells(r.height()));
        // Cell i spans start(i)..start(i + 1): evenly spread, each at least `block`.
        let edge = |origin: u32, len: u32, n: u32, i: u32| {
            origin + (u64::from(len) * u64::from(i) / u64::from(n)) as u32
        };
        for j in 0..ny {
            let (ya, yb) = (
                edge(r.y0, r.height(), ny, j),
                edge(r.y0, r.height(), ny, j + 1),
            );
            for i in 0..nx {
                let (xa, xb) = (
                    edge(r.x0, r.width(), nx, i),
                    edge(r.x0, r.width(), nx, i + 1),
                );
                let mut sum = [0u64; 3];
                for y in ya..yb {
                    let (a, b) = (self.offset(xa, y), self.offset(xb - 1, y) + 3);
                    for p in self.px[a..b].chunks_exact(3) {
                        for k in 0..3 {
                            sum[k] += u64::from(p[k]);
                        }
                    }
                }
                let n = u64::from(xb - xa) * u64::from(yb - ya);
                let mean = sum.map(|s| ((s + n / 2) / n) as u8);
                self.fill(
                    i64::from(xa),
                    i64::from(ya),
                    i64::from(xb),
                    i64::from(yb),
                    mean,
                );
            }
        }
    }

    /// Three box-blur passes over the region, reading only the region.
    fn blur(&mut self, r: PixelRect, radius: u32) {
        let (w, h) = (r.width() as usize, r.height() as usize);
        // A radius past the region's size only reweighs the clamped edge pixels.
        let radius = radius.min(r.width().max(r.height())) as usize;
        let mut buf = Vec::with_capacity(w * h * 3);
        for y in r.y0..r.y1 {
            let (a, b) = (self.offset(r.x0, y), self.offset(r.x1 - 1, y) + 3);
            buf.extend_from_slice(&self.px[a..b]);
        }
        if radius > 0 {
            let mut tmp = vec![0u8; buf.len()];
            for _ in 0..3 {
                box_blur_1d(&buf, &mut tmp, w, h, radius, true);
                box_blur_1d(&tmp, &mut buf, w, h, radius, false);
            }
        }
        for (row, y) in (r.y0..r.y1).enumerate() {
            let (a, b) = (self.offset(r.x0, y), self.offset(r.x1 - 1, y) + 3);
            self.px[a..b].copy_from_slice(&buf[row * w * 3..(row + 1) * w * 3]);
        }
    }
}

/// One box-blur pass along rows (`horizontal`) or columns of a `w × h` RGB buffer,
/// window `2 * radius + 1`, indices clamped to the buffer's edges.
fn box_blur_1d(src: &[u8], dst: &mut [u8], w: usize, h: usize, radius: usize, horizontal: bool) {
    let (len, lines) = if horizontal { (w, h) } else { (h, w) };
    let at = |line: usize, i: usize| {
        if horizontal {
            (line * w + i) * 3
        } else {
            (i * w + line) * 3
        }
    };
    let r = radius as i64;
    let n = 2 * radius as u64 + 1;
    let clamp = |i: i64| i.clamp(0, len as i64 - 1) as usize;
    for line in 0..lines {
        let mut sum = [0u64; 3];
        for k in -r..=r {
            let p = at(line, clamp(k));
            for c in 0..3 {
                sum[c] += u64::from(src[p + c]);
            }
        }
        for i in 0..len {
            let q = at(line, i);
            for c in 0..3 {
                dst[q + c] = ((sum[c] + n / 2) / n) as u8;
            }
            let (add, sub) = (
                at(line, clamp(i as i64 + r + 1)),
                at(line, clamp(i as i64 - r)),
            );
            for c in 0..3 {
                sum[c] = sum[c] + u64::from(src[add + c]) - u64::from(src[sub + c]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured image: neighbouring pixels differ, so any averaging changes them.
    fn textured(w: u32, h: u32) -> RgbImage {
        let mut pixels = Vec::with_capacity((w * h * 3) as usize);
        let mut state: u32 = 0x1234_5678;
        for _ in 0..w * h * 3 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            pixels.push((state >> 24) as u8);
        }
        RgbImage {
            width: w,
            height: h,
            pixels,
        }
    }

    /// Pixels that differ between two images of the same size, as (x, y).
    fn changed(a: &RgbImage, b: &RgbImage) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..a.height {
            for x in 0..a.width {
                if a.pixel(x, y) != b.pixel(x, y) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    const GREY: Rgb = [128, 128, 128];

    #[test]
    fn odd_boxes_and_images_are_skipped() {
        let orig = textured(64, 48);
        for b in [
            [f32::NAN, 0.0, 10.0, 10.0],
            [0.0, 0.0, f32::INFINITY, 10.0],
            [10.0, 10.0, 10.0, 20.0],
            [20.0, 20.0, 10.0, 10.0],
            [-50.0, -50.0, -10.0, -10.0],
            [100.0, 10.0, 200.0, 20.0],
            [10.0, 1e30, 20.0, 2e30],
        ] {
            let mut img = orig.clone();
            redact(&mut img, &[b], RedactStyle::default(), 0.0);
            assert!(img == orig, "{b:?}");
        }
        let mut one = RgbImage::filled(1, 1, GREY);
        let whole = [[0.0, 0.0, 1.0, 1.0]];
        redact(&mut one, &whole, RedactStyle::Blur { radius: 3 }, 1.0);
        assert!(one == RgbImage::filled(1, 1, GREY));
        let mut bad = RgbImage {
            width: 10,
            height: 10,
            pixels: vec![7; 5],
        };
        redact(&mut bad, &whole, RedactStyle::default(), 0.0);
        assert_eq!(bad.pixels, vec![7; 5]);
    }

    #[test]
    fn covering_rounds_outwards_and_clips() {
        let r = |b| PixelRect::covering(b, 100, 50);
        let got = r([10.2, 5.7, 20.1, 9.0]).unwrap();
        assert_eq!(
            got,
            PixelRect {
                x0: 10,
                y0: 5,
                x1: 21,
                y1: 9
            }
        );
        assert_eq!((got.width(), got.height()), (11, 4));
        assert_eq!(
            r([-5.0, -1e30, 1e9, 1e30]),
            Some(PixelRect {
                x0: 0,
                y0: 0,
                x1: 100,
                y1: 50
            })
        );
        assert_eq!(r([100.0, 0.0, 120.0, 10.0]), None);
        assert_eq!(r([1.0, 1.0, 1.0, 2.0]), None);
        assert_eq!(r([f64::NAN, 1.0, 2.0, 2.0]), None);
    }

    fn check_redaction(style: RedactStyle) {
        let orig = textured(120, 90);
        let mut img = orig.clone();
        // 40 × 20 box, margin 0.25 → 10 px left/right, 5 px top/bottom.
        redact(&mut img, &[[40.0, 30.0, 80.0, 50.0]], style, 0.25);
        let region = |x: u32, y: u32| (30..90).contains(&x) && (25..55).contains(&y);
        let diff = changed(&orig, &img);
        assert!(diff.iter().all(|&(x, y)| region(x, y)), "{style:?}");
        let inside = 60 * 30;
        assert!(
            diff.len() * 10 > inside * 9,
            "{style:?}: {} of {inside}",
            diff.len()
        );
        // The margin is redacted too.
        assert!(
            diff.contains(&(31, 26)) || diff.contains(&(32, 26)),
            "{style:?}"
        );
    }

    #[test]
    fn redaction_changes_inside_only() {
        check_redaction(RedactStyle::default());
        check_redaction(RedactStyle::Fill);
        check_redaction(RedactStyle::Pixelate { block: 0 });
        check_redaction(RedactStyle::Pixelate { block: 16 });
        check_redaction(RedactStyle::Blur { radius: 0 });
        check_redaction(RedactStyle::Blur { radius: 4 });
        check_redaction(RedactStyle::Blur { radius: u32::MAX });
    }

    #[test]
    fn pixelation_is_coarse_whatever_the_block() {
        let orig = textured(200, 200);
        let mut img = orig.clone();
        // 160-pixel box: cells of at least 160 / 8 = 20 pixels even with block 1.
        redact(
            &mut img,
            &[[20.0, 20.0, 180.0, 180.0]],
            RedactStyle::Pixelate { block: 1 },
            0.0,
        );
        let mut distinct = std::collections::HashSet::new();
        for y in 20..180 {
            for x in 20..180 {
                distinct.insert(img.pixel(x, y));
            }
        }
        assert!(distinct.len() <= 64, "{}", distinct.len());
        // Each cell is flat.
        assert_eq!(img.pixel(20, 20), img.pixel(39, 39));
        assert_ne!(img.pixel(20, 20), img.pixel(40, 20));
    }

    #[test]
    fn a_fill_is_one_flat_colour_the_mean_of_the_region() {
        let mut img = textured(64, 64);
        let region = |x: u32, y: u32| (10..30).contains(&x) && (20..50).contains(&y);
        let mut sum = [0u64; 3];
        for (x, y) in (10..30).flat_map(|x| (20..50).map(move |y| (x, y))) {
            let p = img.pixel(x, y);
            (0..3).for_each(|k| sum[k] += u64::from(p[k]));
        }
        let mean = sum.map(|s| ((s + 300) / 600) as u8);
        redact(
            &mut img,
            &[[10.0, 20.0, 30.0, 50.0]],
            RedactStyle::Fill,
            0.0,
        );
        for y in 0..64 {
            for x in 0..64 {
                assert_eq!(img.pixel(x, y) == mean, region(x, y), "({x}, {y})");
            }
        }
    }

    #[test]
    fn overlapping_and_clipped_boxes() {
        let orig = textured(100, 100);
        for style in [
            RedactStyle::default(),
            RedactStyle::Pixelate { block: 8 },
            RedactStyle::Blur { radius: 2 },
        ] {
            let mut img = orig.clone();
            let boxes = [
                [10.0, 10.0, 50.0, 50.0],
                [30.0, 30.0, 70.0, 70.0],
                [80.0, -20.0, 130.0, 20.0],
                [f32::NAN; 4],
            ];
            redact(&mut img, &boxes, style, 0.0);
            let inside = |x: u32, y: u32| {
                ((10..50).contains(&x) && (10..50).contains(&y))
                    || ((30..70).contains(&x) && (30..70).contains(&y))
                    || (x >= 80 && y < 20)
            };
            let diff = changed(&orig, &img);
            assert!(diff.iter().all(|&(x, y)| inside(x, y)), "{style:?}");
            assert!(diff.len() > 2800, "{style:?}: {}", diff.len());
        }
        // Odd margins count as 0.
        for m in [f32::NAN, f32::INFINITY, -1.0] {
            let mut img = orig.clone();
            redact(
                &mut img,
                &[[10.0, 10.0, 20.0, 20.0]],
                RedactStyle::default(),
                m,
            );
            let diff = changed(&orig, &img);
            assert!(diff
                .iter()
                .all(|&(x, y)| (10..20).contains(&x) && (10..20).contains(&y)));
        }
    }
}
