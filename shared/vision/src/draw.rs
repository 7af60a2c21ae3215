//! Drawing on decoded images: detection boxes with label tags, caption bars, and
//! redaction (pixelation or blur) of regions such as faces.
//!
//! Every function works in place on [`RgbImage`], the decoder's upright RGB8 image, in
//! the same pixel coordinates as [`Detection`] boxes (original-image pixels after EXIF
//! orientation). A box `[x_min, y_min, x_max, y_max]` covers the pixel columns
//! `floor(x_min)..ceil(x_max)` and rows `floor(y_min)..ceil(y_max)`, clipped to the image.
//!
//! Nothing here panics on any input: boxes with a NaN or infinite coordinate, or with
//! `x_max <= x_min` or `y_max <= y_min`, are skipped; boxes partly or wholly outside the
//! image are clipped; an image whose `pixels` is shorter than `width * height * 3` is
//! left as it is.
//!
//! Text is drawn with a built-in 5×7 bitmap font (printable ASCII; any other character
//! is drawn as `?`), scaled by a whole factor on large images ([`text_scale`]).

use image::{ExtendedColorType, ImageEncoder, ImageError};
use sightline_core::Detection;

use crate::RgbImage;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Box colours; [`label_color`] picks one per label. Well-separated hues that stay
/// visible on photographs.
pub const PALETTE: [Rgb; 12] = [
    [230, 25, 75],   // red
    [60, 180, 75],   // green
    [255, 225, 25],  // yellow
    [0, 130, 200],   // blue
    [245, 130, 48],  // orange
    [145, 30, 180],  // purple
    [70, 240, 240],  // cyan
    [240, 50, 230],  // magenta
    [210, 245, 60],  // lime
    [250, 190, 212], // pink
    [0, 128, 128],   // teal
    [170, 110, 40],  // brown
];

/// Background of the caption bar drawn by [`draw_caption`].
pub const CAPTION_BACKGROUND: Rgb = [0, 0, 0];
/// Text colour of the caption bar drawn by [`draw_caption`].
pub const CAPTION_TEXT: Rgb = [255, 255, 255];

/// The box colour of a label: a [`PALETTE`] entry picked by the label's FNV-1a hash, so
/// the same label has the same colour in every image and every run.
pub fn label_color(label: &str) -> Rgb {
    let mut h: u32 = 0x811c_9dc5;
    for b in label.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[h as usize % PALETTE.len()]
}

