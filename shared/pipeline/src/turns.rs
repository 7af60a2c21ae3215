//! Rotation-robust redaction. BlazeFace finds upright faces only, so for a catalog that
//! redacts, the face model also sees its upright letterboxed input turned by 90, 180 and
//! 270 degrees (the same tensor with its pixels moved: one decode, one resize). The
//! faces of every pass, mapped back to the upright image, are merged for redaction.
//! Catalogs that do not redact run the upright pass only.

use sightline_core::Detection;
use sightline_vision::face::decode_blazeface_turned;
use sightline_vision::preprocess::LetterboxGeometry;
use sightline_vision::turn::turn_square_nhwc;
use sightline_vision::{DetectionFilter, ModelOutput, Preprocess, QuarterTurn};

use crate::plan::FacePlan;
use crate::prepare::ModelInput;

/// Values per pixel of a letterboxed (NHWC, RGB) input.
const CHANNELS: usize = 3;

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

/// Every face to redact: the faces at or above the catalog's `min_score` from each
/// pass (`outputs`: the face model's output per turn, upright included), in upright image
/// pixels, merged by NMS at the catalog's `nms_iou`. No `max_faces` cap: that bounds the
/// reported rows, not what is hidden. No `within` gate either (privacy first).
pub fn faces_to_redact<'a>(
    plan: &FacePlan,
    outputs: impl IntoIterator<Item = (QuarterTurn, &'a ModelOutput)>,
    geometry: LetterboxGeometry,
    size: (u32, u32),
) -> Vec<Detection> {
    let min_score = plan.config.min_score;
    let found: Vec<Detection> = outputs
        .into_iter()
        .flat_map(|(turn, out)| decode_blazeface_turned(&out.raw, geometry, turn, size, min_score))
        .collect();
    DetectionFilter {
        max_detections: usize::MAX,
        ..plan.filter.clone()
    }
    .apply(found)
}
