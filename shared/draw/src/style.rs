//! How annotations look: box colours per label, text colour on a background, line and
//! text sizes per image size.

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

/// Background of the caption bar.
pub const CAPTION_BACKGROUND: Rgb = [0, 0, 0];
/// Text colour of the caption bar.
pub const CAPTION_TEXT: Rgb = [255, 255, 255];

/// The box colour of a label: a [`PALETTE`] entry picked by the label's 32-bit FNV-1a
/// hash, so the same label has the same colour in every image, every run and every
/// version (the hash is fixed here, not the standard library's randomised one).
pub fn label_color(label: &str) -> Rgb {
    let mut h: u32 = 0x811c_9dc5;
    for b in label.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[h as usize % PALETTE.len()]
}

/// Black or white, whichever reads better on `background` (BT.601 luma above 150 → black).
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

/// Text height in pixels (the font's ascent to descent): `max(width, height) / 50`,
/// between 12 and 128. 12 pixels up to 600 pixels, 20 at 1000, 80 at 4000.
pub fn text_height(width: u32, height: u32) -> u32 {
    (width.max(height) / 50).clamp(12, 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_colors_are_fixed_and_varied() {
        // Pinned: the colours must not change between runs or versions (a hasher with a
        // random seed, or another hash, fails here).
        assert_eq!(label_color("person"), PALETTE[8]);
        assert_eq!(label_color("car"), PALETTE[1]);
        assert_eq!(label_color("face"), PALETTE[4]);
        assert_eq!(label_color("cat"), PALETTE[11]);
        assert_eq!(label_color(""), PALETTE[0x811c_9dc5 % 12]);
        let labels = [
            "person", "car", "dog", "cat", "bicycle", "truck", "bird", "bus",
        ];
        let distinct: std::collections::HashSet<Rgb> =
            labels.iter().map(|l| label_color(l)).collect();
        assert!(distinct.len() >= 6, "{distinct:?}");
    }

    #[test]
    fn text_is_black_on_light_and_white_on_dark() {
        assert_eq!(text_color_on([255, 225, 25]), [0, 0, 0]);
        assert_eq!(text_color_on([210, 245, 60]), [0, 0, 0]);
        assert_eq!(text_color_on([0, 0, 0]), [255, 255, 255]);
        assert_eq!(text_color_on([145, 30, 180]), [255, 255, 255]);
    }

    #[test]
    fn sizes_scale_with_the_image() {
        assert_eq!(line_thickness(640, 480), 2);
        assert_eq!(line_thickness(4000, 3000), 10);
        assert_eq!(text_height(270, 270), 12);
        assert_eq!(text_height(1000, 10), 20);
        assert_eq!(text_height(3000, 4000), 80);
        assert_eq!(text_height(100_000, 10), 128);
    }
}
