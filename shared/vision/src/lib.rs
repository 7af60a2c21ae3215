//! Sightline's vision layer: everything between image bytes and model outputs.
//!
//! * [`decode`]: sniff the format, refuse decompression bombs from the header, decode,
//!   apply EXIF orientation, convert to RGB8.
//! * [`probe`]: an image's header (size, pixel layout) without decoding it, and the peak
//!   memory its decode needs.
//! * [`preprocess`]: per-model tensors as each [`manifest`] specifies them, resampled
//!   exactly as Pillow does ([`resample`]).
//! * [`runtime`]: the process-wide ONNX Runtime environment (loaded from a shared library).
//! * [`engine`]: inference threads, one ONNX Runtime session per model per thread.
//! * [`classify`]: softmax, top-k, catalog tags.
//! * [`face`]: BlazeFace anchor decoding.
//! * [`detect`]: detector rows → boxes in image pixels, thresholds, class-aware NMS.
//! * [`redact`]: a flat fill, pixelation or blur of regions (faces) of decoded images.
//! * [`encode`]: decoded images back to PNG or JPEG.
//! * [`turn`]: quarter turns of square model inputs (rotation-robust face detection).

// A corrupt JPEG must become an error row, not end the process: libjpeg reports fatal errors
// by unwinding (caught in `decode`). `panic = "abort"` (which `cargo lambda build --release`
// passes unless told otherwise) would turn one bad upload into a crashed batch.
#[cfg(panic = "abort")]
compile_error!(
    "sightline-vision needs panic = \"unwind\": libjpeg's errors are caught as panics. \
     With cargo-lambda, build with `cargo lambda build --release --disable-optimizations`."
);

pub mod classify;
pub mod decode;
pub mod detect;
pub mod encode;
pub mod engine;
pub mod face;
pub mod head;
pub mod import;
pub mod manifest;
mod outlets;
pub mod preprocess;
pub mod probe;
pub mod redact;
pub mod resample;
pub mod runtime;
pub mod turn;
pub mod yolo;
pub mod zero_shot;

pub use classify::{Classification, Classifier};
pub use decode::{decode_at_least, decode_image, DecodeLimits, Decoded, MinDecodeSize, RgbImage};
pub use detect::DetectionFilter;
pub use encode::{encode_image, encode_image_within, EncodeError, EncodeFormat};
pub use engine::{Engine, ModelOutput};
pub use head::HeadSession;
pub use manifest::{ModelManifest, ModelRegistry};
pub use preprocess::{Channels, ClassifierPreprocess, Layout, Letterbox, Preprocess};
pub use probe::{probe_header, ImageHeader};
pub use redact::{redact, PixelRect, RedactStyle};
pub use turn::QuarterTurn;

use sightline_core::{Disposition, ErrorKind};

/// Errors of the vision layer.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The object is empty.
    #[error("object is empty (0 bytes)")]
    Empty,
    /// No supported image format was recognised.
    #[error("not an image in a supported format (JPEG, PNG, GIF, WebP)")]
    NotAnImage,
    /// The header claims more pixels than allowed.
    #[error("image is {width}x{height} = {pixels} pixels, over the limit of {limit}")]
    TooLarge {
        /// Header width.
        width: u32,
        /// Header height.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The format was recognised but the data is corrupt or truncated.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// The format was recognised but this variant is not supported.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// A model manifest, label file or model file is missing or invalid.
    #[error("model {model}: {message}")]
    Model {
        /// Model name or path.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// The ONNX Runtime shared library could not be found or loaded.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// The inference threads could not start, stopped, or dropped a job.
    #[error("inference engine: {0}")]
    Engine(String),
    /// A model run failed.
    #[error("inference failed for {model}: {message}")]
    Inference {
        /// Model name.
        model: String,
        /// ONNX Runtime's message.
        message: String,
    },
}

impl VisionError {
    /// Permanent for anything about the input image; transient for runtime failures
    /// (retrying on another instance may succeed).
    pub fn disposition(&self) -> Disposition {
        match self {
            VisionError::Empty => Disposition::Permanent(ErrorKind::EmptyObject),
            VisionError::NotAnImage => Disposition::Permanent(ErrorKind::NotAnImage),
            VisionError::TooLarge { .. } => Disposition::Permanent(ErrorKind::TooLarge),
            VisionError::Corrupt(_) => Disposition::Permanent(ErrorKind::CorruptImage),
            VisionError::Unsupported(_) => Disposition::Permanent(ErrorKind::UnsupportedFormat),
            VisionError::Model { .. }
            | VisionError::Runtime(_)
            | VisionError::Engine(_)
            | VisionError::Inference { .. } => Disposition::Transient,
        }
    }
}
