//! Retraining on request and on schedule: the handler the `retrain` Lambda (and the
//! worker image, `sightline retrain`) runs.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SIGHTLINE_RETRAIN_BUCKET` | bucket with `results/`, `labels/`, `registry/` | `SIGHTLINE_RESULTS_BUCKET` |
//! | `SIGHTLINE_RETRAIN_CATALOGS` | comma-separated catalogs a scheduled run retrains | (the event must name them) |
//! | `SIGHTLINE_GATE_MIN_ACCURACY_GAIN` | accuracy gain over the champion required | 0.0 |
//! | `SIGHTLINE_GATE_MIN_MACRO_F1_GAIN` | macro-F1 gain required | 0.0 |
//! | `SIGHTLINE_GATE_MAX_RECALL_DROP` | largest fall of one class's recall allowed | 0.10 |
//! | `SIGHTLINE_ACCURACY_FLOOR` | accuracy a first head needs, 0 to 1 (`none`: no floor; the report reads it too) | 0.7 |
//!
//! A request (the report's `retrain_request` message) is handled once per `report_key`:
//! a marker `registry/<catalog>/requests/<sha256(report_key)>.json` records the outcome,
//! and a redelivered request finds it and does nothing. A request that can never succeed
//! (no labels, a single class, an unknown catalog) is recorded as failed, not retried.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sightline_core::settings::floor_from;
use sightline_core::Settings;
use sightline_report::RetrainRequest;
use sightline_storage::{Precondition, StorageError, Store};
use sightline_train::{TrainConfig, TrainError};

use crate::gate::GateConfig;
use crate::run::{backbone_for, retrain, RetrainOptions, RetrainOutcome, RetrainTarget};
use crate::RetrainError;

/// Retrain settings from the environment (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainSettings {
    /// Bucket with results, labels and the registry.
    pub bucket: Option<String>,
    /// Catalogs a scheduled run retrains when the event names none.
    pub catalogs: Vec<String>,
    /// The gate.
    pub gate: GateConfig,
}

impl RetrainSettings {
    /// Reads the settings through `get` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<RetrainSettings, RetrainError> {
        let number = |k: &str, default: f64| -> Result<f64, RetrainError> {
            match get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| RetrainError::Invalid(format!("{k}={v:?} is not a number"))),
            }
        };
        let d = GateConfig::default();
        Ok(RetrainSettings {
            bucket: get("SIGHTLINE_RETRAIN_BUCKET")
                .or_else(|| get("SIGHTLINE_RESULTS_BUCKET"))
                .filter(|b| !b.is_empty()),
            catalogs: get("SIGHTLINE_RETRAIN_CATALOGS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            gate: GateConfig {
                min_accuracy_gain: number("SIGHTLINE_GATE_MIN_ACCURACY_GAIN", d.min_accuracy_gain)?,
                min_macro_f1_gain: number("SIGHTLINE_GATE_MIN_MACRO_F1_GAIN", d.min_macro_f1_gain)?,
                max_recall_drop: number("SIGHTLINE_GATE_MAX_RECALL_DROP", d.max_recall_drop)?,
                accuracy_floor: floor_from(&get, "SIGHTLINE_ACCURACY_FLOOR", d.accuracy_floor)?,
                macro_f1_floor: None,
            },
        })
    }
}

/// What handling one request or one catalog of a schedule did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestOutcome {
    /// The catalog.
    pub catalog: String,
    /// `retrained`, `already_handled` or `failed` (a permanent failure, not retried).
    pub status: String,
    /// The new version, when one was trained.
    pub version: Option<String>,
    /// Whether it became champion.
    pub promoted: bool,
    /// The gate's reasons, or the failure.
    pub detail: String,
}

impl RequestOutcome {
    fn from_retrain(catalog: &str, o: &RetrainOutcome) -> RequestOutcome {
        RequestOutcome {
            catalog: catalog.to_string(),
            status: "retrained".into(),
            version: Some(o.manifest.version.clone()),
            promoted: o.promoted,
            detail: o.conflict.clone().unwrap_or_else(|| o.decision.summary()),
        }
    }

    fn failed(catalog: &str, e: &RetrainError) -> RequestOutcome {
        RequestOutcome {
            catalog: catalog.to_string(),
            status: "failed".into(),
            version: None,
            promoted: false,
            detail: e.to_string(),
        }
    }
}

/// Whether a failure will happen again on retry (nothing to learn from, bad request).
fn is_permanent(e: &RetrainError) -> bool {
    matches!(
        e,
        RetrainError::Invalid(_)
            | RetrainError::Train(
                TrainError::Empty(_)
                    | TrainError::SingleClass { .. }
                    | TrainError::BadEmbedding { .. }
            )
    )
}

/// The retrain handler: settings, the store and the retrain settings.
#[derive(Debug, Clone)]
pub struct RetrainService {
    /// Pipeline settings (models folder, prefixes, ONNX Runtime).
    pub settings: Settings,
    /// Retrain settings.
    pub retrain: RetrainSettings,
    /// The store.
    pub store: Store,
}

impl RetrainService {
    fn bucket(&self) -> Result<&str, RetrainError> {
        self.retrain.bucket.as_deref().ok_or_else(|| {
            RetrainError::Invalid("set SIGHTLINE_RETRAIN_BUCKET or SIGHTLINE_RESULTS_BUCKET".into())
        })
    }

