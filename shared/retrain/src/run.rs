//! One retrain against a bucket: rows + labels → holdout and served fits → ONNX → the
//! champion scored on the same validation rows → gate → registry → alias → metrics table.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sightline_registry::{
    Alias, Backbone, HeadFile, HeadManifest, HeadMetrics, Registry, RegistryError, TrainingInfo,
    VersionFiles,
};
use sightline_report::outputs::{metric_records_parquet, MetricRecord};
use sightline_storage::Store;
use sightline_train::onnx::{head_to_onnx, INPUT, OUTPUT};
use sightline_train::trainer::{fit_on, metrics};
use sightline_train::{
    train_head, LabelledSet, LinearHead, TrainConfig, TrainedHead, ValidationMetrics,
};
use sightline_vision::HeadSession;

use crate::examples::{load_examples, LabelledRows, Source};
use crate::gate::{decide, GateConfig, GateDecision, Scored};
use crate::RetrainError;

/// Where a retrain reads and writes.
#[derive(Debug, Clone)]
pub struct RetrainTarget<'a> {
    /// The store.
    pub store: &'a Store,
    /// The bucket with `results/`, `labels/`, `registry/` and `metrics/`.
    pub bucket: &'a str,
    /// Results table prefix (`results/`).
    pub results_prefix: &'a str,
    /// Upload prefix (`incoming/`).
    pub incoming_prefix: &'a str,
    /// Largest object read.
    pub max_object_bytes: u64,
    /// ONNX Runtime library (heads are scored with it); `None`: found as for the engine.
    pub ort_dylib: Option<PathBuf>,
}

/// What to retrain and how.
#[derive(Debug, Clone)]
pub struct RetrainOptions {
    /// The catalog.
    pub catalog: String,
    /// The catalog's classifier: the backbone whose embeddings are used.
    pub backbone: Backbone,
    /// The training recipe.
    pub train: TrainConfig,
    /// The gate.
    pub gate: GateConfig,
    /// `false`: register the version and report the decision, but never change the alias.
    pub promote: bool,
    /// Who asked (`cli`, `schedule`, `report <key>`), for the alias history.
    pub trigger: String,
}

/// The champion's scores on the challenger's validation rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ChampionScore {
    /// Its version.
    pub version: String,
    /// Its holdout fit's metrics.
    pub metrics: ValidationMetrics,
}

/// What a retrain did.
#[derive(Debug, Clone)]
pub struct RetrainOutcome {
    /// The new version's manifest.
    pub manifest: HeadManifest,
    /// The new version's holdout fit on the validation rows.
    pub challenger: ValidationMetrics,
    /// The champion on the same rows, when there is a comparable one.
    pub champion: Option<ChampionScore>,
    /// The gate's answer.
    pub decision: GateDecision,
    /// Whether the alias now names the new version as champion.
    pub promoted: bool,
    /// Why the alias was not written although the gate passed (a concurrent change).
    pub conflict: Option<String>,
    /// The metrics table file written.
    pub metrics_key: String,
    /// Labels whose key had no usable row.
    pub unmatched_labels: usize,
}

