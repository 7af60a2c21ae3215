//! Stage 2: a micro-batch of prepared images through the models (one batched run per
//! model), then each image's findings, redacted copy and row.

use std::collections::HashMap;

use futures::future::join_all;
use sightline_core::{Detection, WorkItem};
use sightline_vision::{ModelOutput, QuarterTurn, RgbImage, VisionError};

use crate::analyze::{
    analyze, regions_to_hide, report_redacted_faces, report_redacted_regions, ImageFrame,
};
use crate::heads::BatchHeads;
use crate::outcome::{ItemOutcome, Settled};
use crate::plan::{FacePlan, ModelId};
use crate::prepare::Prepared;
use crate::redact::Redacted;
use crate::rows::{build_row, RowContent, RowContext};
use crate::turns::faces_to_redact;
use crate::{Pipeline, PipelineError};

/// One image's model outputs and its share of the batched runs' time.
#[derive(Debug, Default)]
pub(crate) struct ImageOutputs {
    /// Outputs of the upright inputs, by model.
    pub by_model: HashMap<ModelId, ModelOutput>,
    /// Outputs of the face model's turned inputs (catalogs that redact).
    pub turned: Vec<(QuarterTurn, ModelOutput)>,
    /// Milliseconds of model time attributed to this image.
    pub infer_ms: f32,
}

/// One input of a batched run: the image's position in its chunk, its turn, its tensor.
type Member<'a> = (usize, QuarterTurn, &'a [f32]);

impl Pipeline {
    /// Runs `chunk` through its models and settles every image: a row (with its redacted
    /// copy written first, all copies of the chunk concurrently), or a retry.
    pub(crate) async fn infer_chunk(
        &self,
        chunk: Vec<Prepared<'_>>,
        items: &[WorkItem],
        heads: &BatchHeads,
    ) -> Vec<Settled> {
        let outputs = self.run_models(&chunk).await;
        let finished = chunk
            .into_iter()
            .zip(outputs)
            .map(|(p, out)| self.finish(p, out, items, heads));
        join_all(finished).await
    }

