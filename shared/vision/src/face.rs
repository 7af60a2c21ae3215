//! BlazeFace decoding: anchors, sigmoid scores, boxes relative to anchors, mapped back
//! to image pixels (MediaPipe's 256×256 full-range model, as @vladmandic/human decodes it).

use sightline_core::Detection;

use crate::preprocess::LetterboxGeometry;
use crate::turn::QuarterTurn;

/// Side of the model's square input in pixels.
pub const INPUT_SIZE: f32 = 256.0;

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
    (width, height): (u32, u32),
    min_score: f32,
) -> Vec<Detection> {
    let [(_, s16), (_, r16), (_, s32), (_, r32)] = raw else {
        return Vec::new();
    };
    let scores = s16.iter().chain(s32.iter());
    let regs = r16.chunks_exact(16).chain(r32.chunks_exact(16));
    let (w, h) = (width as f32, height as f32);
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
            let [ux1, uy1, ux2, uy2] = turn.unturn_box(turned, INPUT_SIZE);
            let (x1, y1) = geometry.to_image(ux1, uy1);
            let (x2, y2) = geometry.to_image(ux2, uy2);
            Some(Detection {
                class_id: 0,
                label: "face".into(),
                score,
                x_min: x1.clamp(0.0, w),
                y_min: y1.clamp(0.0, h),
                x_max: x2.clamp(0.0, w),
                y_max: y2.clamp(0.0, h),
            })
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
}
