//! Face detector decoding, by the manifest's `outputs.face_format`:
//! * `blazeface`: anchors, sigmoid scores, boxes relative to anchors (MediaPipe's 256×256
//!   full-range model, as @vladmandic/human decodes it);
//! * `centerface`: CenterFace's stride-4 heatmap, log-scale box sizes and centre offsets
//!   (as deface decodes them), at any square input side that is a multiple of 32.
//!
//! Boxes are turned back when the input was a quarter turn of the upright letterbox, then
//! mapped to image pixels.

use serde::Deserialize;
use sightline_core::Detection;

use crate::preprocess::LetterboxGeometry;
use crate::turn::QuarterTurn;

/// Side of BlazeFace's square input in pixels.
pub const INPUT_SIZE: f32 = 256.0;

/// Stride of CenterFace's output grid in input pixels.
pub const CENTERFACE_STRIDE: usize = 4;

/// How a face model's raw outputs are laid out (`outputs.face_format` in its manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceFormat {
    /// `raw` = scores and regressors of strides 16 and 32 (896 anchors, 256-px input).
    #[default]
    Blazeface,
    /// `raw` = heatmap `[1, S/4, S/4]`, scale `[2, S/4, S/4]` (log height, log width),
    /// offset `[2, S/4, S/4]` (y, x), for an `S × S` input.
    Centerface,
}

/// A face model's decoder: its output format and the side of its square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaceDecoder {
    /// The raw outputs' layout.
    pub format: FaceFormat,
    /// The letterboxed input's side in pixels.
    pub side: u32,
}

impl FaceDecoder {
    /// Faces with score ≥ `min_score` in the raw outputs of one input (the upright
    /// letterbox turned by `turn`), in the upright image's pixels (`size`), clipped. Class
    /// id 0, label `face`; not yet merged by NMS.
    pub fn decode(
        &self,
        raw: &[(usize, Vec<f32>)],
        geometry: LetterboxGeometry,
        turn: QuarterTurn,
        size: (u32, u32),
        min_score: f32,
    ) -> Vec<Detection> {
        match self.format {
            FaceFormat::Blazeface => decode_blazeface_turned(raw, geometry, turn, size, min_score),
            FaceFormat::Centerface => {
                let boxes = centerface_boxes(raw, self.side as usize, min_score);
                let side = self.side as f32;
                boxes
                    .into_iter()
                    .map(|(b, score)| to_image(turn.unturn_box(b, side), score, geometry, size))
                    .collect()
            }
        }
    }
}

/// CenterFace's boxes `([x1, y1, x2, y2] in input pixels, score)` for an `side × side`
/// input: every heatmap cell at or above `min_score`, its box centred at
/// `(cell + offset + 0.5) × 4` with sides `exp(scale) × 4`. Empty when the outputs do not
/// have the sizes `side` implies.
pub fn centerface_boxes(
    raw: &[(usize, Vec<f32>)],
    side: usize,
    min_score: f32,
) -> Vec<([f32; 4], f32)> {
    let cells = (side / CENTERFACE_STRIDE).pow(2);
    let [(_, heat), (_, scale), (_, offset), ..] = raw else {
        return Vec::new();
    };
    if heat.len() != cells || scale.len() != 2 * cells || offset.len() != 2 * cells {
        return Vec::new();
    }
    let grid = side / CENTERFACE_STRIDE;
    let stride = CENTERFACE_STRIDE as f32;
    heat.iter()
        .enumerate()
        .filter(|(_, &score)| score >= min_score)
        .map(|(i, &score)| {
            let (row, col) = ((i / grid) as f32, (i % grid) as f32);
            let (h, w) = (
                scale[i].clamp(-20.0, 20.0).exp() * stride,
                scale[cells + i].clamp(-20.0, 20.0).exp() * stride,
            );
            let cy = (row + offset[i] + 0.5) * stride;
            let cx = (col + offset[cells + i] + 0.5) * stride;
            let b = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
            (b, score)
        })
        .collect()
}

/// A box of the upright letterboxed input as a face detection in image pixels, clipped.
fn to_image(
    b: [f32; 4],
    score: f32,
    geometry: LetterboxGeometry,
    (width, height): (u32, u32),
) -> Detection {
    let (w, h) = (width as f32, height as f32);
    let (x1, y1) = geometry.to_image(b[0], b[1]);
    let (x2, y2) = geometry.to_image(b[2], b[3]);
    Detection {
        class_id: 0,
        label: "face".into(),
        score,
        x_min: x1.clamp(0.0, w),
        y_min: y1.clamp(0.0, h),
        x_max: x2.clamp(0.0, w),
        y_max: y2.clamp(0.0, h),
    }
}