/// Retrains `options.catalog` in `target` (see the module docs).
pub async fn retrain(
    target: &RetrainTarget<'_>,
    options: &RetrainOptions,
) -> Result<RetrainOutcome, RetrainError> {
    let started = Instant::now();
    let source = Source {
        store: target.store,
        bucket: target.bucket,
        results_prefix: target.results_prefix,
        incoming_prefix: target.incoming_prefix,
        max_object_bytes: target.max_object_bytes,
    };
    let mut rows = load_examples(&source, &options.catalog, &options.backbone).await?;
    let set = LabelledSet::new(std::mem::take(&mut rows.examples))?;
    tracing::info!(catalog = %options.catalog, rows = set.len(), classes = set.classes.len(), unmatched_labels = rows.unmatched_labels, "training head");
    let config = options.train.clone();
    let (holdout, served, set) = tokio::task::spawn_blocking(move || fit_both(set, &config))
        .await
        .map_err(|e| RetrainError::Invalid(format!("training task failed: {e}")))??;

    let registry = Registry::new(target.store.clone(), target.bucket);
    let (alias, etag) = registry.alias(&options.catalog).await?;
    let created_at = Utc::now();
    let version_meta = VersionMeta {
        catalog: &options.catalog,
        backbone: &options.backbone,
        created_at,
    };
    let served_onnx = head_to_onnx(&served, &version_meta.props("served"));
    let holdout_onnx = head_to_onnx(&holdout.head, &version_meta.props("holdout"));
    let version = version_id(created_at, &served_onnx);

    let valid = set.subset(&holdout.split.validation);
    let dylib = target.ort_dylib.as_deref();
    let challenger = score_head(&holdout_onnx, &holdout.head.classes, &valid, dylib)?;
    let champion = score_champion(&registry, &alias, options, &valid, dylib).await?;
    let scored = |m| Scored {
        metrics: m,
        classes: &set.classes,
    };
    let decision = decide(
        scored(&challenger),
        champion.as_ref().map(|c| scored(&c.metrics)),
        &options.gate,
    );

    let manifest = manifest(
        &version, &alias, options, &holdout, &rows, &set, created_at, started,
    );
    let card = model_card(&manifest, &decision, champion.as_ref());
    let files = VersionFiles {
        manifest,
        head: served_onnx,
        holdout: holdout_onnx,
        card,
    };
    let manifest = registry.publish(files).await?;
    let (promoted, conflict) = update_alias(&registry, options, &version, &decision, etag).await?;
    let metrics_key = write_metrics(
        target,
        options,
        &manifest,
        &challenger,
        champion.as_ref(),
        promoted,
    )
    .await?;
    tracing::info!(catalog = %options.catalog, %version, promoted, decision = %decision.summary(), seconds = started.elapsed().as_secs_f64(), "retrain finished");
    Ok(RetrainOutcome {
        manifest,
        challenger,
        champion,
        decision,
        promoted,
        conflict,
        metrics_key,
        unmatched_labels: rows.unmatched_labels,
    })
}

/// The holdout fit (training split, chooses `C` and the iteration count) and the served
/// fit (every row, that `C`, that many iterations).
fn fit_both(
    set: LabelledSet,
    config: &TrainConfig,
) -> Result<(TrainedHead, LinearHead, LabelledSet), RetrainError> {
    let holdout = train_head(&set, config)?;
    let mut served_config = config.clone();
    served_config.c_grid = vec![holdout.c];
    served_config.fit.max_iter = holdout.iterations.max(1);
    let (served, _, _) = fit_on(&set, None, &served_config)?;
    Ok((holdout, served, set))
}

/// Facts every file of a version repeats.
struct VersionMeta<'a> {
    catalog: &'a str,
    backbone: &'a Backbone,
    created_at: DateTime<Utc>,
}

impl VersionMeta<'_> {
    fn props(&self, role: &str) -> Vec<(String, String)> {
        vec![
            ("catalog".into(), self.catalog.into()),
            ("role".into(), role.into()),
            (
                "backbone".into(),
                format!("{} {}", self.backbone.model, self.backbone.version),
            ),
            (
                "embedding_dim".into(),
                self.backbone.embedding_dim.to_string(),
            ),
            ("created_at".into(), self.created_at.to_rfc3339()),
        ]
    }
}

/// `<UTC time>-<first 8 hex of the served head's sha256>`: sortable and unique.
fn version_id(at: DateTime<Utc>, served: &[u8]) -> String {
    let sha = hex::encode(Sha256::digest(served));
    format!("{}-{}", at.format("%Y%m%dT%H%M%SZ"), &sha[..8])
}

/// Metrics of an ONNX head on `rows`, run through ONNX Runtime as serving runs it.
fn score_head(
    onnx: &[u8],
    head_classes: &[String],
    rows: &LabelledSet,
    dylib: Option<&std::path::Path>,
) -> Result<ValidationMetrics, RetrainError> {
    let session = HeadSession::from_bytes("head", onnx, rows.dim(), head_classes.len(), dylib)
        .map_err(|e| RetrainError::Head(e.to_string()))?;
    let input: Vec<f32> = rows.features.iter().map(|v| *v as f32).collect();
    let probs = session
        .probabilities(&input)
        .map_err(|e| RetrainError::Head(e.to_string()))?;
    let predicted: Vec<usize> = probs
        .chunks(head_classes.len().max(1))
        .map(|row| {
            let best = sightline_train::head::argmax(row.iter().map(|v| f64::from(*v)));
            let name = &head_classes[best];
            rows.classes
                .iter()
                .position(|c| c == name)
                .unwrap_or(rows.classes.len())
        })
        .collect();
    Ok(metrics(&rows.targets, &predicted, rows.classes.len())?)
}

