//! The process-wide ONNX Runtime environment, loaded from `libonnxruntime.so.1.31.1`
//! at run time (`ort`'s `load-dynamic`): nothing is downloaded or linked at build time.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::VisionError;

/// The ONNX Runtime version this build targets (the `api-31` feature of `ort`).
pub const ORT_VERSION: &str = "1.31.1";

/// File name of the shared library inside the PyPI wheel.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";

static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Places searched for the library when none is configured, in order.
pub fn search_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        out.extend(
            cwd.ancestors()
                .map(|a| a.join(".cache/onnxruntime").join(ORT_LIB_NAME)),
        );
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join(ORT_LIB_NAME));
            out.push(dir.join("lib").join(ORT_LIB_NAME));
        }
    }
    if let Ok(root) = std::env::var("LAMBDA_TASK_ROOT") {
        out.push(Path::new(&root).join("lib").join(ORT_LIB_NAME));
    }
    out.push(Path::new("/opt/lib").join(ORT_LIB_NAME)); // Lambda layers
    out
}

/// The library to load: `configured` if given (it must exist), else the first of
/// [`search_paths`] that exists.
pub fn locate_library(configured: Option<&Path>) -> Result<PathBuf, VisionError> {
    if let Some(p) = configured {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(VisionError::Runtime(format!(
                "the configured library {} does not exist (SIGHTLINE_ORT_DYLIB / ORT_DYLIB_PATH)",
                p.display()
            )))
        };
    }
    let paths = search_paths();
    paths.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        VisionError::Runtime(format!(
            "{ORT_LIB_NAME} not found; run scripts/setup.sh (it extracts it from the PyPI wheel onnxruntime=={ORT_VERSION}) or set SIGHTLINE_ORT_DYLIB. Searched: {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The process's ONNX Runtime environment, created on first use from the library at
/// `configured` (or found by [`locate_library`]). Later calls return the same
/// environment whatever they pass; a failure is remembered and returned again.
pub fn environment(configured: Option<&Path>) -> Result<&'static Environment, VisionError> {
    let r = ENV.get_or_init(|| {
        // Keep the bare message: `VisionError::Runtime` adds the "ONNX Runtime: " prefix.
        let lib = locate_library(configured).map_err(|e| match e {
            VisionError::Runtime(message) => message,
            other => other.to_string(),
        })?;
        let builder =
            ort::init_from(&lib).map_err(|e| format!("cannot load {}: {e}", lib.display()))?;
        builder
            .with_name("sightline")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("cannot create the environment from {}: {e}", lib.display()))
    });
    r.as_ref().map_err(|e| VisionError::Runtime(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_configured_library_is_an_error_not_a_panic() {
        let e = locate_library(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
