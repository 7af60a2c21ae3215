//! The model registry, kept in the bucket the results go to (embedded mode: the output
//! folder):
//!
//! ```text
//! registry/<catalog>/alias.json                  champion, challenger, earlier champions, history
//! registry/<catalog>/<version>/manifest.json     classes, contract, training, metrics (written last)
//! registry/<catalog>/<version>/head.onnx         the served head (fitted on every labelled row)
//! registry/<catalog>/<version>/holdout.onnx      the same recipe without the validation rows (gates)
//! registry/<catalog>/<version>/MODEL_CARD.md     a short model card
//! ```
//!
//! Versions are immutable: every file is created with a create-only conditional write. The
//! alias document is the only thing that changes, always by a conditional write on the
//! ETag that was read ([`Registry::update_alias`]), so of two writers that read the same
//! alias only one succeeds; the other gets [`RegistryError::Conflict`].

pub mod alias;
pub mod manifest;
mod registry;

pub use alias::{Alias, AliasAction, AliasEvent};
pub use manifest::{Backbone, FileEntry, HeadManifest, HeadMetrics, TrainingInfo, MANIFEST_FORMAT};
pub use registry::{HeadFile, LoadedHead, Registry, VersionFiles};

use sightline_storage::StorageError;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Reading or writing the bucket failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Another writer changed the alias (or created the version) since it was read.
    #[error("registry for catalog {catalog} changed concurrently: {message}")]
    Conflict {
        /// The catalog.
        catalog: String,
        /// What collided.
        message: String,
    },
    /// A registry object that cannot be used: bad JSON, a checksum mismatch, a missing file.
    #[error("corrupt registry object {key}: {message}")]
    Corrupt {
        /// Its key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A version, alias or earlier champion that does not exist.
    #[error("{0}")]
    NotFound(String),
}
