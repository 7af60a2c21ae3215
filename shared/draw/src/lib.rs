//! Annotation drawing for `sightline annotate`: detection boxes with label tags and a
//! caption bar, drawn in place on the decoder's upright [`RgbImage`] with `imageproc`
//! (rectangles, anti-aliased text) and `ab_glyph` (the font).
//!
//! The font is a subset of DejaVu Sans Bold embedded in the binary
//! (`fonts/DejaVuSans-Bold-Latin.ttf`, Bitstream Vera licence and provenance in
//! `fonts/LICENSE`): ASCII, Latin-1 and Latin Extended-A; other characters are drawn as
//! the font's missing-glyph box.
//!
//! Boxes are in [`Detection`] coordinates (original-image pixels after EXIF orientation)
//! and cover the pixels [`PixelRect::covering`] gives. Nothing here panics on any input:
//! non-finite and degenerate boxes are skipped, boxes are clipped to the image, and an
//! image whose `pixels` is shorter than `width * height * 3` (or wider or taller than
//! `i32::MAX`) is left as it is.
//!
//! This crate is for the CLI only: the Lambdas must not link `imageproc`.

mod style;

pub use style::{
    label_color, line_thickness, text_color_on, text_height, Rgb, CAPTION_BACKGROUND, CAPTION_TEXT,
    PALETTE,
};

