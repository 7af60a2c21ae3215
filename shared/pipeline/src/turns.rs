//! Rotation-robust redaction. BlazeFace finds upright faces only, so for a catalog that
//! redacts, the face model also sees its upright letterboxed input turned by 90, 180 and
//! 270 degrees (the same tensor with its pixels moved: one decode, one resize). The
//! faces of every pass, mapped back to the upright image, are merged for redaction.
//! Catalogs that do not redact run the upright pass only.

use sightline_core::Detection;
use sightline_vision::preprocess::LetterboxGeometry;
use sightline_vision::turn::turn_square_nhwc;
use sightline_vision::{ModelOutput, Preprocess, QuarterTurn};

use crate::plan::FacePlan;
use crate::prepare::ModelInput;

/// Values per pixel of a letterboxed (NHWC, RGB) input.
const CHANNELS: usize = 3;

/// The face model's passes beyond the upright one in a catalog that redacts: 90, 180 and
/// 270 degrees.
pub(crate) const TURNED_PASSES: usize = 3;

/// The face model's input turned by 90, 180 and 270 degrees, for a `preprocess` that
/// letterboxes into a square (none otherwise: there is nothing to turn).
pub(crate) fn turned_inputs(upright: &ModelInput, preprocess: &Preprocess) -> Vec<ModelInput> {
    let Preprocess::Letterbox(letterbox) = preprocess else {
        return Vec::new();
    };
    let size = letterbox.size as usize;
    QuarterTurn::ALL
        .into_iter()
        .filter(|&t| t != QuarterTurn::R0)
        .filter_map(|turn| {
            let tensor = turn_square_nhwc(&upright.tensor, size, CHANNELS, turn)?;
            Some(ModelInput {
                model: upright.model,
                turn,
                tensor,
                geometry: upright.geometry,
            })
        })
        .collect()
}

/// Every face to redact: the faces at or above the catalog's `min_score` (the turned
/// passes: `turned_min_score`, by default the same) from each
/// pass (`outputs`: the face model's output per turn, upright included), in upright image
/// pixels, merged by NMS at the catalog's `nms_iou`. No `max_faces` cap: that bounds the
/// reported rows, not what is hidden. No `within` gate either (privacy first).
pub fn faces_to_redact<'a>(
    plan: &FacePlan,
    outputs: impl IntoIterator<Item = (QuarterTurn, &'a ModelOutput)>,
    geometry: LetterboxGeometry,
    size: (u32, u32),
) -> Vec<Detection> {
    let upright = plan.config.min_score;
    let turned = plan.config.turned_min_score.unwrap_or(upright);
    let found: Vec<Detection> = outputs
        .into_iter()
        .flat_map(|(turn, out)| {
            let min_score = if turn == QuarterTurn::R0 {
                upright
            } else {
                turned
            };
            (plan.decoder).decode(&out.raw, geometry, turn, size, min_score)
        })
        .collect();
    plan.filter.uncapped().apply(found)
}

#[cfg(test)]
mod tests {
    use sightline_core::CatalogConfig;
    use sightline_vision::face::{anchors, FaceDecoder, FaceFormat};
    use sightline_vision::DetectionFilter;

    use super::*;
    use crate::plan::ModelId;

    /// BlazeFace outputs with one face `[x1, y1, x2, y2]` (input pixels) at `score`.
    fn output(b: [f32; 4], score: f32) -> ModelOutput {
        let a = anchors();
        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        let d = |i: usize| (a[i].0 - cx).powi(2) + (a[i].1 - cy).powi(2);
        let i = (0..a.len()).min_by(|&p, &q| d(p).total_cmp(&d(q))).unwrap();
        let mut scores = vec![-10.0f32; 896];
        scores[i] = (score / (1.0 - score)).ln();
        let mut regs = vec![0.0f32; 896 * 16];
        regs[i * 16..i * 16 + 4].copy_from_slice(&[
            cx - a[i].0,
            cy - a[i].1,
            b[2] - b[0],
            b[3] - b[1],
        ]);
        let (s16, s32) = scores.split_at(512);
        let (r16, r32) = regs.split_at(512 * 16);
        ModelOutput {
            n: 1,
            raw: vec![
                (512, s16.to_vec()),
                (512 * 16, r16.to_vec()),
                (384, s32.to_vec()),
                (384 * 16, r32.to_vec()),
            ],
            ..ModelOutput::default()
        }
    }

    fn plan() -> FacePlan {
        let toml = "name = \"t\"\n[faces]\nmodel = \"f\"\nmin_score = 0.5\nnms_iou = 0.3\n\
                    max_faces = 1\n";
        let config = CatalogConfig::from_toml(toml, "test")
            .unwrap()
            .faces
            .unwrap();
        FacePlan {
            model: ModelId(0),
            filter: DetectionFilter::from(&config),
            class_offset: 0,
            config,
            decoder: FaceDecoder {
                format: FaceFormat::Blazeface,
                side: 256,
            },
        }
    }

    #[test]
    fn faces_of_every_turn_map_back_and_merge_without_a_cap() {
        // A 512 × 256 image: scale 0.5, padded 64 px above and below in the 256 input.
        let geometry = LetterboxGeometry {
            scale: 0.5,
            dx: 0.0,
            dy: 64.0,
        };
        // Upright face at input (40, 80)-(72, 112): image (80, 32)-(144, 96).
        let upright = output([40.0, 80.0, 72.0, 112.0], 0.9);
        // The same face seen a quarter turn clockwise: input (256 - 112, 40)-(256 - 80, 72).
        let same = output([144.0, 40.0, 176.0, 72.0], 0.8);
        // Another face, only seen upside down at input (16, 100)-(48, 132): upright input
        // (208, 124)-(240, 156), image (416, 120)-(480, 184).
        let other = output([16.0, 100.0, 48.0, 132.0], 0.7);
        let weak = output([100.0, 100.0, 140.0, 140.0], 0.4);
        let outs = [
            (QuarterTurn::R0, &upright),
            (QuarterTurn::R90, &same),
            (QuarterTurn::R180, &other),
            (QuarterTurn::R270, &weak),
        ];
        let faces = faces_to_redact(&plan(), outs, geometry, (512, 256));
        assert_eq!(faces.len(), 2, "{faces:?}");
        let near = |d: &Detection, b: [f32; 4]| {
            [d.x_min, d.y_min, d.x_max, d.y_max]
                .iter()
                .zip(b)
                .all(|(g, w)| (g - w).abs() < 0.5)
        };
        assert!(near(&faces[0], [80.0, 32.0, 144.0, 96.0]), "{faces:?}");
        assert!(
            (faces[0].score - 0.9).abs() < 1e-3,
            "the upright box wins the NMS"
        );
        assert!(near(&faces[1], [416.0, 120.0, 480.0, 184.0]), "{faces:?}");
    }
}
