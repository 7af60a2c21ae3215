//! A classification head: a small ONNX graph (`embedding [N, dim]` → `probabilities
//! [N, classes]`) run on the backbone's embeddings. Heads come from the registry as bytes,
//! are tiny (a Gemm and a Softmax), and run on the CPU in the calling thread.

use std::path::Path;
use std::sync::Mutex;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::VisionError;

/// Input and output names every head has.
pub const HEAD_INPUT: &str = "embedding";
/// See [`HEAD_INPUT`].
pub const HEAD_OUTPUT: &str = "probabilities";

/// A loaded head.
#[derive(Debug)]
pub struct HeadSession {
    name: String,
    session: Mutex<Session>,
    dim: usize,
    classes: usize,
}

impl HeadSession {
    /// Loads a head from ONNX bytes with the process's ONNX Runtime (library at `dylib`,
    /// or found as for the engine). `name` names the head in errors; `dim` and `classes`
    /// are the sizes its manifest promises, checked on every run.
    pub fn from_bytes(
        name: &str,
        onnx: &[u8],
        dim: usize,
        classes: usize,
        dylib: Option<&Path>,
    ) -> Result<HeadSession, VisionError> {
        let err = |e: String| VisionError::Model {
            model: name.to_string(),
            message: format!("cannot load head: {e}"),
        };
        let env = crate::runtime::environment(dylib)?;
        let session = Session::builder(env)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| err(e.to_string()))?
            .commit_from_memory(onnx)
            .map_err(|e| err(e.to_string()))?;
        let has = |names: Vec<&str>, want: &str| names.contains(&want);
        if !has(
            session.inputs().iter().map(|i| i.name()).collect(),
            HEAD_INPUT,
        ) || !has(
            session.outputs().iter().map(|o| o.name()).collect(),
            HEAD_OUTPUT,
        ) {
            return Err(err(format!(
                "a head needs input {HEAD_INPUT:?} and output {HEAD_OUTPUT:?}"
            )));
        }
        Ok(HeadSession {
            name: name.to_string(),
            session: Mutex::new(session),
            dim,
            classes,
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Embedding length taken.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Probabilities (`n × classes`, row-major) of `n` embeddings (`n × dim`, row-major).
    pub fn probabilities(&self, embeddings: &[f32]) -> Result<Vec<f32>, VisionError> {
        let err = |message: String| VisionError::Model {
            model: self.name.clone(),
            message,
        };
        if self.dim == 0 || !embeddings.len().is_multiple_of(self.dim) {
            return Err(err(format!(
                "{} values are not rows of {}",
                embeddings.len(),
                self.dim
            )));
        }
        let n = embeddings.len() / self.dim;
        if n == 0 {
            return Ok(Vec::new());
        }
        let shape = [n as i64, self.dim as i64];
        let tensor =
            TensorRef::from_array_view((shape, embeddings)).map_err(|e| err(e.to_string()))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| err("head session poisoned by an earlier panic".into()))?;
        let outputs = session
            .run(ort::inputs![HEAD_INPUT => tensor])
            .map_err(|e| err(format!("run: {e}")))?;
        let (out_shape, data) = outputs[HEAD_OUTPUT]
            .try_extract_tensor::<f32>()
            .map_err(|e| err(e.to_string()))?;
        if out_shape.len() != 2 || out_shape[1] as usize != self.classes {
            return Err(err(format!(
                "output shape {out_shape:?}, expected [{n}, {}]",
                self.classes
            )));
        }
        Ok(data.to_vec())
    }
}
