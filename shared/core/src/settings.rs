//! Deployment settings, read from `SIGHTLINE_*` environment variables. Every default is
//! written once, here, next to its field.

use std::path::PathBuf;

use crate::{memory, CoreError};

/// Settings shared by every run mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Folder holding model manifests, ONNX files and `catalogs/`.
    /// `SIGHTLINE_MODELS_DIR`; default: found by [`Settings::locate_models_dir`].
    pub models_dir: Option<PathBuf>,
    /// Path of `libonnxruntime.so.1.31.1`. `SIGHTLINE_ORT_DYLIB` or `ORT_DYLIB_PATH`;
    /// default: searched (see `sightline_vision::runtime`).
    pub ort_dylib: Option<PathBuf>,
    /// Key prefix under which uploads are routed by catalog. `SIGHTLINE_INCOMING_PREFIX`;
    /// default `incoming/`.
    pub incoming_prefix: String,
    /// Key prefix of the results table. `SIGHTLINE_RESULTS_PREFIX`; default `results/`.
    pub results_prefix: String,
    /// Bucket the results go to. `SIGHTLINE_RESULTS_BUCKET`; default: the source object's bucket.
    pub results_bucket: Option<String>,
    /// Largest object fetched, in bytes. `SIGHTLINE_MAX_OBJECT_BYTES`; default 64 MiB.
    pub max_object_bytes: u64,
    /// Largest image decoded, in pixels (width × height from the header).
    /// `SIGHTLINE_MAX_IMAGE_PIXELS`; default 100 000 000 (100 MP).
    pub max_image_pixels: u64,
    /// Objects fetched and decoded at once per batch. `SIGHTLINE_FETCH_CONCURRENCY`; default 16.
    pub fetch_concurrency: usize,
    /// Largest number of images per model run. `SIGHTLINE_INFER_BATCH`; default 16.
    pub infer_batch: usize,
    /// Inference threads (one ONNX Runtime session per model per thread).
    /// `SIGHTLINE_INFER_THREADS`; default: the number of CPUs.
    pub infer_threads: usize,
    /// ONNX Runtime intra-op threads per session. `SIGHTLINE_INTRA_THREADS`; default 1
    /// (parallelism comes from several sessions, which scales better on small machines).
    pub intra_threads: usize,
    /// Execution provider: `cpu` or `cuda`. `SIGHTLINE_EXECUTION_PROVIDER`; default `cpu`.
    pub execution_provider: String,
    /// Seconds between checks of a catalog's champion head in the registry (a promotion
    /// is served at most this long after it happened; 0 checks every batch).
    /// `SIGHTLINE_HEAD_REFRESH_SECS`; default 30.
    pub head_refresh_secs: u64,
    /// Memory budget of the images being decoded and kept, in MiB: an image waits until
    /// its estimated peak fits, and one whose estimate exceeds the whole budget gets a
    /// `too_large` row. `SIGHTLINE_MEMORY_BUDGET_MB`; default (`None`): derived by
    /// [`Settings::memory_budget`].
    pub memory_budget_mb: Option<u64>,
    /// The Lambda function's memory in MiB, which the default memory budget is a share
    /// of. `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (set by Lambda); default `None` (not Lambda).
    pub lambda_memory_mb: Option<u64>,
}

/// The memory budget in force and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudgetChoice {
    /// MiB.
    pub mb: u64,
    /// How it was chosen, for the start-up log.
    pub basis: String,
}

/// The largest `SIGHTLINE_MEMORY_BUDGET_MB` (the budget counts KiB in 32 bits).
pub const MAX_MEMORY_BUDGET_MB: u64 = (u32::MAX as u64) >> 10;

impl Default for Settings {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Settings {
            models_dir: None,
            ort_dylib: None,
            incoming_prefix: "incoming/".into(),
            results_prefix: "results/".into(),
            results_bucket: None,
            max_object_bytes: 64 << 20,
            max_image_pixels: 100_000_000,
            fetch_concurrency: 16,
            infer_batch: 16,
            infer_threads: cpus,
            intra_threads: 1,
            execution_provider: "cpu".into(),
            head_refresh_secs: 30,
            memory_budget_mb: None,
            lambda_memory_mb: None,
        }
    }
}

impl Settings {
    /// The bucket results (and redacted copies) of an object in `source_bucket` go to:
    /// [`Settings::results_bucket`] if set, else the object's own bucket.
    pub fn results_bucket_for<'a>(&'a self, source_bucket: &'a str) -> &'a str {
        self.results_bucket.as_deref().unwrap_or(source_bucket)
    }