use ab_glyph::{FontRef, PxScale};
use image::{ImageBuffer, Rgb as Pixel};
use imageproc::drawing::{draw_filled_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;
use sightline_core::Detection;
use sightline_vision::{PixelRect, RgbImage};

/// The embedded font: DejaVu Sans Bold, subset (see `fonts/LICENSE`).
pub const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold-Latin.ttf");

/// Errors of the drawing crate.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// The embedded font could not be parsed.
    #[error("the embedded font cannot be read: {0}")]
    Font(#[from] ab_glyph::InvalidFont),
}

/// An RGB8 view of an [`RgbImage`]'s pixels that `imageproc` draws on.
type Canvas<'a> = ImageBuffer<Pixel<u8>, &'a mut [u8]>;

/// Draws annotations with the embedded font (parsed once, in [`Painter::new`]).
pub struct Painter {
    font: FontRef<'static>,
}

impl Painter {
    /// Parses the embedded font.
    pub fn new() -> Result<Self, DrawError> {
        Ok(Painter {
            font: FontRef::try_from_slice(FONT)?,
        })
    }

    /// Draws every detection: a rectangle outline in its [`label_color`],
    /// [`line_thickness`] thick, inside the box's edge; then, over all outlines, a tag
    /// filled with that colour holding `"<label> <score to 2 decimals>"` in
    /// [`text_color_on`] it, [`text_height`] tall. The tag sits just above the box, or
    /// inside its top edge when there is no room above, and is shifted left to stay inside
    /// the image.
    pub fn draw_detections(&self, img: &mut RgbImage, detections: &[Detection]) {
        with_canvas(img, |canvas| {
            let (w, h) = canvas.dimensions();
            let thickness = line_thickness(w, h);
            let mut tags = Vec::with_capacity(detections.len());
            for d in detections {
                let b = [d.x_min, d.y_min, d.x_max, d.y_max].map(f64::from);
                let Some(r) = PixelRect::covering(b, w, h) else {
                    continue;
                };
                let color = label_color(&d.label);
                outline(canvas, r, thickness, color);
                tags.push((r, color, format!("{} {:.2}", d.label, d.score)));
            }
            let px = text_height(w, h);
            let scale = PxScale::from(px as f32);
            let pad = tag_padding(px);
            for (r, color, text) in tags {
                let (tw, th) = text_size(scale, &self.font, &text);
                let tag = tag_rect(r, tw.saturating_add(2 * pad), th + 2 * pad, w);
                draw_filled_rect_mut(canvas, tag, Pixel(color));
                let ink = Pixel(text_color_on(color));
                let (x, y) = (tag.left() + pad as i32, tag.top() + pad as i32);
                draw_text_mut(canvas, ink, x, y, scale, &self.font, &text);
            }
        });
    }

    /// Draws a caption bar at the top-left corner: [`CAPTION_TEXT`] on
    /// [`CAPTION_BACKGROUND`], one line per `\n`-separated line of `text`, [`text_height`]
    /// tall. Used for the top classifier label, e.g. `"Egyptian cat 0.71"`. The bar is cut
    /// at the image's edges and nothing is drawn outside it. Empty text draws nothing.
    pub fn draw_caption(&self, img: &mut RgbImage, text: &str) {
        if text.is_empty() {
            return;
        }
        with_canvas(img, |canvas| {
            let (w, h) = canvas.dimensions();
            let px = text_height(w, h);
            let scale = PxScale::from(px as f32);
            let pad = caption_padding(px);
            let lines: Vec<&str> = text.lines().collect();
            let widest = lines.iter().map(|l| text_size(scale, &self.font, l).0);
            let tw = widest.max().unwrap_or(0);
            let line_h = px + pad;
            let n = u32::try_from(lines.len()).unwrap_or(u32::MAX);
            let bar_w = tw.saturating_add(2 * pad).min(w);
            let bar_h = line_h.saturating_mul(n).saturating_add(pad).min(h);
            let bar = Rect::at(0, 0).of_size(bar_w.max(1), bar_h.max(1));
            draw_filled_rect_mut(canvas, bar, Pixel(CAPTION_BACKGROUND));
            // Text goes onto a view of the bar's rows alone, so no glyph lands below it.
            let rows = (w as usize) * (bar_h as usize) * 3;
            let raw: &mut [u8] = canvas;
            let Some(mut band) = Canvas::from_raw(w, bar_h, &mut raw[..rows]) else {
                return;
            };
            let ink = Pixel(CAPTION_TEXT);
            for (i, line) in (0u32..).zip(&lines) {
                let y = line_h.saturating_mul(i).saturating_add(pad);
                let y = i32::try_from(y).unwrap_or(i32::MAX);
                draw_text_mut(&mut band, ink, pad as i32, y, scale, &self.font, line);
            }
        });
    }
}

/// Padding around the text of a detection tag.
fn tag_padding(text_height: u32) -> u32 {
    (text_height / 6).max(1)
}

/// Padding around and between the lines of the caption.
fn caption_padding(text_height: u32) -> u32 {
    (text_height / 4).max(2)
}

/// Where the tag of box `r` goes in an image `image_w` wide: `w × h` (the width cut to the
/// image's), just above the box if there is room, else inside its top edge; its left edge
/// at the box's, moved left so that the tag ends inside the image.
fn tag_rect(r: PixelRect, w: u32, h: u32, image_w: u32) -> Rect {
    let w = w.clamp(1, image_w.max(1));
    let x = r.x0.min(image_w - w);
    let y = r.y0.checked_sub(h).unwrap_or(r.y0);
    Rect::at(x as i32, y as i32).of_size(w, h.max(1))
}

/// A rectangle outline `t` pixels thick inside `r`'s edge: four filled bands.
fn outline(canvas: &mut Canvas, r: PixelRect, t: u32, color: Rgb) {
    let (x0, y0) = (r.x0 as i32, r.y0 as i32);
    let (w, h) = (r.width(), r.height());
    let (tx, ty) = (t.min(w).max(1), t.min(h).max(1));
    let bands = [
        Rect::at(x0, y0).of_size(w, ty),
        Rect::at(x0, (r.y1 - ty) as i32).of_size(w, ty),
        Rect::at(x0, y0).of_size(tx, h),
        Rect::at((r.x1 - tx) as i32, y0).of_size(tx, h),
    ];
    for band in bands {
        draw_filled_rect_mut(canvas, band, Pixel(color));
    }
}

/// Runs `f` on the image's pixels as an `imageproc` canvas, unless the image is empty,
/// inconsistent (fewer than `width * height * 3` bytes) or too large for `imageproc`'s
/// `i32` coordinates.
fn with_canvas(img: &mut RgbImage, f: impl FnOnce(&mut Canvas)) {
    let (w, h) = (img.width, img.height);
    if i32::try_from(w).is_err() || i32::try_from(h).is_err() {
        return;
    }
    let Some(len) = (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
    else {
        return;
    };
    if len == 0 || img.pixels.len() < len {
        return;
    }
    if let Some(mut canvas) = Canvas::from_raw(w, h, &mut img.pixels[..len]) {
        f(&mut canvas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const GREY: Rgb = [128, 128, 128];

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
    fn changed(a: &RgbImage, b: &RgbImage) -> HashSet<(u32, u32)> {
        let all = (0..a.height).flat_map(|y| (0..a.width).map(move |x| (x, y)));
        all.filter(|&(x, y)| a.pixel(x, y) != b.pixel(x, y))
            .collect()
    }

    /// Every pixel of columns `x0..x1`, rows `y0..y1`.
    fn area(x0: u32, y0: u32, x1: u32, y1: u32) -> HashSet<(u32, u32)> {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .collect()
    }

    fn painter() -> Painter {
        Painter::new().unwrap()
    }

    #[test]
    fn the_embedded_font_has_the_glyphs_of_labels() {
        use ab_glyph::Font;
        let font = FontRef::try_from_slice(FONT).unwrap();
        for c in ('!'..='~').chain("éüñçß–…".chars()) {
            assert_ne!(font.glyph_id(c).0, 0, "{c:?}");
        }
        assert_eq!(font.glyph_id('中').0, 0);
        assert!(FONT.len() < 32 * 1024, "{}", FONT.len());
    }

    #[test]
    fn an_outline_changes_exactly_its_band() {
        let (orig, t) = (RgbImage::filled(50, 40, GREY), 3);
        let mut img = orig.clone();
        with_canvas(&mut img, |c| {
            let r = PixelRect::covering([10.0, 5.0, 30.0, 25.0], 50, 40).unwrap();
            outline(c, r, t, PALETTE[0]);
        });
        let inner = area(10 + t, 5 + t, 30 - t, 25 - t);
        let band: HashSet<_> = area(10, 5, 30, 25).difference(&inner).copied().collect();
        assert_eq!(changed(&orig, &img), band);
        assert!(band.iter().all(|&(x, y)| img.pixel(x, y) == PALETTE[0]));
        // Thinner than the outline: the box is filled, nothing else.
        let mut img = orig.clone();
        with_canvas(&mut img, |c| {
            let r = PixelRect::covering([1.5, 2.0, 3.0, 30.0], 50, 40).unwrap();
            outline(c, r, 5, PALETTE[1]);
        });
        assert_eq!(changed(&orig, &img), area(1, 2, 3, 30));
    }

    #[test]
    fn a_detection_changes_its_outline_and_its_tag_only() {
        let p = painter();
        let orig = RgbImage::filled(400, 300, GREY);
        let mut img = orig.clone();
        p.draw_detections(
            &mut img,
            &[det("person", 0.87, [100.0, 80.0, 300.0, 260.0])],
        );
        let color = label_color("person");
        let t = line_thickness(400, 300);
        let r = PixelRect::covering([100.0, 80.0, 300.0, 260.0], 400, 300).unwrap();
        let (tw, th) = text_size(PxScale::from(12.0), &p.font, "person 0.87");
        let tag = tag_rect(r, tw + 2 * tag_padding(12), th + 2 * tag_padding(12), 400);
        // Above the box, from its left edge.
        assert_eq!((tag.left(), tag.bottom() + 1), (100, 80));
        let tag_px = area(100, tag.top() as u32, tag.right() as u32 + 1, 80);
        let band: HashSet<_> = area(100, 80, 300, 260)
            .difference(&area(100 + t, 80 + t, 300 - t, 260 - t))
            .copied()
            .collect();
        let diff = changed(&orig, &img);
        assert!(band.iter().all(|&(x, y)| img.pixel(x, y) == color));
        let outside: Vec<_> = diff
            .difference(&band)
            .filter(|p| !tag_px.contains(p))
            .collect();
        assert!(outside.is_empty(), "{outside:?}");
        // The tag is filled with the colour and holds text in the contrasting colour.
        let ink = text_color_on(color);
        let inked = tag_px
            .iter()
            .filter(|&&(x, y)| img.pixel(x, y) == ink)
            .count();
        let filled = tag_px
            .iter()
            .filter(|&&(x, y)| img.pixel(x, y) == color)
            .count();
        assert!(inked > 40 && filled > tag_px.len() / 2, "{inked} {filled}");
    }

    #[test]
    fn tag_moves_inside_at_the_top_and_left_at_the_right() {
        let r = PixelRect::covering([170.0, 0.0, 200.0, 50.0], 200, 100).unwrap();
        let tag = tag_rect(r, 60, 16, 200);
        assert_eq!(
            (tag.left(), tag.top(), tag.width(), tag.height()),
            (140, 0, 60, 16)
        );
        let r = PixelRect::covering([10.0, 40.0, 20.0, 50.0], 200, 100).unwrap();
        let tag = tag_rect(r, 500, 16, 200);
        assert_eq!((tag.left(), tag.top(), tag.width()), (0, 24, 200));
        // Drawn: the tag's pixels at the top right are the label's colour.
        let mut img = RgbImage::filled(200, 100, GREY);
        painter().draw_detections(&mut img, &[det("car", 0.5, [170.0, 0.0, 200.0, 50.0])]);
        assert_eq!(img.pixel(199, 1), label_color("car"));
        assert_eq!(img.pixel(120, 1), GREY);
    }

    #[test]
    fn outlines_never_cover_tags() {
        let (cat, dog) = (label_color("cat"), label_color("dog"));
        assert_ne!(cat, dog);
        let mut img = RgbImage::filled(300, 300, GREY);
        // "cat"'s tag (above y = 50) crosses "dog"'s top outline (rows 45..47).
        let a = det("cat", 0.9, [50.0, 50.0, 250.0, 250.0]);
        let b = det("dog", 0.8, [60.0, 45.0, 250.0, 250.0]);
        painter().draw_detections(&mut img, &[a, b]);
        assert_eq!(img.pixel(200, 46), dog);
        for x in 60..90 {
            assert_ne!(img.pixel(x, 46), dog, "{x}");
        }
    }

    #[test]
    fn caption_draws_inside_its_bar_only() {
        let p = painter();
        let orig = RgbImage::filled(320, 240, GREY);
        let mut img = orig.clone();
        p.draw_caption(&mut img, "Egyptian cat 0.71");
        let (tw, _) = text_size(PxScale::from(12.0), &p.font, "Egyptian cat 0.71");
        let pad = caption_padding(12);
        let (bar_w, bar_h) = (tw + 2 * pad, 12 + 2 * pad);
        let bar = area(0, 0, bar_w, bar_h);
        assert!(changed(&orig, &img).is_subset(&bar));
        for (x, y) in [
            (0, 0),
            (bar_w - 1, 0),
            (0, bar_h - 1),
            (bar_w - 1, bar_h - 1),
        ] {
            assert_eq!(img.pixel(x, y), CAPTION_BACKGROUND, "({x}, {y})");
        }
        let ink = bar
            .iter()
            .filter(|&&(x, y)| img.pixel(x, y)[0] > 200)
            .count();
        assert!(ink > 60, "{ink}");
        // Two lines: a bar one line taller, text on both.
        let mut two = orig.clone();
        p.draw_caption(&mut two, "a\nb");
        let line_h = 12 + pad;
        assert_eq!(two.pixel(0, 2 * line_h + pad - 1), CAPTION_BACKGROUND);
        assert_eq!(two.pixel(0, 2 * line_h + pad), GREY);
        let lit = |y0: u32| {
            area(0, y0, 20, y0 + line_h)
                .iter()
                .any(|&(x, y)| two.pixel(x, y)[0] > 200)
        };
        assert!(lit(pad) && lit(pad + line_h));
        // Empty text: nothing.
        let mut none = orig.clone();
        p.draw_caption(&mut none, "");
        assert_eq!(none, orig);
    }

    #[test]
    fn odd_boxes_and_images_are_clipped_or_skipped() {
        let p = painter();
        let orig = RgbImage::filled(64, 48, GREY);
        for b in [
            [f32::NAN, 0.0, 10.0, 10.0],
            [0.0, 0.0, f32::INFINITY, 10.0],
            [10.0, 10.0, 10.0, 20.0],
            [20.0, 20.0, 10.0, 10.0],
            [-50.0, -50.0, -10.0, -10.0],
            [100.0, 10.0, 200.0, 20.0],
        ] {
            let mut img = orig.clone();
            p.draw_detections(&mut img, &[det("x", f32::NAN, b)]);
            assert_eq!(img, orig, "{b:?}");
        }
        let mut img = orig.clone();
        p.draw_detections(
            &mut img,
            &[det("x", 1.0, [-1e38, -f32::MAX, f32::MAX, 3e38])],
        );
        let c = label_color("x");
        assert_eq!(
            (img.pixel(0, 24), img.pixel(63, 24), img.pixel(32, 47)),
            (c, c, c)
        );
        assert_eq!(img.pixel(32, 24), GREY);
        // Text wider than the image, a 1-pixel image, an inconsistent image: no panic.
        let long = "w".repeat(1000);
        p.draw_detections(&mut img, &[det(&long, 0.1, [1.0, 1.0, 2.0, 2.0])]);
        p.draw_caption(&mut img, &long);
        let mut one = RgbImage::filled(1, 1, GREY);
        p.draw_detections(&mut one, &[det("x", 0.1, [0.0, 0.0, 1.0, 1.0])]);
        p.draw_caption(&mut one, "caption\nsecond");
        let mut bad = RgbImage {
            width: 10,
            height: 10,
            pixels: vec![0; 5],
        };
        p.draw_detections(&mut bad, &[det("x", 0.1, [0.0, 0.0, 5.0, 5.0])]);
        p.draw_caption(&mut bad, "x");
        assert_eq!(bad.pixels, vec![0; 5]);
        let mut empty = RgbImage::filled(0, 0, GREY);
        p.draw_caption(&mut empty, "x");
    }
}
