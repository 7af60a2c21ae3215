//! What the pipeline needs from a model runner: the ONNX Runtime [`Engine`] in production,
//! a fake in the stage tests.

use futures::future::BoxFuture;
use sightline_vision::{Engine, ModelOutput, VisionError};

use crate::plan::ModelId;

/// Runs the pipeline's models (numbered as in its [`crate::plan::ModelSet`]).
pub trait Inference: Send + Sync {
    /// The execution provider written to result rows (`cpu`, `cuda`).
    fn execution_provider(&self) -> &str;

    /// Runs `model` on `n` images whose input tensors are concatenated in `input`.
    fn run(
        &self,
        model: ModelId,
        input: Vec<f32>,
        n: usize,
    ) -> BoxFuture<'_, Result<ModelOutput, VisionError>>;
}

impl Inference for Engine {
    fn execution_provider(&self) -> &str {
        Engine::execution_provider(self)
    }

    fn run(
        &self,
        model: ModelId,
        input: Vec<f32>,
        n: usize,
    ) -> BoxFuture<'_, Result<ModelOutput, VisionError>> {
        Box::pin(Engine::run(self, model.0, input, n))
    }
}
