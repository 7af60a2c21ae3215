//! `sightline retrain`: train a new head for a catalog from its labelled rows, gate it
//! against the champion and register it; `--cv K` cross-validates the recipe instead.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use sightline_core::settings::floor_from;
use sightline_core::Settings;
use sightline_retrain::cv::{cross_validate, CvReport};
use sightline_retrain::examples::{load_examples, Source};
use sightline_retrain::{
    backbone_for, retrain, GateConfig, RetrainOptions, RetrainOutcome, RetrainTarget,
};
use sightline_train::{LabelledSet, TrainConfig};

use crate::bucket::{upload_labels, BucketArgs};
use crate::outcome::Outcome;

/// Arguments of `sightline retrain`.
#[derive(Args)]
pub struct RetrainArgs {
    /// Catalog to retrain (its classifier is the backbone).
    #[arg(long)]
    catalog: String,
    #[command(flatten)]
    place: BucketArgs,
    /// Labels file(s) to put under `labels/<catalog>/` first (CSV `file,label[,tag]`, Parquet).
    #[arg(long)]
    labels: Vec<PathBuf>,
    /// Register the version and print the decision, but leave the alias (champion) alone.
    #[arg(long)]
    dry_run: bool,
    /// Cross-validate the recipe with this many folds instead (writes nothing).
    #[arg(long, value_parser = clap::value_parser!(u16).range(2..))]
    cv: Option<u16>,
    /// Share of keys held out for validation (by key hash).
    #[arg(long, default_value_t = 0.2)]
    validation_fraction: f64,
    /// Accuracy gain over the champion required to promote.
    #[arg(long, default_value_t = 0.0)]
    min_accuracy_gain: f64,
    /// Macro-F1 gain over the champion required to promote.
    #[arg(long, default_value_t = 0.0)]
    min_macro_f1_gain: f64,
    /// Largest fall of one class's recall allowed.
    #[arg(long, default_value_t = 0.10)]
    max_recall_drop: f64,
    /// Accuracy a catalog's first head needs, 0 to 1 (`none`: no floor) [default:
    /// SIGHTLINE_ACCURACY_FLOOR or 0.7].
    #[arg(long)]
    accuracy_floor: Option<String>,
    /// Print the outcome as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Runs `sightline retrain`.
pub async fn run(settings: Settings, a: RetrainArgs) -> Result<Outcome> {
    let gate = GateConfig {
        min_accuracy_gain: a.min_accuracy_gain,
        min_macro_f1_gain: a.min_macro_f1_gain,
        max_recall_drop: a.max_recall_drop,
        accuracy_floor: floor_from(
            &|k: &str| a.accuracy_floor.clone().or_else(|| std::env::var(k).ok()),
            "SIGHTLINE_ACCURACY_FLOOR",
            GateConfig::default().accuracy_floor,
        )?,
        macro_f1_floor: None,
    };
    let (store, bucket) = a.place.open().await?;
    upload_labels(&store, &bucket, &a.catalog, &a.labels).await?;
    let backbone = backbone_for(&settings.locate_models_dir()?, &a.catalog)?;
    let train = TrainConfig {
        validation_fraction: a.validation_fraction,
        ..TrainConfig::default()
    };
    if let Some(k) = a.cv {
        let source = Source {
            store: &store,
            bucket: &bucket,
            results_prefix: &settings.results_prefix,
            incoming_prefix: &settings.incoming_prefix,
            max_object_bytes: settings.max_object_bytes,
        };
        let rows = load_examples(&source, &a.catalog, &backbone).await?;
        let set = LabelledSet::new(rows.examples)?;
        let report =
            tokio::task::spawn_blocking(move || cross_validate(&set, k.into(), &train)).await??;
        print_cv(&report, a.json)?;
        return Ok(Outcome::Done);
    }
    let target = RetrainTarget {
        store: &store,
        bucket: &bucket,
        results_prefix: &settings.results_prefix,
        incoming_prefix: &settings.incoming_prefix,
        max_object_bytes: settings.max_object_bytes,
        ort_dylib: settings.ort_dylib.clone(),
    };
    let options = RetrainOptions {
        catalog: a.catalog.clone(),
        backbone,
        train,
        gate,
        promote: !a.dry_run,
        trigger: "cli".into(),
    };
    let outcome = retrain(&target, &options).await?;
    print_outcome(&outcome, &a)?;
    Ok(Outcome::Done)
}

fn print_outcome(o: &RetrainOutcome, a: &RetrainArgs) -> Result<()> {
    let m = &o.manifest;
    if a.json {
        let line = serde_json::json!({
            "catalog": m.catalog,
            "version": m.version,
            "classes": m.classes.len(),
            "rows": m.training.rows,
            "validation_rows": m.training.validation_rows,
            "unmatched_labels": o.unmatched_labels,
            "challenger": { "accuracy": o.challenger.accuracy, "macro_f1": o.challenger.macro_f1 },
            "champion": o.champion.as_ref().map(|c| serde_json::json!({
                "version": c.version, "accuracy": c.metrics.accuracy, "macro_f1": c.metrics.macro_f1 })),
            "decision": { "promote": o.decision.promote, "reasons": o.decision.reasons },
            "promoted": o.promoted,
            "conflict": o.conflict,
            "seconds": m.training.seconds,
            "metrics_key": o.metrics_key,
        });
        println!("{line}");
        return Ok(());
    }
    let t = &m.training;
    println!(
        "catalog      {}  (backbone {} {})",
        m.catalog, m.backbone.model, m.backbone.version
    );
    println!(
        "rows         {} labelled, {} classes; {} labels had no row",
        t.rows,
        m.classes.len(),
        o.unmatched_labels
    );
    println!(
        "version      {}  (C={}, {} iterations, {}, {:.1} s)",
        m.version, t.c, t.iterations, t.stop, t.seconds
    );
    println!(
        "             {:<28} {:>9} {:>9}",
        "validation rows: ".to_string() + &o.challenger.rows.to_string(),
        "accuracy",
        "macro-F1"
    );
    println!(
        "challenger   {:<28} {:>9.4} {:>9.4}",
        m.version, o.challenger.accuracy, o.challenger.macro_f1
    );
    match &o.champion {
        Some(c) => println!(
            "champion     {:<28} {:>9.4} {:>9.4}",
            c.version, c.metrics.accuracy, c.metrics.macro_f1
        ),
        None => println!("champion     none (first head: judged by the floor)"),
    }
    let verdict = match (o.promoted, o.decision.promote, &o.conflict) {
        (true, _, _) => "PROMOTED".to_string(),
        (false, true, Some(c)) => format!("NOT PROMOTED: passed the gate, but {c}"),
        (false, true, None) => "PASSED (dry run: champion unchanged)".to_string(),
        (false, false, _) => "REFUSED (champion unchanged)".to_string(),
    };
    println!("decision     {verdict}");
    for r in &o.decision.reasons {
        println!("             {r}");
    }
    println!(
        "registry     {}",
        a.place
            .place(&format!("registry/{}/{}/", m.catalog, m.version))
    );
    println!("metrics      {}", a.place.place(&o.metrics_key));
    Ok(())
}

fn print_cv(r: &CvReport, json: bool) -> Result<()> {
    if json {
        let folds: Vec<_> = r
            .folds
            .iter()
            .map(|f| serde_json::json!({"fold": f.fold, "rows": f.rows, "accuracy": f.accuracy, "macro_f1": f.macro_f1, "c": f.c}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"accuracy": r.accuracy, "macro_f1": r.macro_f1, "seconds": r.seconds, "folds": folds})
        );
        return Ok(());
    }
    println!("fold  rows  accuracy  macro-F1  C");
    for f in &r.folds {
        println!(
            "{:>4}  {:>4}  {:>8.4}  {:>8.4}  {}",
            f.fold, f.rows, f.accuracy, f.macro_f1, f.c
        );
    }
    println!(
        "all         {:>8.4}  {:>8.4}  ({:.1} s)",
        r.accuracy, r.macro_f1, r.seconds
    );
    Ok(())
}
