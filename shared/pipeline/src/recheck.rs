//! Redaction checked by the face model. After the faces are pixelated, the face model
//! runs again over the redacted image at every quarter turn, and whatever it still finds
//! at or above the catalog's `min_score` is pixelated in turn, for up to
//! [`MAX_RECHECKS`] rounds. A pixelated face can still look like one to BlazeFace (the
//! mosaic keeps dark eye and mouth cells: scores 0.55–0.63 on `camera.jpg`), and a
//! face-like pattern near the threshold can cross it once its surroundings change.

use sightline_core::Detection;
use sightline_vision::{ModelOutput, QuarterTurn, RgbImage};

use crate::plan::FacePlan;
use crate::prepare::ModelInput;
use crate::redact::redact_faces;
use crate::turns::{faces_to_redact, turned_inputs};
use crate::{Pipeline, PipelineError};

/// Most rounds of "detect again, redact what is found" after the first redaction.
pub const MAX_RECHECKS: usize = 3;

impl Pipeline {
    /// Pixelates `faces` in `image`, then re-checks it with the face model (see the
    /// module docs). Returns the redacted image and the milliseconds the re-check's model
    /// runs took. Without faces there is nothing to re-check: the image is unchanged, so
    /// the model would find nothing again.
    pub(crate) async fn redact_checked(
        &self,
        plan: &FacePlan,
        image: RgbImage,
        faces: Vec<Detection>,
    ) -> Result<(RgbImage, f32), PipelineError> {
        if faces.is_empty() {
            return Ok((image, 0.0));
        }
        let mut image = blocking(move || {
            let mut image = image;
            redact_faces(&mut image, &faces);
            image
        })
        .await?;
        let mut run_ms = 0.0;
        for _ in 0..MAX_RECHECKS {
            let (checked, found, ms) = self.faces_in(plan, image).await?;
            run_ms += ms;
            if found.is_empty() {
                return Ok((checked, run_ms));
            }
            image = blocking(move || {
                let mut image = checked;
                redact_faces(&mut image, &found);
                image
            })
            .await?;
        }
        tracing::debug!("redaction re-checked {MAX_RECHECKS} times");
        Ok((image, run_ms))
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
