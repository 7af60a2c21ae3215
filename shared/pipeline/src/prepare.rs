//! Stage 1: fetch an object, reserve the memory its decode needs in the pipeline's
//! budget (estimated from its header), decode it once, and preprocess it for each model
//! of its catalog (on blocking threads, at most one decode per CPU at a time).

use std::time::Instant;

use sightline_core::{Disposition, ErrorKind, WorkItem, UNROUTED_CATALOG};
use sightline_vision::preprocess::LetterboxGeometry;
use sightline_vision::{
    decode_at_least, probe_header, DecodeLimits, Preprocess, QuarterTurn, RgbImage, VisionError,
};

use crate::budget::{BudgetError, BudgetPermit};
use crate::footprint::footprint;
use crate::outcome::{ItemOutcome, Settled};
use crate::plan::{CatalogPlan, ModelId};
use crate::rows::RowContext;
use crate::turns::{turned_inputs, TURNED_PASSES};
use crate::{Pipeline, PipelineError};

/// One model's input for one image.
#[derive(Debug)]
pub(crate) struct ModelInput {
    /// The model.
    pub model: ModelId,
    /// How the image is turned in this input: upright, except the face model's extra
    /// passes of a catalog that redacts (see [`crate::turns`]).
    pub turn: QuarterTurn,
    /// Its input tensor.
    pub tensor: Vec<f32>,
    /// Where the image sits in a letterboxed input.
    pub geometry: Option<LetterboxGeometry>,
}

/// An image decoded and preprocessed, waiting for inference.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    /// Position of the work item in its batch.
    pub index: usize,
    /// The item's catalog.
    pub plan: &'a CatalogPlan,
    /// What the row will say about the object.
    pub ctx: RowContext,
    /// One upright input per model of the catalog, then the face model's turned inputs
    /// when the catalog redacts.
    pub inputs: Vec<ModelInput>,
    /// The decoded image, kept only when the catalog writes redacted copies.
    pub image: Option<RgbImage>,
    /// The image's share of the memory budget (its tensors and kept image), given back
    /// when the item is settled and this is dropped: after the redacted copy is written.
    /// `None` when the header could not be read before decoding.
    pub budget: Option<BudgetPermit>,
}

impl Prepared<'_> {
    /// Where the image sits in `model`'s (upright) letterboxed input.
    pub fn geometry(&self, model: ModelId) -> Option<LetterboxGeometry> {
        self.inputs
            .iter()
            .find(|i| i.model == model && i.turn == QuarterTurn::R0)
            .and_then(|i| i.geometry)
    }
}

/// What preparing one item gave.
pub(crate) enum PrepareResult<'a> {
    /// Ready for inference.
    Ready(Box<Prepared<'a>>),
    /// Finished early: an error row, or a retry.
    Settled(Settled),
}

/// What the blocking decode task hands back.
struct Decoded {
    size_px: (u32, u32),
    stats: sightline_core::ImageStats,
    inputs: Vec<ModelInput>,
    image: Option<RgbImage>,
}

