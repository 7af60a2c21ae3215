//! Redaction checked by the face model. After the faces (and the catalog's detector
//! boxes) are hidden, the face model runs again over the redacted image at every quarter
//! turn, and whatever it still finds at or above the catalog's `min_score` is hidden in
//! turn, for up to [`MAX_RECHECKS`] rounds. A pixelated face can still look like one (the
//! mosaic keeps dark eye and mouth cells: BlazeFace scores 0.55–0.63 on `camera.jpg`), and
//! a face-like pattern near the threshold can cross it once its surroundings change. A
//! find centred in a region already hidden is that region seen again: hidden once more
//! (its box may reach further), not counted as a face, and no reason for another round;
//! the rounds stop when a round finds no new face.

use sightline_core::Detection;
use sightline_vision::{ModelOutput, QuarterTurn, RgbImage};

use crate::plan::FacePlan;
use crate::prepare::ModelInput;
use crate::redact::{hide, REDACT_MARGIN};
use crate::turns::{faces_to_redact, turned_inputs};
use crate::{Pipeline, PipelineError};

/// Most rounds of "detect again, redact what is found" after the first redaction.
pub const MAX_RECHECKS: usize = 3;

/// A redacted image and what it took.
#[derive(Debug)]
pub(crate) struct CheckedRedaction {
    /// The image with every face and region hidden.
    pub image: RgbImage,
    /// Every face hidden: the first pass's, and the re-checks' finds outside the regions
    /// already hidden, merged by the catalog's NMS (no cap), in image pixels.
    pub faces: Vec<Detection>,
    /// Milliseconds of the re-check's model runs.
    pub run_ms: f32,
}

impl Pipeline {
    /// Hides `faces` and `regions` (detector boxes) in `image`, then re-checks it with the
    /// face model (see the module docs). With nothing to hide there is nothing to
    /// re-check: the image is unchanged, so the model would find nothing again.
    pub(crate) async fn redact_checked(
        &self,
        plan: &FacePlan,
        image: RgbImage,
        faces: Vec<Detection>,
        regions: &[Detection],
    ) -> Result<CheckedRedaction, PipelineError> {
        if faces.is_empty() && regions.is_empty() {
            return Ok(CheckedRedaction {
                image,
                faces,
                run_ms: 0.0,
            });
        }
        let look = plan.config.redact_style;
        let mut all = faces.clone();
        let hidden = regions.to_vec();
        let mut image = blocking(move || {
            let mut image = image;
            hide(&mut image, &faces, &hidden, look);
            image
        })
        .await?;
        let mut run_ms = 0.0;
        for _ in 0..MAX_RECHECKS {
            let (checked, found, ms) = self.faces_in(plan, image).await?;
            run_ms += ms;
            // A find centred in a hidden region is that region seen again: it is hidden
            // once more (its box may reach further) but is no new face, and only new faces
            // call for another round.
            let new: Vec<Detection> = found
                .iter()
                .filter(|f| !all.iter().any(|a| centre_within(f, a, REDACT_MARGIN)))
                .filter(|f| !regions.iter().any(|r| centre_within(f, r, 0.0)))
                .cloned()
                .collect();
            image = blocking(move || {
                let mut image = checked;
                hide(&mut image, &found, &[], look);
                image
            })
            .await?;
            if new.is_empty() {
                break;
            }
            all.extend(new);
        }
        let faces = plan.filter.uncapped().apply(all);
        Ok(CheckedRedaction {
            image,
            faces,
            run_ms,
        })
    }

    /// The faces the face model finds in `image` at every quarter turn, at or above the
    /// catalog's threshold, in `image`'s pixels; `image` is handed back, with the model
    /// run's milliseconds.
    async fn faces_in(
        &self,
        plan: &FacePlan,
        image: RgbImage,
    ) -> Result<(RgbImage, Vec<Detection>, f32), PipelineError> {
        let model = plan.model;
        let pp = self.plans.models().get(model).preprocess();
        let (image, inputs) = blocking(move || {
            let mut tensor = vec![0f32; pp.tensor_len()];
            let geometry = pp.run(&image, &mut tensor);
            let upright = ModelInput {
                model,
                turn: QuarterTurn::R0,
                tensor,
                geometry,
            };
            let mut inputs = turned_inputs(&upright, &pp);
            inputs.insert(0, upright);
            (image, inputs)
        })
        .await?;
        let Some(geometry) = inputs[0].geometry else {
            return Ok((image, Vec::new(), 0.0));
        };
        let n = inputs.len();
        let batch: Vec<f32> = inputs
            .iter()
            .flat_map(|i| i.tensor.iter().copied())
            .collect();
        let out = self.inference.run(model, batch, n).await?;
        let outputs: Vec<(QuarterTurn, ModelOutput)> = inputs
            .iter()
            .enumerate()
            .map(|(k, i)| (i.turn, out.slice(k)))
            .collect();
        let size = (image.width, image.height);
        let found = faces_to_redact(plan, outputs.iter().map(|(t, o)| (*t, o)), geometry, size);
        Ok((image, found, out.run_ms))
    }
}

/// Whether `f`'s centre lies in `a`'s box grown by `margin` of its size on every side (the
/// hidden region: [`REDACT_MARGIN`] for a face, 0 for a detector box).
fn centre_within(f: &Detection, a: &Detection, margin: f32) -> bool {
    let (cx, cy) = ((f.x_min + f.x_max) / 2.0, (f.y_min + f.y_max) / 2.0);
    let (mx, my) = ((a.x_max - a.x_min) * margin, (a.y_max - a.y_min) * margin);
    (a.x_min - mx..=a.x_max + mx).contains(&cx) && (a.y_min - my..=a.y_max + my).contains(&cy)
}

/// Runs CPU work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PipelineError::TaskFailed {
            task: "redaction",
            message: e.to_string(),
        })
}