/// The champion's holdout head on the same rows; `None` without a champion or when its
/// backbone differs (its embeddings would not be comparable).
async fn score_champion(
    registry: &Registry,
    alias: &Alias,
    options: &RetrainOptions,
    valid: &LabelledSet,
    dylib: Option<&std::path::Path>,
) -> Result<Option<ChampionScore>, RetrainError> {
    let Some(version) = &alias.champion else {
        return Ok(None);
    };
    let loaded = registry
        .load(&options.catalog, version, HeadFile::Holdout)
        .await?;
    if loaded.manifest.backbone != options.backbone {
        tracing::warn!(champion = %version, "champion has another backbone: judged as a first head");
        return Ok(None);
    }
    let metrics = score_head(&loaded.onnx, &loaded.manifest.classes, valid, dylib)?;
    Ok(Some(ChampionScore {
        version: version.clone(),
        metrics,
    }))
}

#[allow(clippy::too_many_arguments)]
fn manifest(
    version: &str,
    alias: &Alias,
    options: &RetrainOptions,
    holdout: &TrainedHead,
    rows: &LabelledRows,
    set: &LabelledSet,
    created_at: DateTime<Utc>,
    started: Instant,
) -> HeadManifest {
    let v = &holdout.validation;
    HeadManifest {
        format: String::new(),
        catalog: options.catalog.clone(),
        version: version.to_string(),
        created_at,
        parent: alias.champion.clone(),
        backbone: options.backbone.clone(),
        classes: set.classes.clone(),
        tags: rows.tags.clone(),
        input: INPUT.into(),
        output: OUTPUT.into(),
        files: Vec::new(),
        training: TrainingInfo {
            rows: set.len(),
            train_rows: holdout.split.train.len(),
            validation_rows: holdout.split.validation.len(),
            first_date: rows.first_date,
            last_date: rows.last_date,
            label_files: rows.label_files.clone(),
            class_counts: set
                .classes
                .iter()
                .cloned()
                .zip(set.class_counts())
                .collect(),
            validation_fraction: options.train.validation_fraction,
            c: holdout.c,
            iterations: holdout.iterations,
            stop: holdout.stop.to_string(),
            seconds: started.elapsed().as_secs_f64(),
        },
        metrics: HeadMetrics {
            rows: v.rows,
            accuracy: v.accuracy,
            macro_f1: v.macro_f1,
            recall: set
                .classes
                .iter()
                .zip(&v.recall)
                .filter_map(|(c, r)| r.map(|r| (c.clone(), r)))
                .collect(),
        },
    }
}

