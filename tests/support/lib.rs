//! Test support for Sightline's integration tests (`tests/*.rs`).
//!
//! * paths: [`repo_root`], [`fixtures_dir`], [`workspace_bin`];
//! * data-dependent tests: [`require_shared`] and [`require_python`] fail the test when
//!   the shared data folder or Python is missing (opt out: `SIGHTLINE_SKIP_DATA_TESTS=1`);
//! * a throw-away local AWS: [`Moto`] (one `moto_server` child per instance, or
//!   [`shared_moto`] for one per test binary) with ready S3 / SQS clients and
//!   [`unique_name`] for per-test buckets and queues;
//! * the Lambda Runtime API harness: [`run_lambda`] / [`try_run_lambda`] start a real
//!   Lambda binary against an in-process fake of the Runtime API ([`RuntimeApiServer`]),
//!   feed it events one at a time and record what it posts back.
//!
//! * the stack: [`infra::translated_template`] (the SAM-expanded template) and its
//!   least-privilege rule [`infra::s3_or_sqs_wildcards`]; [`stack::DeployedStack`], the
//!   stack deployed into moto's CloudFormation with IAM enforced;
//! * faults and the query path: [`proxy::FaultProxy`] drops or delays chosen S3/SQS calls
//!   between a child and moto; [`lake::query_latest`] reads the `results_latest` view
//!   with DuckDB.
//!
//! Everything here is std + the workspace's AWS crates; no network beyond 127.0.0.1.

#![warn(missing_docs)]

pub mod data;
pub mod emf;
mod http;
pub mod infra;
pub mod lake;
pub mod lambda;
pub mod moto;
pub mod proxy;
pub mod results;
pub mod stack;

use std::path::{Path, PathBuf};

pub use data::{
    require_python, require_shared, require_tool, shared_dir, PYTHON_ENV, SHARED_DIR_ENV,
    SKIP_DATA_TESTS_ENV,
};
pub use lambda::{
    run_lambda, try_run_lambda, ApiStatus, Invocation, LambdaFailure, LambdaRun, RuntimeApiServer,
};
pub use moto::{shared_moto, unique_name, Moto};

/// Root of the repository (the workspace root, parent of `tests/`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}

/// The committed fixtures: `<repo>/tests/fixtures` (see its README.md).
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests").join("fixtures")
}

/// A file under [`fixtures_dir`], e.g. `fixture("images/chelsea.jpg")`.
/// Panics with the path if the file does not exist.
pub fn fixture(relative: &str) -> PathBuf {
    let path = fixtures_dir().join(relative);
    assert!(
        path.exists(),
        "fixture {} not found (regenerate with tests/fixtures/make_fixtures.py)",
        path.display()
    );
    path
}

/// Path of a workspace binary (e.g. `"bootstrap"`, `"sightline"`) built into the same
/// target folder and profile as the running test.
///
/// Derived from `std::env::current_exe()`: `target/<profile>/deps/<test>` →
/// `target/<profile>/<name>`. Cargo does not build other packages' binaries for an
/// integration test of this package, so build them first.
///
/// # Panics
/// If the binary does not exist: "build it first: cargo build --bins (scripts/test.sh
/// does this)".
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test binary has a folder")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "workspace binary `{name}` not found at {}: build it first: cargo build --bins \
         (scripts/test.sh does this), with the same CARGO_TARGET_DIR and profile as the tests",
        path.display()
    );
    path
}