    /// Defaults overridden by any `SIGHTLINE_*` variable that is set.
    pub fn from_env() -> Result<Self, CoreError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`Settings::from_env`] with a custom variable source (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, CoreError> {
        let mut s = Settings::default();
        let num = |k: &str, into: &mut u64| -> Result<(), CoreError> {
            if let Some(v) = get(k) {
                *into = v.trim().parse().map_err(|_| CoreError::Invalid {
                    origin: k.to_string(),
                    message: format!("{v:?} is not a non-negative integer"),
                })?;
            }
            Ok(())
        };
        let (mut fc, mut ib, mut it, mut ia) = (
            s.fetch_concurrency as u64,
            s.infer_batch as u64,
            s.infer_threads as u64,
            s.intra_threads as u64,
        );
        num("SIGHTLINE_MAX_OBJECT_BYTES", &mut s.max_object_bytes)?;
        num("SIGHTLINE_MAX_IMAGE_PIXELS", &mut s.max_image_pixels)?;
        num("SIGHTLINE_HEAD_REFRESH_SECS", &mut s.head_refresh_secs)?;
        s.memory_budget_mb = optional_num(&get, "SIGHTLINE_MEMORY_BUDGET_MB")?;
        s.lambda_memory_mb = optional_num(&get, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?;
        if let Some(mb) = s.memory_budget_mb {
            if !(1..=MAX_MEMORY_BUDGET_MB).contains(&mb) {
                return Err(CoreError::Invalid {
                    origin: "SIGHTLINE_MEMORY_BUDGET_MB".into(),
                    message: format!("{mb} is not between 1 and {MAX_MEMORY_BUDGET_MB} (MiB)"),
                });
            }
        }
        num("SIGHTLINE_FETCH_CONCURRENCY", &mut fc)?;
        num("SIGHTLINE_INFER_BATCH", &mut ib)?;
        num("SIGHTLINE_INFER_THREADS", &mut it)?;
        num("SIGHTLINE_INTRA_THREADS", &mut ia)?;
        for (k, v) in [
            ("SIGHTLINE_FETCH_CONCURRENCY", fc),
            ("SIGHTLINE_INFER_BATCH", ib),
            ("SIGHTLINE_INFER_THREADS", it),
            ("SIGHTLINE_INTRA_THREADS", ia),
        ] {
            if v == 0 {
                return Err(CoreError::Invalid {
                    origin: k.into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        (
            s.fetch_concurrency,
            s.infer_batch,
            s.infer_threads,
            s.intra_threads,
        ) = (fc as usize, ib as usize, it as usize, ia as usize);
        s.models_dir = get("SIGHTLINE_MODELS_DIR").map(PathBuf::from);
        s.ort_dylib = get("SIGHTLINE_ORT_DYLIB")
            .or_else(|| get("ORT_DYLIB_PATH"))
            .map(PathBuf::from);
        if let Some(v) = get("SIGHTLINE_INCOMING_PREFIX") {
            s.incoming_prefix = v;
        }
        if let Some(v) = get("SIGHTLINE_RESULTS_PREFIX") {
            s.results_prefix = v;
        }
        s.results_bucket = get("SIGHTLINE_RESULTS_BUCKET").filter(|v| !v.is_empty());
        if let Some(v) = get("SIGHTLINE_EXECUTION_PROVIDER") {
            s.execution_provider = v.to_ascii_lowercase();
        }
        if !matches!(s.execution_provider.as_str(), "cpu" | "cuda") {
            return Err(CoreError::Invalid {
                origin: "SIGHTLINE_EXECUTION_PROVIDER".into(),
                message: format!("{:?} is not one of cpu, cuda", s.execution_provider),
            });
        }
        Ok(s)
    }

    /// The memory budget: `SIGHTLINE_MEMORY_BUDGET_MB` if set, else
    /// [`memory::default_budget_mb`] of the memory limit ([`memory::memory_limit`]: the
    /// Lambda function's memory, else the machine's) and `models_resident_mb`, the memory
    /// the loaded models keep.
    pub fn memory_budget(&self, models_resident_mb: u64) -> MemoryBudgetChoice {
        if let Some(mb) = self.memory_budget_mb {
            return MemoryBudgetChoice {
                mb,
                basis: "SIGHTLINE_MEMORY_BUDGET_MB".into(),
            };
        }
        let limit = memory::memory_limit(self.lambda_memory_mb);
        let mb = memory::default_budget_mb(limit.mb, models_resident_mb);
        let percent = memory::BUDGET_FRACTION * 100.0;
        MemoryBudgetChoice {
            mb,
            basis: format!(
                "{percent:.0}% of {} MiB ({}) minus {models_resident_mb} MiB of models, at least {} MiB",
                limit.mb,
                limit.source,
                memory::BUDGET_FLOOR_MB
            ),
        }
    }

    /// The models folder: the configured one, else `models/` (holding `catalogs/`) in the
    /// current folder or any parent, else `models/` next to the executable (container and
    /// Lambda packaging), else `$LAMBDA_TASK_ROOT/models`.
    pub fn locate_models_dir(&self) -> Result<PathBuf, CoreError> {
        if let Some(d) = &self.models_dir {
            return Ok(d.clone());
        }
        let mut candidates = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(|a| a.join("models")));
        }
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                candidates.push(dir.join("models"));
            }
        }
        if let Ok(root) = std::env::var("LAMBDA_TASK_ROOT") {
            candidates.push(PathBuf::from(root).join("models"));
        }
        candidates
            .into_iter()
            .find(|c| c.join("catalogs").is_dir())
            .ok_or_else(|| CoreError::Invalid {
                origin: "SIGHTLINE_MODELS_DIR".into(),
                message: "no models folder found (looked for models/catalogs in the current folder, its parents and next to the executable); set SIGHTLINE_MODELS_DIR".into(),
            })
    }
}

/// An optional number variable: `None` when unset or empty.
/// A quality floor read through `get`: `default` when `key` is unset, else
/// [`parse_floor`] of its value. The report and the retrain functions read
/// `SIGHTLINE_ACCURACY_FLOOR` (one variable, one deployment parameter) through this.
pub fn floor_from(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: Option<f64>,
) -> Result<Option<f64>, CoreError> {
    match get(key) {
        None => Ok(default),
        Some(v) => parse_floor(&v).map_err(|message| CoreError::Invalid {
            origin: key.to_string(),
            message,
        }),
    }
}

/// A quality floor's text: a fraction from 0 to 1, or `none` (any case) or an empty value
/// for no floor.
pub fn parse_floor(text: &str) -> Result<Option<f64>, String> {
    let v = text.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match v.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(Some(f)),
        _ => Err(format!("{v:?} is not a number from 0 to 1 or \"none\"")),
    }
}