impl Pipeline {
    /// Fetches, decodes and preprocesses item `index`.
    pub(crate) async fn prepare(&self, index: usize, item: &WorkItem) -> PrepareResult<'_> {
        let settle = |outcome| PrepareResult::Settled(Settled { index, outcome });
        let Some(plan) = self.plans.get(&item.catalog) else {
            return settle(unknown_catalog(item));
        };
        let mut ctx = RowContext::new(item, Some(plan));
        let t = Instant::now();
        let object = self
            .source
            .get(
                &item.object.bucket,
                &item.object.key,
                self.settings.max_object_bytes,
            )
            .await;
        ctx.timings.fetch_ms = ms(t);
        let object = match object {
            Ok(o) => o,
            Err(e) => return settle(ItemOutcome::failed(item, ctx, e.into())),
        };
        ctx.observe(&object);
        let preprocess = self.preprocessing(plan);
        let reserved = match self.reserve(plan, &preprocess, &object.bytes).await {
            Ok(r) => r,
            Err(e) => return settle(ItemOutcome::failed(item, ctx, e)),
        };
        let Ok(_permit) = self.cpu.acquire().await else {
            return settle(ItemOutcome::Retry("shutting down".into()));
        };
        let t = Instant::now();
        let decoded = self.decode(plan, preprocess, object.bytes).await;
        ctx.timings.decode_ms = ms(t);
        // The decode's buffers are gone: keep only what the item still holds.
        let budget = reserved.map(|(mut permit, kept)| {
            permit.shrink_to(kept);
            permit
        });
        match decoded {
            Ok(d) => {
                ctx.size_px = Some(d.size_px);
                ctx.stats = Some(d.stats);
                PrepareResult::Ready(Box::new(Prepared {
                    index,
                    plan,
                    ctx,
                    inputs: d.inputs,
                    image: d.image,
                    budget,
                }))
            }
            Err(e) => settle(ItemOutcome::failed(item, ctx, e)),
        }
    }

    /// Each model of `plan` with its preprocessing.
    fn preprocessing(&self, plan: &CatalogPlan) -> Vec<(ModelId, Preprocess)> {
        plan.model_ids()
            .into_iter()
            .map(|m| (m, self.plans.models().get(m).preprocess()))
            .collect()
    }

    /// Waits until the estimated peak memory of decoding and preparing `bytes` fits in
    /// the budget and reserves it; returns the permit and the bytes the item keeps
    /// afterwards. `None` (decoded without a reservation) when the header cannot be
    /// read or is over the pixel limit: the decode refuses those before allocating
    /// their pixels. An estimate over the whole budget is a permanent error.
    async fn reserve(
        &self,
        plan: &CatalogPlan,
        preprocess: &[(ModelId, Preprocess)],
        bytes: &[u8],
    ) -> Result<Option<(BudgetPermit, u64)>, PipelineError> {
        let Some(header) = probe_header(bytes) else {
            return Ok(None);
        };
        if header.pixels() > self.settings.max_image_pixels {
            return Ok(None);
        }
        let mut models: Vec<Preprocess> = preprocess.iter().map(|(_, p)| p.clone()).collect();
        // A catalog that redacts also holds the face model's input at three more turns
        // (CenterFace's 640-px input: 4.9 MB each).
        if let Some(f) = plan.faces.as_ref().filter(|_| plan.redacts()) {
            let pp = self.plans.models().get(f.model).preprocess();
            if matches!(pp, Preprocess::Letterbox(_)) {
                models.extend(std::iter::repeat_n(pp, TURNED_PASSES));
            }
        }
        let need = footprint(&header, bytes.len() as u64, &models, plan.redacts());
        match self.budget.acquire(need.peak).await {
            Ok(permit) => Ok(Some((permit, need.kept))),
            Err(BudgetError::OverBudget { .. }) => Err(PipelineError::OverMemoryBudget {
                width: header.width,
                height: header.height,
                needed_mib: need.peak.div_ceil(1 << 20),
                budget_mib: self.budget.total_bytes() >> 20,
            }),
            Err(BudgetError::Closed) => Err(PipelineError::BudgetClosed),
        }
    }

    /// One decode, then each model's own preprocessing, on a blocking thread; for a
    /// catalog that redacts, the face model's input turned three ways as well.
    async fn decode(
        &self,
        plan: &CatalogPlan,
        preprocess: Vec<(ModelId, Preprocess)>,
        bytes: bytes::Bytes,
    ) -> Result<Decoded, PipelineError> {
        let keep_image = plan.redacts();
        let turned_faces = plan.faces.as_ref().filter(|_| keep_image).map(|f| f.model);
        let limits = DecodeLimits {
            max_pixels: self.settings.max_image_pixels,
        };
        let min_decode = plan.min_decode;
        let task = tokio::task::spawn_blocking(move || {
            let decoded = decode_at_least(&bytes, limits, min_decode)?;
            // Boxes map back to original pixels: a geometry's scale is taken from the
            // original image, not from the (possibly DCT-scaled) decoded one.
            let ratio = decoded.ratio();
            let img = decoded.image;
            let mut inputs = Vec::with_capacity(preprocess.len() + 3);
            for (model, pp) in preprocess {
                let mut tensor = vec![0f32; pp.tensor_len()];
                let geometry = pp.run(&img, &mut tensor).map(|g| LetterboxGeometry {
                    scale: g.scale / ratio,
                    ..g
                });
                let upright = ModelInput {
                    model,
                    turn: QuarterTurn::R0,
                    tensor,
                    geometry,
                };
                let turned = if turned_faces == Some(model) {
                    turned_inputs(&upright, &pp)
                } else {
                    Vec::new()
                };
                inputs.push(upright);
                inputs.extend(turned);
            }
            Ok::<_, VisionError>(Decoded {
                size_px: decoded.original,
                stats: img.stats(),
                inputs,
                image: keep_image.then_some(img),
            })
        });
        match task.await {
            Ok(decoded) => Ok(decoded?),
            // A panic inside a decoder is a bug triggered by this input: permanent.
            Err(e) => Err(PipelineError::DecoderPanicked(e.to_string())),
        }
    }
}

/// The error row of an object routed to a catalog that does not exist (it goes to the
/// `_unrouted` partition).
fn unknown_catalog(item: &WorkItem) -> ItemOutcome {
    let message = format!(
        "no catalog named {:?} (key {:?})",
        item.catalog, item.object.key
    );
    let mut item = item.clone();
    item.catalog = UNROUTED_CATALOG.to_string();
    let kind = Disposition::Permanent(ErrorKind::UnknownCatalog);
    ItemOutcome::settle(&item, RowContext::new(&item, None), kind, message)
}

/// Milliseconds since `t`.
pub(crate) fn ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1e3
}