/// Black or white, whichever reads better on `background`.
pub fn text_color_on(background: Rgb) -> Rgb {
    let [r, g, b] = background.map(u32::from);
    if 299 * r + 587 * g + 114 * b > 150_000 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

/// Outline thickness of detection boxes: `max(2, min(width, height) / 300)` pixels.
pub fn line_thickness(width: u32, height: u32) -> u32 {
    (width.min(height) / 300).max(2)
}

/// Font scale (each font pixel becomes `scale × scale` image pixels):
/// `1 + max(width, height) / 800`, at most 4. The 5×7 glyphs are 7 pixels tall up to
/// 800 pixels, 14 up to 1600, and so on.
pub fn text_scale(width: u32, height: u32) -> u32 {
    (width.max(height) / 800 + 1).min(4)
}

/// Draws every detection: a rectangle outline in its [`label_color`] (thickness
/// [`line_thickness`], drawn inside the box's edge), and a filled tag with the text
/// `"<label> <score to 2 decimals>"` in [`text_color_on`] that colour. The tag sits just
/// above the box, or inside its top edge when there is no room above; it is shifted left
/// to stay inside the image. Outlines are drawn first and tags last, so no outline
/// crosses a tag. Degenerate and non-finite boxes are skipped; boxes are clipped.
pub fn draw_detections(img: &mut RgbImage, detections: &[Detection]) {
    let Some(mut c) = Canvas::new(img) else {
        return;
    };
    let t = line_thickness(c.w, c.h);
    let s = text_scale(c.w, c.h);
    let mut tags = Vec::with_capacity(detections.len());
    for d in detections {
        let b = [d.x_min, d.y_min, d.x_max, d.y_max].map(f64::from);
        let Some(r) = clip(b, c.w, c.h) else {
            continue;
        };
        let color = label_color(&d.label);
        c.outline(r, t, color);
        tags.push((r, color, format!("{} {:.2}", d.label, d.score)));
    }
    for (r, color, text) in tags {
        let pad = i64::from(s);
        let (tw, th) = text_size(&text, s);
        let (w, h) = (tw + 2 * pad, th + 2 * pad);
        let x = i64::from(r.x0).min(i64::from(c.w) - w).max(0);
        let above = i64::from(r.y0) - h;
        let y = if above >= 0 { above } else { i64::from(r.y0) };
        c.fill(x, y, x + w, y + h, color);
        c.text(x + pad, y + pad, &text, s, text_color_on(color));
    }
}

/// Draws a caption bar at the top-left corner: [`CAPTION_TEXT`] on
/// [`CAPTION_BACKGROUND`], one line per `\n`-separated line of `text`, at
/// [`text_scale`]. Used for the top classifier labels, e.g. `"Egyptian cat 0.71"`.
/// Text wider than the image is cut at the right edge. Empty text draws nothing.
pub fn draw_caption(img: &mut RgbImage, text: &str) {
    let Some(mut c) = Canvas::new(img) else {
        return;
    };
    if text.is_empty() {
        return;
    }
    let s = text_scale(c.w, c.h);
    let pad = 2 * i64::from(s);
    let line_h = i64::from(GLYPH_H * s) + pad;
    let lines: Vec<&str> = text.lines().collect();
    let tw = lines.iter().map(|l| text_size(l, s).0).max().unwrap_or(0);
    let bar_h = pad + line_h * lines.len() as i64;
    c.fill(0, 0, tw + 2 * pad, bar_h, CAPTION_BACKGROUND);
    for (i, line) in lines.iter().enumerate() {
        c.text(pad, pad + line_h * i as i64, line, s, CAPTION_TEXT);
    }
}

/// How [`redact`] hides a region. Both styles are lower-bounded by the region's size so
/// that the result cannot be read back, whatever the parameter: cells (or the blur
/// radius) are at least 1/[`REDACT_CELLS`] of the longer side of the expanded box (before
/// clipping to the image), so a box is never more than [`REDACT_CELLS`] cells across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactStyle {
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
    /// `Pixelate { block: 8 }`: cells of at least 8 pixels and, per [`REDACT_CELLS`], at
    /// most 8 cells across the box's longer side (a 200-pixel face becomes 8 × 8 flat
    /// cells of 25 pixels).
    fn default() -> Self {
        RedactStyle::Pixelate { block: 8 }
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
        let Some(r) = clip(expanded, c.w, c.h) else {
            continue;
        };
        let longer = (expanded[2] - expanded[0]).max(expanded[3] - expanded[1]);
        let floor = (longer / f64::from(REDACT_CELLS))
            .ceil()
            .min(f64::from(u32::MAX)) as u32;
        match style {
            RedactStyle::Pixelate { block } => c.pixelate(r, block.max(floor).max(1)),
            RedactStyle::Blur { radius } => c.blur(r, radius.max(floor)),
        }
    }
}

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
    if Canvas::len(img) != Some(img.pixels.len()) || img.width == 0 || img.height == 0 {
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

/// A non-empty pixel rectangle inside the image: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Rect {
    fn width(self) -> u32 {
        self.x1 - self.x0
    }
    fn height(self) -> u32 {
        self.y1 - self.y0
    }
}

/// `[x_min, y_min, x_max, y_max]` → the pixels it covers inside a `w × h` image; `None`
/// for non-finite, degenerate or fully outside boxes.
fn clip(b: [f64; 4], w: u32, h: u32) -> Option<Rect> {
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
    (x1 > x0 && y1 > y0).then_some(Rect { x0, y0, x1, y1 })
}

/// The pixels of an image checked for size once, so that every access after is in bounds.
struct Canvas<'a> {
    w: u32,
    h: u32,
    px: &'a mut [u8],
}

impl<'a> Canvas<'a> {
    fn len(img: &RgbImage) -> Option<usize> {
        (img.width as usize)
            .checked_mul(img.height as usize)?
            .checked_mul(3)
    }

