//! Quarter turns of a square model input: the rotated variants of one letterboxed
//! tensor, and the map of a box found in a turned input back to the upright input.
//!
//! Coordinates are continuous input pixels, `0..size` on each axis (pixel `(x, y)` covers
//! `x..x + 1`, `y..y + 1`), as BlazeFace's anchors and boxes are.

/// A clockwise rotation by a multiple of 90 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QuarterTurn {
    /// No rotation (the upright image).
    #[default]
    R0,
    /// 90 degrees clockwise.
    R90,
    /// 180 degrees.
    R180,
    /// 270 degrees clockwise (90 counter-clockwise).
    R270,
}

impl QuarterTurn {
    /// Every turn, upright first.
    pub const ALL: [QuarterTurn; 4] = [
        QuarterTurn::R0,
        QuarterTurn::R90,
        QuarterTurn::R180,
        QuarterTurn::R270,
    ];

    /// The turn that undoes this one.
    pub fn inverse(self) -> QuarterTurn {
        match self {
            QuarterTurn::R90 => QuarterTurn::R270,
            QuarterTurn::R270 => QuarterTurn::R90,
            other => other,
        }
    }

    /// Where point `(x, y)` of a `size × size` square lands after this turn.
    pub fn point(self, (x, y): (f32, f32), size: f32) -> (f32, f32) {
        match self {
            QuarterTurn::R0 => (x, y),
            QuarterTurn::R90 => (size - y, x),
            QuarterTurn::R180 => (size - x, size - y),
            QuarterTurn::R270 => (y, size - x),
        }
    }

    /// The box `[x_min, y_min, x_max, y_max]` found in the turned square, in the upright
    /// square's coordinates (a quarter turn keeps boxes axis-aligned).
    pub fn unturn_box(self, b: [f32; 4], size: f32) -> [f32; 4] {
        let inv = self.inverse();
        let (ax, ay) = inv.point((b[0], b[1]), size);
        let (bx, by) = inv.point((b[2], b[3]), size);
        [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)]
    }

    /// The pixel of the upright `size × size` square that pixel `(x, y)` of the turned
    /// square shows.
    fn source_pixel(self, x: usize, y: usize, size: usize) -> (usize, usize) {
        let last = size - 1;
        match self {
            QuarterTurn::R0 => (x, y),
            QuarterTurn::R90 => (y, last - x),
            QuarterTurn::R180 => (last - x, last - y),
            QuarterTurn::R270 => (last - y, x),
        }
    }
}

/// The turned copy of a `size × size` NHWC tensor of `channels` values per pixel.
/// `None` when `tensor` does not hold exactly `size * size * channels` values.
pub fn turn_square_nhwc(
    tensor: &[f32],
    size: usize,
    channels: usize,
    turn: QuarterTurn,
) -> Option<Vec<f32>> {
    if size == 0 || size.checked_mul(size)?.checked_mul(channels)? != tensor.len() {
        return None;
    }
    let mut out = Vec::with_capacity(tensor.len());
    for y in 0..size {
        for x in 0..size {
            let (sx, sy) = turn.source_pixel(x, y, size);
            let at = (sy * size + sx) * channels;
            out.extend_from_slice(&tensor[at..at + channels]);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 × 4 one-channel square with one bright pixel at (1, 0).
    fn marked() -> Vec<f32> {
        let mut t = vec![0.0; 16];
        t[1] = 1.0;
        t
    }

    fn bright(t: &[f32]) -> (usize, usize) {
        let i = t.iter().position(|&v| v == 1.0).unwrap();
        (i % 4, i / 4)
    }

    #[test]
    fn turning_moves_pixels_clockwise_and_boxes_map_back() {
        for (turn, want) in [
            (QuarterTurn::R0, (1, 0)),
            (QuarterTurn::R90, (3, 1)),
            (QuarterTurn::R180, (2, 3)),
            (QuarterTurn::R270, (0, 2)),
        ] {
            let t = turn_square_nhwc(&marked(), 4, 1, turn).unwrap();
            assert_eq!(bright(&t), want, "{turn:?}");
            // The bright pixel's cell, found in the turned square, maps back to (1, 0).
            let (x, y) = (want.0 as f32, want.1 as f32);
            let b = turn.unturn_box([x, y, x + 1.0, y + 1.0], 4.0);
            assert_eq!(b, [1.0, 0.0, 2.0, 1.0], "{turn:?}");
            // The continuous point map agrees with the pixel map.
            assert_eq!(turn.point((1.5, 0.5), 4.0), (x + 0.5, y + 0.5), "{turn:?}");
        }
    }

    #[test]
    fn four_turns_are_identity_and_bad_sizes_are_refused() {
        let mut t: Vec<f32> = (0..5 * 5 * 3).map(|i| i as f32).collect();
        let orig = t.clone();
        for _ in 0..4 {
            t = turn_square_nhwc(&t, 5, 3, QuarterTurn::R90).unwrap();
        }
        assert_eq!(t, orig);
        assert!(turn_square_nhwc(&orig, 4, 3, QuarterTurn::R90).is_none());
        assert!(turn_square_nhwc(&[], 0, 3, QuarterTurn::R90).is_none());
    }
}