fn optional_num(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<u64>, CoreError> {
    let Some(v) = get(key).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    v.trim().parse().map(Some).map_err(|_| CoreError::Invalid {
        origin: key.to_string(),
        message: format!("{v:?} is not a non-negative integer"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_is_a_fraction_or_none() {
        let env = |k: &str| match k {
            "A" => Some("0.85".to_string()),
            "B" => Some(" None ".to_string()),
            "C" => Some(String::new()),
            "D" => Some("seventy".to_string()),
            "E" => Some("70".to_string()),
            _ => None,
        };
        assert_eq!(floor_from(&env, "A", Some(0.7)).unwrap(), Some(0.85));
        assert_eq!(floor_from(&env, "B", Some(0.7)).unwrap(), None);
        assert_eq!(floor_from(&env, "C", Some(0.7)).unwrap(), None);
        assert_eq!(floor_from(&env, "UNSET", Some(0.7)).unwrap(), Some(0.7));
        for bad in ["D", "E"] {
            let e = floor_from(&env, bad, None).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("from 0 to 1"), "{e}");
        }
        assert!(parse_floor("NaN").is_err());
    }

    #[test]
    fn env_overrides_and_validation() {
        let s = Settings::from_lookup(|k| match k {
            "SIGHTLINE_INFER_BATCH" => Some("8".into()),
            "SIGHTLINE_RESULTS_BUCKET" => Some("out".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.infer_batch, 8);
        assert_eq!(s.results_bucket.as_deref(), Some("out"));
        assert_eq!(s.fetch_concurrency, 16);
        assert!(
            Settings::from_lookup(|k| (k == "SIGHTLINE_INFER_BATCH").then(|| "0".into())).is_err()
        );
        assert!(
            Settings::from_lookup(|k| (k == "SIGHTLINE_INFER_BATCH").then(|| "x".into())).is_err()
        );
        assert!(Settings::from_lookup(
            |k| (k == "SIGHTLINE_EXECUTION_PROVIDER").then(|| "tpu".into())
        )
        .is_err());
    }

    #[test]
    fn memory_budget_is_explicit_or_a_share_of_the_lambda_memory() {
        let explicit = Settings::from_lookup(|k| match k {
            "SIGHTLINE_MEMORY_BUDGET_MB" => Some("512".into()),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("1769".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(explicit.memory_budget(100).mb, 512);
        let lambda = Settings::from_lookup(|k| {
            (k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").then(|| "1769".into())
        })
        .unwrap();
        let choice = lambda.memory_budget(100);
        assert_eq!(choice.mb, 1061 - 100, "{choice:?}");
        assert!(
            choice.basis.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            "{choice:?}"
        );
        assert!(Settings::default().memory_budget(0).mb >= memory::BUDGET_FLOOR_MB);
        for bad in ["0", "-5", "lots", "4194304"] {
            let got =
                Settings::from_lookup(|k| (k == "SIGHTLINE_MEMORY_BUDGET_MB").then(|| bad.into()));
            assert!(got.is_err(), "{bad}");
        }
    }
}