    /// Retrains one catalog now.
    pub async fn retrain_catalog(
        &self,
        catalog: &str,
        trigger: &str,
    ) -> Result<RetrainOutcome, RetrainError> {
        let bucket = self.bucket()?;
        let models_dir = self
            .settings
            .locate_models_dir()
            .map_err(|e| RetrainError::Invalid(e.to_string()))?;
        let target = RetrainTarget {
            store: &self.store,
            bucket,
            results_prefix: &self.settings.results_prefix,
            incoming_prefix: &self.settings.incoming_prefix,
            max_object_bytes: self.settings.max_object_bytes,
            ort_dylib: self.settings.ort_dylib.clone(),
        };
        let options = RetrainOptions {
            catalog: catalog.to_string(),
            backbone: backbone_for(&models_dir, catalog)?,
            train: TrainConfig::default(),
            gate: self.retrain.gate.clone(),
            promote: true,
            trigger: trigger.to_string(),
        };
        retrain(&target, &options).await
    }

    /// Handles one queue message holding a [`RetrainRequest`]. `Err` means "retry the
    /// message" (storage trouble); permanent failures are recorded and returned as `Ok`.
    pub async fn handle_message(&self, body: &str) -> Result<RequestOutcome, RetrainError> {
        let request: RetrainRequest = serde_json::from_str(body)
            .map_err(|e| RetrainError::Invalid(format!("not a retrain request: {e}")))?;
        if request.kind != "retrain_request" {
            return Err(RetrainError::Invalid(format!(
                "message kind {:?} is not retrain_request",
                request.kind
            )));
        }
        let marker = marker_key(&request.catalog, &request.report_key);
        let bucket = self.bucket()?;
        match self.store.head(bucket, &marker).await {
            Ok(_) => {
                return Ok(RequestOutcome {
                    catalog: request.catalog,
                    status: "already_handled".into(),
                    version: None,
                    promoted: false,
                    detail: format!("see {marker}"),
                })
            }
            Err(StorageError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let trigger = format!("report {}", request.report_key);
        let outcome = match self.retrain_catalog(&request.catalog, &trigger).await {
            Ok(o) => RequestOutcome::from_retrain(&request.catalog, &o),
            Err(e) if is_permanent(&e) => {
                tracing::error!(catalog = %request.catalog, error = %e, "retrain request cannot succeed; recorded, not retried");
                RequestOutcome::failed(&request.catalog, &e)
            }
            Err(e) => return Err(e),
        };
        let body = serde_json::to_vec_pretty(&outcome)
            .map_err(|e| RetrainError::Invalid(e.to_string()))?;
        match self
            .store
            .put_if(
                bucket,
                &marker,
                Bytes::from(body),
                "application/json",
                &Precondition::Absent,
            )
            .await
        {
            Ok(()) | Err(StorageError::PreconditionFailed { .. }) => Ok(outcome),
            Err(e) => Err(e.into()),
        }
    }

    /// A scheduled run: retrains the catalogs the event's `detail` names (`catalog` or
    /// `catalogs`), else the configured ones. One catalog's failure does not stop the others.
    pub async fn handle_schedule(
        &self,
        detail: &serde_json::Value,
    ) -> Result<Vec<RequestOutcome>, RetrainError> {
        let named: Vec<String> = match (detail.get("catalog"), detail.get("catalogs")) {
            (Some(c), _) => c.as_str().map(|c| vec![c.to_string()]).unwrap_or_default(),
            (None, Some(list)) => serde_json::from_value(list.clone()).unwrap_or_default(),
            _ => self.retrain.catalogs.clone(),
        };
        if named.is_empty() {
            return Err(RetrainError::Invalid(
                "no catalogs: set SIGHTLINE_RETRAIN_CATALOGS or name them in the event".into(),
            ));
        }
        let mut out = Vec::new();
        for catalog in named {
            match self.retrain_catalog(&catalog, "schedule").await {
                Ok(o) => out.push(RequestOutcome::from_retrain(&catalog, &o)),
                Err(e) if is_permanent(&e) => out.push(RequestOutcome::failed(&catalog, &e)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Where the outcome of the request for `report_key` is recorded.
pub fn marker_key(catalog: &str, report_key: &str) -> String {
    let sha = hex::encode(Sha256::digest(report_key.as_bytes()));
    format!("registry/{catalog}/requests/{}.json", &sha[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accuracy_floor_may_be_none_as_for_the_report() {
        let with = |v: &'static str| {
            RetrainSettings::from_lookup(move |k| {
                (k == "SIGHTLINE_ACCURACY_FLOOR").then(|| v.into())
            })
        };
        assert_eq!(with("none").unwrap().gate.accuracy_floor, None);
        assert_eq!(with("0.85").unwrap().gate.accuracy_floor, Some(0.85));
        let unset = RetrainSettings::from_lookup(|_| None).unwrap();
        assert_eq!(unset.gate.accuracy_floor, Some(0.7));
        let e = with("high").unwrap_err().to_string();
        assert!(e.contains("SIGHTLINE_ACCURACY_FLOOR"), "{e}");
    }
}