/// Anchors for the 256-px model: stride 16 (16×16 cells, 2 anchors each) then stride 32
/// (8×8 cells, 6 anchors each), row-major over (y, x), centres in input pixels.
pub fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(896);
    for (stride, per_cell) in [(16usize, 2usize), (32, 6)] {
        let cells = 256 / stride;
        for gy in 0..cells {
            for gx in 0..cells {
                for _ in 0..per_cell {
                    out.push((
                        stride as f32 * (gx as f32 + 0.5),
                        stride as f32 * (gy as f32 + 0.5),
                    ));
                }
            }
        }
    }
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-80.0, 80.0)).exp())
}

/// Decodes one image's raw outputs (`scores_16, regressors_16, scores_32, regressors_32`)
/// into face boxes in image pixels, clipped, keeping those with score ≥ `min_score`.
/// Class id 0, label `face`. Landmarks are not kept.
pub fn decode_blazeface(
    raw: &[(usize, Vec<f32>)],
    geometry: LetterboxGeometry,
    size: (u32, u32),
    min_score: f32,
) -> Vec<Detection> {
    decode_blazeface_turned(raw, geometry, QuarterTurn::R0, size, min_score)
}

/// [`decode_blazeface`] for outputs of the upright letterboxed input turned by `turn`:
/// each box is turned back in the input square before it is mapped to image pixels, so
/// the boxes are in the upright image's coordinates.
pub fn decode_blazeface_turned(
    raw: &[(usize, Vec<f32>)],
    geometry: LetterboxGeometry,
    turn: QuarterTurn,
    size: (u32, u32),
    min_score: f32,
) -> Vec<Detection> {
    let [(_, s16), (_, r16), (_, s32), (_, r32)] = raw else {
        return Vec::new();
    };
    let scores = s16.iter().chain(s32.iter());
    let regs = r16.chunks_exact(16).chain(r32.chunks_exact(16));
    anchors()
        .into_iter()
        .zip(scores.zip(regs))
        .filter_map(|((ax, ay), (&logit, r))| {
            let score = sigmoid(logit);
            if score < min_score {
                return None;
            }
            let (cx, cy) = (ax + r[0], ay + r[1]);
            let turned = [
                cx - r[2] / 2.0,
                cy - r[3] / 2.0,
                cx + r[2] / 2.0,
                cy + r[3] / 2.0,
            ];
            Some(to_image(
                turn.unturn_box(turned, INPUT_SIZE),
                score,
                geometry,
                size,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_layout() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!((a[0], a[1], a[2]), ((8.0, 8.0), (8.0, 8.0), (24.0, 8.0)));
        assert_eq!(a[512], (16.0, 16.0));
        assert_eq!(a[895], (240.0, 240.0));
    }

    #[test]
    fn centerface_cells_become_boxes_in_image_pixels() {
        // A 64-px input: a 16 x 16 grid. One face at cell (row 5, col 8), offset (0.25,
        // 0.5), 12 px tall and 8 px wide; another cell below the threshold.
        let side = 64;
        let cells = 16 * 16;
        let mut heat = vec![0.0f32; cells];
        let mut scale = vec![0.0f32; 2 * cells];
        let mut offset = vec![0.0f32; 2 * cells];
        let i = 5 * 16 + 8;
        heat[i] = 0.9;
        heat[3] = 0.1;
        scale[i] = (12.0f32 / 4.0).ln();
        scale[cells + i] = (8.0f32 / 4.0).ln();
        offset[i] = 0.25;
        offset[cells + i] = 0.5;
        let raw = vec![(cells, heat), (2 * cells, scale), (2 * cells, offset)];
        let boxes = centerface_boxes(&raw, side, 0.5);
        assert_eq!(boxes.len(), 1);
        let (b, score) = boxes[0];
        // Centre: x = (8 + 0.5 + 0.5) * 4 = 36, y = (5 + 0.25 + 0.5) * 4 = 23.
        let want = [32.0, 17.0, 40.0, 29.0];
        assert!(
            b.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-4),
            "{b:?}"
        );
        assert_eq!(score, 0.9);
        // A 128 x 64 image letterboxed into 64: scale 0.5, 16 px of padding above.
        let geometry = LetterboxGeometry {
            scale: 0.5,
            dx: 0.0,
            dy: 16.0,
        };
        let decoder = FaceDecoder {
            format: FaceFormat::Centerface,
            side: 64,
        };
        let faces = decoder.decode(&raw, geometry, QuarterTurn::R0, (128, 64), 0.5);
        let f = &faces[0];
        assert_eq!(
            [f.x_min, f.y_min, f.x_max, f.y_max],
            [64.0, 2.0, 80.0, 26.0]
        );
        // Outputs of the wrong size decode to nothing (another input side).
        assert!(centerface_boxes(&raw, 128, 0.5).is_empty());
    }
}