    /// One batched run per model over the images of `chunk` that use it. A failed run
    /// fails every image that needed it.
    async fn run_models(&self, chunk: &[Prepared<'_>]) -> Vec<Result<ImageOutputs, VisionError>> {
        let mut results: Vec<Result<ImageOutputs, VisionError>> =
            chunk.iter().map(|_| Ok(ImageOutputs::default())).collect();
        let mut by_model: HashMap<ModelId, Vec<Member<'_>>> = HashMap::new();
        for (j, p) in chunk.iter().enumerate() {
            for input in &p.inputs {
                by_model
                    .entry(input.model)
                    .or_default()
                    .push((j, input.turn, &input.tensor));
            }
        }
        for (model, members) in by_model {
            let n = members.len();
            let input: Vec<f32> = members
                .iter()
                .flat_map(|(_, _, t)| t.iter().copied())
                .collect();
            match self.inference.run(model, input, n).await {
                Ok(out) => {
                    for (k, (j, turn, _)) in members.iter().enumerate() {
                        if let Ok(r) = &mut results[*j] {
                            r.infer_ms += out.run_ms / n as f32;
                            if *turn == QuarterTurn::R0 {
                                r.by_model.insert(model, out.slice(k));
                            } else {
                                r.turned.push((*turn, out.slice(k)));
                            }
                        }
                    }
                }
                Err(e) => {
                    for (j, _, _) in members {
                        results[j] = Err(VisionError::Inference {
                            model: self.plans.models().get(model).manifest.name.clone(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        results
    }

    /// Findings (labels from the catalog's head when it serves one) → redacted copy (if the
    /// catalog redacts: every face of every turn) → row.
    async fn finish(
        &self,
        mut p: Prepared<'_>,
        outputs: Result<ImageOutputs, VisionError>,
        items: &[WorkItem],
        heads: &BatchHeads,
    ) -> Settled {
        let index = p.index;
        let item = &items[index];
        let settle = |outcome| Settled { index, outcome };
        let plan = p.plan;
        let outputs = match outputs {
            Ok(o) => o,
            Err(e) => return settle(ItemOutcome::failed(item, p.ctx, e.into())),
        };
        p.ctx.execution_provider = self.inference.execution_provider().to_string();
        p.ctx.timings.infer_ms = outputs.infer_ms;
        let frame = ImageFrame {
            size: p.ctx.size_px.unwrap_or_default(),
            detector: plan.detector.as_ref().and_then(|d| p.geometry(d.model)),
            faces: plan.faces.as_ref().and_then(|f| p.geometry(f.model)),
        };
        // The input tensors are spent: their share of the budget now covers the re-check's
        // (a redacting catalog runs the face model again, at four turns).
        drop(std::mem::take(&mut p.inputs));
        let head = heads.get(&self.head_key(item));
        let classified = match (head, plan.embedding_of(&outputs.by_model)) {
            (Some(h), Some(embedding)) => match h.classify(embedding) {
                Ok(c) => {
                    (p.ctx.model, p.ctx.model_version) =
                        plan.columns_with_head(&h.model, &h.model_version);
                    Some(c)
                }
                Err(e) => return settle(ItemOutcome::failed(item, p.ctx, e.into())),
            },
            _ => None,
        };
        let mut findings = analyze(
            plan,
            self.plans.models(),
            &outputs.by_model,
            frame,
            classified,
        );
        if let (Some(image), Some(f)) = (p.image.take(), &plan.faces) {
            let redactable = std::mem::take(&mut findings.redactable);
            match self
                .redaction(item, f, image, &outputs, frame, &redactable, &mut p.ctx)
                .await
            {
                Ok((redacted, hidden)) => {
                    report_redacted_faces(&mut findings.analysis, f, hidden.faces);
                    report_redacted_regions(&mut findings.analysis, &hidden.regions);
                    match redacted {
                        Redacted::Written(key) => findings.analysis.redacted_key = Some(key),
                        Redacted::Skipped(why) => {
                            // No copy: nothing was redacted (the faces stay as detections).
                            findings.analysis.faces_redacted = None;
                            findings.analysis.redaction_skipped = Some(why);
                        }
                    }
                }
                Err(e) => return settle(ItemOutcome::failed(item, p.ctx, e)),
            }
        }
        // The redacted copy is written and the kept image gone: the item's memory goes
        // back to the budget (on the early returns above, with `p`).
        drop(p.budget.take());
        let row = build_row(item, p.ctx, RowContent::Analyzed(findings.analysis));
        settle(ItemOutcome::Row(Box::new(row)))
    }

    /// One image's redaction: the faces of every turn and the detector boxes the catalog
    /// hides ([`regions_to_hide`] of `redactable`), hidden and re-checked
    /// ([`crate::turns`], [`crate::recheck`]), then the copy written unless over its bound.
    /// The re-check's model time is added to the row's `infer_ms`.
    #[allow(clippy::too_many_arguments)]
    async fn redaction(
        &self,
        item: &WorkItem,
        plan: &FacePlan,
        image: RgbImage,
        outputs: &ImageOutputs,
        frame: ImageFrame,
        redactable: &[Detection],
        ctx: &mut RowContext,
    ) -> Result<(Redacted, Hidden), PipelineError> {
        let faces = match frame.faces {
            Some(geometry) => {
                let upright = outputs.by_model.get(&plan.model);
                let upright = upright.map(|o| (QuarterTurn::R0, o));
                let turned = outputs.turned.iter().map(|(t, o)| (*t, o));
                faces_to_redact(
                    plan,
                    upright.into_iter().chain(turned),
                    geometry,
                    frame.size,
                )
            }
            None => Vec::new(),
        };
        let regions = regions_to_hide(plan, redactable, &faces);
        let checked = self.redact_checked(plan, image, faces, &regions).await?;
        ctx.timings.infer_ms += checked.run_ms;
        let original_bytes = ctx.size.unwrap_or(0).max(0) as u64;
        let written = (self.write_redacted(item, checked.image, original_bytes)).await?;
        let faces = checked.faces;
        Ok((written, Hidden { faces, regions }))
    }
}

/// What one image's redaction hid.
struct Hidden {
    /// Every face, any pass, in image pixels.
    faces: Vec<Detection>,
    /// The detector boxes hidden whole.
    regions: Vec<Detection>,
}