/// Records the decision in the alias (promotion or refusal), conditionally on the alias
/// read before training. Returns (promoted, conflict).
async fn update_alias(
    registry: &Registry,
    options: &RetrainOptions,
    version: &str,
    decision: &GateDecision,
    etag: Option<String>,
) -> Result<(bool, Option<String>), RetrainError> {
    if !options.promote {
        return Ok((false, None));
    }
    let (mut alias, _) = registry.alias(&options.catalog).await?;
    let reason = format!("{}: {}", options.trigger, decision.summary());
    if decision.promote {
        alias.promote(version, &reason, Utc::now());
    } else {
        alias.refuse(version, &reason, Utc::now());
    }
    match registry.write_alias(&alias, etag.as_deref()).await {
        Ok(()) => Ok((decision.promote, None)),
        Err(RegistryError::Conflict { message, .. }) => {
            tracing::warn!(%version, "alias changed during training; not promoted");
            Ok((false, Some(message)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Both heads' metrics and the decision in `metrics/catalog=<c>/date=<d>/retrain-<v>.parquet`.
async fn write_metrics(
    target: &RetrainTarget<'_>,
    options: &RetrainOptions,
    manifest: &HeadManifest,
    challenger: &ValidationMetrics,
    champion: Option<&ChampionScore>,
    promoted: bool,
) -> Result<String, RetrainError> {
    let now = Utc::now();
    let current = format!("retrain {}", manifest.version);
    let mut records = Vec::new();
    let mut add = |model_version: String, role: &str, m: &ValidationMetrics| {
        let record = |metric: &str, class: Option<String>, value: f64| MetricRecord {
            generated_at: now,
            model: manifest.model_name(),
            model_version: model_version.clone(),
            reference: format!("holdout validation ({role})"),
            current: current.clone(),
            metric: metric.into(),
            class,
            value: Some(value),
            support: Some(m.rows as i64),
        };
        records.push(record("accuracy", None, m.accuracy));
        records.push(record("macro_f1", None, m.macro_f1));
        for (class, r) in manifest.classes.iter().zip(&m.recall) {
            if let Some(r) = r {
                records.push(record("recall", Some(class.clone()), *r));
            }
        }
    };
    add(manifest.model_version(), "challenger", challenger);
    if let Some(c) = champion {
        add(
            format!("{}+{}", manifest.backbone.version, c.version),
            "champion",
            &c.metrics,
        );
    }
    let mut gate = records[0].clone();
    gate.metric = "gate_promoted".into();
    gate.value = Some(if promoted { 1.0 } else { 0.0 });
    records.push(gate);
    let bytes = metric_records_parquet(&records)?;
    let key = format!(
        "metrics/catalog={}/date={}/retrain-{}.parquet",
        options.catalog,
        now.format("%Y-%m-%d"),
        manifest.version
    );
    target
        .store
        .put(
            target.bucket,
            &key,
            Bytes::from(bytes.to_vec()),
            "application/vnd.apache.parquet",
        )
        .await?;
    Ok(key)
}

/// A short model card in Markdown.
fn model_card(
    m: &HeadManifest,
    decision: &GateDecision,
    champion: Option<&ChampionScore>,
) -> String {
    let t = &m.training;
    let mut card = format!(
        "# {catalog} head {version}\n\n\
         A softmax head (multinomial logistic regression, L2, balanced class weights) on the \
         frozen `{bb}` {bbv} embedding ({dim} floats), trained by Sightline.\n\n\
         * Classes ({n}): {classes}\n\
         * Rows: {rows} labelled ({train} fitted by the holdout head, {valid} validation rows \
         chosen by key hash); result dates {first} to {last}\n\
         * C = {c}, {iters} L-BFGS iterations ({stop}), trained in {secs:.1} s\n\
         * Parent (champion when trained): {parent}\n\n\
         ## Validation (holdout head, rows never fitted)\n\n\
         | model | accuracy | macro-F1 |\n|---|---|---|\n| {version} | {acc:.4} | {f1:.4} |\n",
        catalog = m.catalog,
        version = m.version,
        bb = m.backbone.model,
        bbv = m.backbone.version,
        dim = m.backbone.embedding_dim,
        n = m.classes.len(),
        classes = m.classes.join(", "),
        rows = t.rows,
        train = t.train_rows,
        valid = t.validation_rows,
        first = t.first_date.map_or("-".into(), |d| d.to_string()),
        last = t.last_date.map_or("-".into(), |d| d.to_string()),
        c = t.c,
        iters = t.iterations,
        stop = t.stop,
        secs = t.seconds,
        parent = m.parent.as_deref().unwrap_or("none"),
        acc = m.metrics.accuracy,
        f1 = m.metrics.macro_f1,
    );
    if let Some(c) = champion {
        card += &format!(
            "| {} (champion) | {:.4} | {:.4} |\n",
            c.version, c.metrics.accuracy, c.metrics.macro_f1
        );
    }
    card +=
        &format!(
        "\n## Gate\n\n{}\n\n## Limits\n\nThe head only knows the classes above and inherits the \
         backbone's view of images; judge it on your own images before trusting it. \
         Served: `head.onnx` (fitted on every labelled row); gates use `holdout.onnx`.\n",
        decision.reasons.iter().map(|r| format!("* {r}")).collect::<Vec<_>>().join("\n")
    );
    card
}

/// The backbone of `catalog`: its classifier's manifest under `models_dir`.
pub fn backbone_for(models_dir: &std::path::Path, catalog: &str) -> Result<Backbone, RetrainError> {
    let catalogs = sightline_core::Catalogs::load_dir(&models_dir.join("catalogs"))
        .map_err(|e| RetrainError::Invalid(e.to_string()))?;
    let config = catalogs
        .require(catalog)
        .map_err(|e| RetrainError::Invalid(e.to_string()))?;
    let classifier = config.classifier.as_ref().ok_or_else(|| {
        RetrainError::Invalid(format!(
            "catalog {catalog} has no [classifier]: a head needs its embeddings"
        ))
    })?;
    let manifest = sightline_vision::ModelRegistry::new(models_dir)
        .manifest(&classifier.manifest_name())
        .map_err(|e| RetrainError::Invalid(e.to_string()))?;
    let embedding_dim = manifest
        .outputs
        .embedding_dim
        .filter(|_| manifest.outputs.embedding.is_some())
        .ok_or_else(|| {
            RetrainError::Invalid(format!("model {} has no embedding output", manifest.name))
        })?;
    Ok(Backbone {
        model: manifest.name,
        version: manifest.version,
        embedding_dim,
    })
}
