//! Where the data-dependent tests find what they need: the shared folder beside the
//! checkout (development images, ONNX references) and a Python with the test packages.
//!
//! Such a test calls [`require_shared`] / [`require_python`] first. When something is
//! missing it FAILS, naming what is missing and how to provide it, so that a machine
//! without the data cannot pass the suite by silently skipping it. A developer who knows
//! they lack the data opts out explicitly with `SIGHTLINE_SKIP_DATA_TESTS=1`: then the
//! helpers return `None`, the test returns early and a `SKIPPED (…)` line is printed to
//! the real stderr (not captured by the test harness). `scripts/test.sh`, which CI runs,
//! never sets the opt-out.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable that overrides the location of the shared folder (the one
/// holding `data/` and `models/`); by default it is `../shared` beside the repository.
pub const SHARED_DIR_ENV: &str = "SIGHTLINE_SHARED_DIR";

/// Environment variable naming the Python interpreter (with pyarrow and duckdb) that
/// tests run; `scripts/setup.sh` (`sightline_setup test`) sets it.
pub const PYTHON_ENV: &str = "SIGHTLINE_PYTHON";

/// Environment variable that, set to `1`, turns the failures of [`require_shared`] and
/// [`require_python`] into visible skips. For developers only; CI never sets it.
pub const SKIP_DATA_TESTS_ENV: &str = "SIGHTLINE_SKIP_DATA_TESTS";

/// The shared folder: `$SIGHTLINE_SHARED_DIR` if set, else `../shared` beside the
/// workspace root (whether or not it exists).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os(SHARED_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let root = crate::repo_root();
            root.parent().unwrap_or(&root).join("shared")
        }
    }
}

/// The shared folder, checked to hold every folder in `needs` (relative to it, e.g.
/// `"data/coco-dev"`, `"models/reference"`).
///
/// # Panics
/// If a folder is missing, naming it and how to provide it, unless
/// `SIGHTLINE_SKIP_DATA_TESTS=1`: then prints `SKIPPED (…)` and returns `None`.
pub fn require_shared(needs: &[&str]) -> Option<PathBuf> {
    let dir = shared_dir();
    let missing: Vec<String> = needs
        .iter()
        .filter(|n| !dir.join(n).is_dir())
        .map(|n| dir.join(n).display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    unavailable(&format!(
        "the shared data folder lacks {}: put the shared folder (data/, models/) at \
         ../shared beside the checkout or point {SHARED_DIR_ENV} at it",
        missing.join(", ")
    ))
}

/// The Python interpreter of `$SIGHTLINE_PYTHON`, checked to import every module in
/// `modules` (e.g. `["pyarrow", "duckdb"]`).
///
/// # Panics
/// If the variable is unset or the interpreter cannot import the modules, unless
/// `SIGHTLINE_SKIP_DATA_TESTS=1`: then prints `SKIPPED (…)` and returns `None`.
pub fn require_python(modules: &[&str]) -> Option<OsString> {
    let how = "run `source scripts/setup.sh && sightline_setup test` (scripts/test.sh does)";
    let Some(python) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) else {
        return unavailable(&format!(
            "{PYTHON_ENV} (a Python with {}) is not set: {how}",
            modules.join(", ")
        ));
    };
    let import = format!("import {}", modules.join(", "));
    match Command::new(&python).arg("-c").arg(&import).output() {
        Ok(o) if o.status.success() => Some(python),
        Ok(o) => unavailable(&format!(
            "{PYTHON_ENV}={} cannot `{import}`: {}; {how}",
            Path::new(&python).display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => unavailable(&format!(
            "{PYTHON_ENV}={} does not run: {e}; {how}",
            Path::new(&python).display()
        )),
    }
}

/// The executable named by the environment variable `env` (set by `scripts/setup.sh
/// test`, e.g. `SIGHTLINE_CHECKOV`).
///
/// # Panics
/// If the variable is unset or names no file, unless `SIGHTLINE_SKIP_DATA_TESTS=1`: then
/// prints `SKIPPED (…)` and returns `None`.
pub fn require_tool(env: &str) -> Option<PathBuf> {
    match std::env::var_os(env).map(PathBuf::from) {
        Some(path) if path.is_file() => Some(path),
        Some(path) => unavailable(&format!(
            "{env}={} is not a file: run `source scripts/setup.sh && sightline_setup test`",
            path.display()
        )),
        None => unavailable(&format!(
            "{env} is not set: run `source scripts/setup.sh && sightline_setup test` \
             (scripts/test.sh does)"
        )),
    }
}

/// Whether the developer opted out of data-dependent tests.
fn skip_requested() -> bool {
    std::env::var_os(SKIP_DATA_TESTS_ENV).is_some_and(|v| v == "1")
}

/// Fails the test with `why`, or, when opted out, prints a visible skip and returns `None`.
fn unavailable<T>(why: &str) -> Option<T> {
    if !skip_requested() {
        panic!("{why} (or set {SKIP_DATA_TESTS_ENV}=1 to skip data-dependent tests)");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test");
    // Straight to the process's stderr: the harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED ({SKIP_DATA_TESTS_ENV}=1): {test}: {why}"
    );
    None
}