    fn new(img: &'a mut RgbImage) -> Option<Self> {
        let len = Self::len(img)?;
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

    /// A rectangle outline `t` pixels thick, inside `r`'s edge.
    fn outline(&mut self, r: Rect, t: u32, color: Rgb) {
        let (x0, y0, x1, y1) = (
            i64::from(r.x0),
            i64::from(r.y0),
            i64::from(r.x1),
            i64::from(r.y1),
        );
        let t = i64::from(t);
        self.fill(x0, y0, x1, (y0 + t).min(y1), color);
        self.fill(x0, (y1 - t).max(y0), x1, y1, color);
        self.fill(x0, y0, (x0 + t).min(x1), y1, color);
        self.fill((x1 - t).max(x0), y0, x1, y1, color);
    }

    /// Draws `text` with its top-left corner at `(x, y)`, clipped to the image.
    fn text(&mut self, x: i64, y: i64, text: &str, scale: u32, color: Rgb) {
        let s = i64::from(scale);
        let mut cx = x;
        for ch in text.chars() {
            if cx >= i64::from(self.w) {
                break;
            }
            for (col, bits) in glyph(ch).iter().enumerate() {
                for row in 0..GLYPH_H {
                    if bits >> row & 1 == 1 {
                        let px = cx + col as i64 * s;
                        let py = y + i64::from(row) * s;
                        self.fill(px, py, px + s, py + s, color);
                    }
                }
            }
            cx += i64::from(ADVANCE) * s;
        }
    }

    /// Replaces each cell of the region by its mean colour.
    fn pixelate(&mut self, r: Rect, block: u32) {
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
    fn blur(&mut self, r: Rect, radius: u32) {
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

/// Glyph height in font pixels.
const GLYPH_H: u32 = 7;
/// Glyph width in font pixels.
const GLYPH_W: u32 = 5;
/// Horizontal advance per character in font pixels (glyph + 1 pixel of spacing).
const ADVANCE: u32 = GLYPH_W + 1;

/// Width and height in image pixels of one line of `text` at `scale`.
fn text_size(text: &str, scale: u32) -> (i64, i64) {
    let n = text.chars().count() as i64;
    let s = i64::from(scale);
    let w = if n == 0 {
        0
    } else {
        n * i64::from(ADVANCE) * s - s
    };
    (w, i64::from(GLYPH_H) * s)
}

fn glyph(ch: char) -> &'static [u8; 5] {
    let i = match ch {
        ' '..='~' => ch as usize - 32,
        _ => '?' as usize - 32,
    };
    &FONT_5X7[i]
}

/// The classic 5×7 dot-matrix font (as in HD44780-style character LCDs; public domain),
/// printable ASCII 32..=126. Five columns per glyph, left to right; bit `n` of a column
/// is row `n` from the top.
#[rustfmt::skip]
const FONT_5X7: [[u8; 5]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x00, 0x00, 0x5F, 0x00, 0x00], // !
    [0x00, 0x07, 0x00, 0x07, 0x00], // "
    [0x14, 0x7F, 0x14, 0x7F, 0x14], // #
    [0x24, 0x2A, 0x7F, 0x2A, 0x12], // $
    [0x23, 0x13, 0x08, 0x64, 0x62], // %
    [0x36, 0x49, 0x55, 0x22, 0x50], // &
    [0x00, 0x05, 0x03, 0x00, 0x00], // '
    [0x00, 0x1C, 0x22, 0x41, 0x00], // (
    [0x00, 0x41, 0x22, 0x1C, 0x00], // )
    [0x14, 0x08, 0x3E, 0x08, 0x14], // *
    [0x08, 0x08, 0x3E, 0x08, 0x08], // +
    [0x00, 0x50, 0x30, 0x00, 0x00], // ,
    [0x08, 0x08, 0x08, 0x08, 0x08], // -
    [0x00, 0x60, 0x60, 0x00, 0x00], // .
    [0x20, 0x10, 0x08, 0x04, 0x02], // /
    [0x3E, 0x51, 0x49, 0x45, 0x3E], // 0
    [0x00, 0x42, 0x7F, 0x40, 0x00], // 1
    [0x42, 0x61, 0x51, 0x49, 0x46], // 2
    [0x21, 0x41, 0x45, 0x4B, 0x31], // 3
    [0x18, 0x14, 0x12, 0x7F, 0x10], // 4
    [0x27, 0x45, 0x45, 0x45, 0x39], // 5
    [0x3C, 0x4A, 0x49, 0x49, 0x30], // 6
    [0x01, 0x71, 0x09, 0x05, 0x03], // 7
    [0x36, 0x49, 0x49, 0x49, 0x36], // 8
    [0x06, 0x49, 0x49, 0x29, 0x1E], // 9
    [0x00, 0x36, 0x36, 0x00, 0x00], // :
    [0x00, 0x56, 0x36, 0x00, 0x00], // ;
    [0x08, 0x14, 0x22, 0x41, 0x00], // <
    [0x14, 0x14, 0x14, 0x14, 0x14], // =
    [0x00, 0x41, 0x22, 0x14, 0x08], // >
    [0x02, 0x01, 0x51, 0x09, 0x06], // ?
    [0x32, 0x49, 0x79, 0x41, 0x3E], // @
    [0x7E, 0x11, 0x11, 0x11, 0x7E], // A
    [0x7F, 0x49, 0x49, 0x49, 0x36], // B
    [0x3E, 0x41, 0x41, 0x41, 0x22], // C
    [0x7F, 0x41, 0x41, 0x22, 0x1C], // D
    [0x7F, 0x49, 0x49, 0x49, 0x41], // E
    [0x7F, 0x09, 0x09, 0x09, 0x01], // F
    [0x3E, 0x41, 0x49, 0x49, 0x7A], // G
    [0x7F, 0x08, 0x08, 0x08, 0x7F], // H
    [0x00, 0x41, 0x7F, 0x41, 0x00], // I
    [0x20, 0x40, 0x41, 0x3F, 0x01], // J
    [0x7F, 0x08, 0x14, 0x22, 0x41], // K
    [0x7F, 0x40, 0x40, 0x40, 0x40], // L
    [0x7F, 0x02, 0x0C, 0x02, 0x7F], // M
    [0x7F, 0x04, 0x08, 0x10, 0x7F], // N
    [0x3E, 0x41, 0x41, 0x41, 0x3E], // O
    [0x7F, 0x09, 0x09, 0x09, 0x06], // P
    [0x3E, 0x41, 0x51, 0x21, 0x5E], // Q
    [0x7F, 0x09, 0x19, 0x29, 0x46], // R
    [0x46, 0x49, 0x49, 0x49, 0x31], // S
    [0x01, 0x01, 0x7F, 0x01, 0x01], // T
    [0x3F, 0x40, 0x40, 0x40, 0x3F], // U
    [0x1F, 0x20, 0x40, 0x20, 0x1F], // V
    [0x3F, 0x40, 0x38, 0x40, 0x3F], // W
    [0x63, 0x14, 0x08, 0x14, 0x63], // X
    [0x07, 0x08, 0x70, 0x08, 0x07], // Y
    [0x61, 0x51, 0x49, 0x45, 0x43], // Z
    [0x00, 0x7F, 0x41, 0x41, 0x00], // [
    [0x02, 0x04, 0x08, 0x10, 0x20], // \
    [0x00, 0x41, 0x41, 0x7F, 0x00], // ]
    [0x04, 0x02, 0x01, 0x02, 0x04], // ^
    [0x40, 0x40, 0x40, 0x40, 0x40], // _
    [0x00, 0x01, 0x02, 0x04, 0x00], // `
    [0x20, 0x54, 0x54, 0x54, 0x78], // a
    [0x7F, 0x48, 0x44, 0x44, 0x38], // b
    [0x38, 0x44, 0x44, 0x44, 0x20], // c
    [0x38, 0x44, 0x44, 0x48, 0x7F], // d
    [0x38, 0x54, 0x54, 0x54, 0x18], // e
    [0x08, 0x7E, 0x09, 0x01, 0x02], // f
    [0x0C, 0x52, 0x52, 0x52, 0x3E], // g
    [0x7F, 0x08, 0x04, 0x04, 0x78], // h
    [0x00, 0x44, 0x7D, 0x40, 0x00], // i
    [0x20, 0x40, 0x44, 0x3D, 0x00], // j
    [0x7F, 0x10, 0x28, 0x44, 0x00], // k
    [0x00, 0x41, 0x7F, 0x40, 0x00], // l
    [0x7C, 0x04, 0x18, 0x04, 0x78], // m
    [0x7C, 0x08, 0x04, 0x04, 0x78], // n
    [0x38, 0x44, 0x44, 0x44, 0x38], // o
    [0x7C, 0x14, 0x14, 0x14, 0x08], // p
    [0x08, 0x14, 0x14, 0x18, 0x7C], // q
    [0x7C, 0x08, 0x04, 0x04, 0x08], // r
    [0x48, 0x54, 0x54, 0x54, 0x20], // s
    [0x04, 0x3F, 0x44, 0x40, 0x20], // t
    [0x3C, 0x40, 0x40, 0x20, 0x7C], // u
    [0x1C, 0x20, 0x40, 0x20, 0x1C], // v
    [0x3C, 0x40, 0x30, 0x40, 0x3C], // w
    [0x44, 0x28, 0x10, 0x28, 0x44], // x
    [0x0C, 0x50, 0x50, 0x50, 0x3C], // y
    [0x44, 0x64, 0x54, 0x4C, 0x44], // z
    [0x00, 0x08, 0x36, 0x41, 0x00], // {
    [0x00, 0x00, 0x7F, 0x00, 0x00], // |
    [0x00, 0x41, 0x36, 0x08, 0x00], // }
    [0x08, 0x04, 0x08, 0x10, 0x08], // ~
];

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

    fn flat(w: u32, h: u32, c: Rgb) -> RgbImage {
        RgbImage {
            width: w,
            height: h,
            pixels: c.repeat((w * h) as usize),
        }
    }

    fn px(img: &RgbImage, x: u32, y: u32) -> Rgb {
        let o = ((y * img.width + x) * 3) as usize;
        [img.pixels[o], img.pixels[o + 1], img.pixels[o + 2]]
    }

    fn det(label: &str, score: f32, b: [f32; 4]) -> Detection {
        Detection {
            class_id: 0,
            label: label.into(),
            score,
            x_min: b[0],
            y_min: b[1],
            x_max: b[2],
            y_max: b[3],
        }
    }

    /// Pixels that differ between two images of the same size, as (x, y).
    fn changed(a: &RgbImage, b: &RgbImage) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..a.height {
            for x in 0..a.width {
                if px(a, x, y) != px(b, x, y) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    const GREY: Rgb = [128, 128, 128];

    #[test]
    fn font_glyphs_fit_and_are_drawn() {
        for (i, g) in FONT_5X7.iter().enumerate() {
            assert!(g.iter().all(|c| c & 0x80 == 0), "glyph {i} taller than 7");
            assert_eq!(g.iter().all(|&c| c == 0), i == 0, "glyph {i}");
        }
        assert_eq!(glyph('A'), &FONT_5X7[33]);
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn label_colors_are_stable_and_varied() {
        assert_eq!(label_color("person"), label_color("person"));
        let labels = [
            "person", "car", "dog", "cat", "bicycle", "truck", "bird", "bus",
        ];
        let distinct: std::collections::HashSet<Rgb> =
            labels.iter().map(|l| label_color(l)).collect();
        assert!(distinct.len() >= 4, "{distinct:?}");
        assert_eq!(text_color_on([255, 225, 25]), [0, 0, 0]);
        assert_eq!(text_color_on([0, 0, 0]), [255, 255, 255]);
    }

    #[test]
    fn sizes_scale_with_the_image() {
        assert_eq!(line_thickness(640, 480), 2);
        assert_eq!(line_thickness(4000, 3000), 10);
        assert_eq!(text_scale(640, 480), 1);
        assert_eq!(text_scale(1024, 768), 2);
        assert_eq!(text_scale(100_000, 10), 4);
    }

    #[test]
    fn detection_outline_tag_and_text() {
        let mut img = flat(400, 300, GREY);
        draw_detections(
            &mut img,
            &[det("person", 0.87, [100.0, 80.0, 300.0, 260.0])],
        );
        let color = label_color("person");
        let text = text_color_on(color);
        let t = line_thickness(400, 300);
        // Outline: every edge, inside the box's edge, `t` thick.
        for (x, y) in [
            (100, 150),
            (101, 150),
            (299, 150),
            (298, 150),
            (200, 259),
            (200, 258),
        ] {
            assert_eq!(px(&img, x, y), color, "({x}, {y})");
        }
        assert_eq!(px(&img, 100 + t, 150), GREY);
        assert_eq!(px(&img, 99, 150), GREY);
        assert_eq!(px(&img, 300, 150), GREY);
        assert_eq!(px(&img, 200, 260), GREY);
        // Inside: untouched.
        for y in 80 + t..260 - t {
            for x in 100 + t..300 - t {
                assert_eq!(px(&img, x, y), GREY, "({x}, {y})");
            }
        }
        // Tag: above the box, from its left edge, "person 0.87" = 11 characters.
        let (tw, th) = text_size("person 0.87", 1);
        assert_eq!((tw, th), (65, 7));
        let (mut tag, mut ink) = (0, 0);
        for y in 80 - 9..80 {
            for x in 100..100 + 67 {
                let p = px(&img, x, y);
                tag += usize::from(p == color);
                ink += usize::from(p == text);
            }
        }
        assert!(tag > 200 && ink > 60, "tag {tag}, ink {ink}");
        assert_eq!(px(&img, 100, 80 - 10), GREY);
        assert_eq!(px(&img, 100 + 67, 75), GREY);
        // The 'p' of "person" starts with a full column, one pixel in from the tag's edge.
        assert_eq!(px(&img, 101, 80 - 8 + 2), text);
    }

    #[test]
    fn tag_moves_inside_at_the_top_and_left_at_the_right() {
        let mut img = flat(200, 100, GREY);
        draw_detections(&mut img, &[det("car", 0.5, [170.0, 0.0, 200.0, 50.0])]);
        let color = label_color("car");
        let (tw, th) = text_size("car 0.50", 1);
        let (w, h) = (tw as u32 + 2, th as u32 + 2);
        // Inside the box's top edge, right-aligned to the image.
        assert_eq!(px(&img, 200 - w, h - 1), color);
        assert_eq!(px(&img, 200 - w - 1, h - 1), GREY);
        assert_eq!(px(&img, 199, h - 1), color);
    }

    #[test]
    fn outlines_never_cover_tags() {
        let (cat, dog) = (label_color("cat"), label_color("dog"));
        assert_ne!(cat, dog);
        let mut img = flat(300, 300, GREY);
        // "cat"'s tag (rows 41..50, from x = 50) crosses "dog"'s top outline (rows 45..47).
        let a = det("cat", 0.9, [50.0, 50.0, 250.0, 250.0]);
        let b = det("dog", 0.8, [60.0, 45.0, 250.0, 250.0]);
        draw_detections(&mut img, &[a, b]);
        assert_eq!(px(&img, 200, 46), dog);
        for x in 60..99 {
            assert_ne!(px(&img, x, 46), dog, "{x}");
            assert!([cat, text_color_on(cat)].contains(&px(&img, x, 46)), "{x}");
        }
    }

    #[test]
    fn odd_boxes_are_clipped_or_skipped() {
        let orig = flat(64, 48, GREY);
        let skipped = [
            [f32::NAN, 0.0, 10.0, 10.0],
            [0.0, 0.0, f32::INFINITY, 10.0],
            [10.0, 10.0, 10.0, 20.0],
            [20.0, 20.0, 10.0, 10.0],
            [-50.0, -50.0, -10.0, -10.0],
            [100.0, 10.0, 200.0, 20.0],
            [10.0, 1e30, 20.0, 2e30],
        ];
        for b in skipped {
            let mut img = orig.clone();
            draw_detections(&mut img, &[det("x", f32::NAN, b)]);
            assert_eq!(img, orig, "{b:?}");
            redact(&mut img, &[b], RedactStyle::default(), 0.5);
            assert_eq!(img, orig, "{b:?}");
        }
        let mut img = orig.clone();
        let huge = [-1e38, -f32::MAX, f32::MAX, 3e38];
        draw_detections(&mut img, &[det("x", 1.0, huge)]);
        let c = label_color("x");
        assert_eq!(px(&img, 0, 24), c);
        assert_eq!(px(&img, 63, 24), c);
        assert_eq!(px(&img, 32, 47), c);
        assert_eq!(px(&img, 32, 24), GREY);
        // Text wider than the image, a 1-pixel image, an inconsistent image: no panic.
        let long = "w".repeat(1000);
        draw_detections(&mut img, &[det(&long, 0.1, [1.0, 1.0, 2.0, 2.0])]);
        draw_caption(&mut img, &long);
        let mut one = flat(1, 1, GREY);
        draw_detections(&mut one, &[det("x", 0.1, [0.0, 0.0, 1.0, 1.0])]);
        draw_caption(&mut one, "caption");
        redact(
            &mut one,
            &[[0.0, 0.0, 1.0, 1.0]],
            RedactStyle::Blur { radius: 3 },
            1.0,
        );
        let mut bad = RgbImage {
            width: 10,
            height: 10,
            pixels: vec![0; 5],
        };
        draw_detections(&mut bad, &[det("x", 0.1, [0.0, 0.0, 5.0, 5.0])]);
        redact(
            &mut bad,
            &[[0.0, 0.0, 5.0, 5.0]],
            RedactStyle::default(),
            0.0,
        );
        draw_caption(&mut bad, "x");
        assert_eq!(bad.pixels, vec![0; 5]);
        assert!(encode_image(&bad, EncodeFormat::Png).is_err());
        let mut empty = flat(0, 0, GREY);
        draw_caption(&mut empty, "x");
    }

    #[test]
    fn caption_bar_at_top_left() {
        let mut img = flat(320, 240, GREY);
        draw_caption(&mut img, "Egyptian cat 0.71");
        assert_eq!(px(&img, 0, 0), CAPTION_BACKGROUND);
        let (tw, _) = text_size("Egyptian cat 0.71", 1);
        let bar_w = tw as u32 + 4;
        let bar_h = 2 + 7 + 2;
        assert_eq!(px(&img, bar_w - 1, bar_h - 1), CAPTION_BACKGROUND);
        assert_eq!(px(&img, bar_w, 0), GREY);
        assert_eq!(px(&img, 0, bar_h), GREY);
        let ink = (0..bar_h)
            .flat_map(|y| (0..bar_w).map(move |x| (x, y)))
            .filter(|&(x, y)| px(&img, x, y) == CAPTION_TEXT)
            .count();
        assert!(ink > 80, "{ink}");
        // Two lines: a taller bar.
        let mut two = flat(320, 240, GREY);
        draw_caption(&mut two, "a\nb");
        assert_eq!(px(&two, 0, 2 * 9 + 2 - 1), CAPTION_BACKGROUND);
        assert_eq!(px(&two, 0, 2 * 9 + 2), GREY);
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
                distinct.insert(px(&img, x, y));
            }
        }
        assert!(distinct.len() <= 64, "{}", distinct.len());
        // Each cell is flat.
        assert_eq!(px(&img, 20, 20), px(&img, 39, 39));
        assert_ne!(px(&img, 20, 20), px(&img, 40, 20));
    }

    #[test]
    fn overlapping_and_clipped_boxes() {
        let orig = textured(100, 100);
        for style in [RedactStyle::default(), RedactStyle::Blur { radius: 2 }] {
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

    #[test]
    fn encodes_png_losslessly_and_jpeg() {
        let mut img = textured(33, 17);
        draw_caption(&mut img, "hi");
        let png = encode_image(&img, EncodeFormat::Png).unwrap();
        let limits = crate::DecodeLimits {
            max_pixels: 1 << 20,
        };
        assert_eq!(crate::decode_image(&png, limits).unwrap(), img);
        let jpeg = encode_image(&img, EncodeFormat::Jpeg { quality: 90 }).unwrap();
        let back = crate::decode_image(&jpeg, limits).unwrap();
        assert_eq!((back.width, back.height), (33, 17));
    }
}
