//! `sightline eval`: classifier accuracy on a labelled folder and agreement with
//! reference predictions, through the same embedded pipeline as `run`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use sightline_core::{CatalogConfig, Catalogs, ClassifierConfig, Settings};
use sightline_pipeline::{embedded, Pipeline};
use sightline_vision::ModelRegistry;

/// Arguments of `sightline eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Model to evaluate (a manifest under models/).
    #[arg(long, default_value = "efficientnet_lite0")]
    model: String,
    /// Folder of images.
    #[arg(long)]
    images: PathBuf,
    /// CSV with columns `file,class_index,…` (default: `<images>/labels.csv`).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Reference predictions, CSV `file,model,top1_idx,…` (e.g. reference_top5.csv).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Where the results tree is written (default: a temporary folder).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Reads a CSV with a header into maps keyed by its first column.
fn read_csv(path: &Path) -> Result<Vec<HashMap<String, String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty CSV")?.split(',').collect();
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect())
}

/// Runs the evaluation and prints a table.
pub async fn run(settings: Settings, a: EvalArgs) -> Result<()> {
    let labels_path = a
        .labels
        .clone()
        .unwrap_or_else(|| a.images.join("labels.csv"));
    let truth: HashMap<String, i32> = read_csv(&labels_path)?
        .into_iter()
        .map(|r| Ok((r["file"].clone(), r["class_index"].parse()?)))
        .collect::<Result<_>>()
        .with_context(|| format!("{} needs columns file,class_index", labels_path.display()))?;
    let reference: HashMap<String, i32> = match &a.reference {
        Some(p) => read_csv(p)?
            .into_iter()
            .filter(|r| r.get("model") == Some(&a.model))
            .map(|r| Ok((r["file"].clone(), r["top1_idx"].parse()?)))
            .collect::<Result<_>>()?,
        None => HashMap::new(),
    };
    if a.reference.is_some() && reference.is_empty() {
        bail!("the reference file has no rows for model {}", a.model);
    }
    let tmp = tempfile::tempdir()?;
    let output = a.output.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let catalog = CatalogConfig {
        name: "eval".into(),
        description: "evaluation".into(),
        classifier: Some(ClassifierConfig {
            model: a.model.clone(),
            top_k: 5,
            min_score: 0.0,
            tag_min_score: 1.0,
        }),
        detector: None,
        taxonomy: Default::default(),
    };
    let registry = ModelRegistry::new(settings.locate_models_dir()?);
    let (source, sink) = embedded::stores(&a.images, "eval", &settings, &output);
    let pipeline = Pipeline::with_catalogs(
        settings,
        &registry,
        Catalogs::from_configs([catalog]),
        source.clone(),
        sink,
    )?;
    let (rows, _) = crate::run_pipeline((Arc::new(pipeline), source), 64, true).await?;

    let (mut n, mut top1, mut top5, mut agree, mut compared, mut errors) = (0, 0, 0, 0, 0, 0);
    for r in &rows {
        let file = r.key.rsplit('/').next().unwrap_or(&r.key);
        let Some(&want) = truth.get(file) else {
            continue;
        };
        n += 1;
        if r.error_kind.is_some() {
            errors += 1;
            continue;
        }
        let got: Vec<i32> = r.labels.iter().map(|l| l.class_id).collect();
        top1 += usize::from(got.first() == Some(&want));
        top5 += usize::from(got.contains(&want));
        if let Some(&refc) = reference.get(file) {
            compared += 1;
            agree += usize::from(got.first() == Some(&refc));
        }
    }
    if n == 0 {
        bail!(
            "no image in {} is listed in {}",
            a.images.display(),
            labels_path.display()
        );
    }
    let pct = |k: usize, of: usize| 100.0 * k as f64 / of.max(1) as f64;
    println!("model               {}", a.model);
    println!("images              {n} ({errors} errors)");
    println!("top-1 accuracy      {:.1} % ({top1}/{n})", pct(top1, n));
    println!("top-5 accuracy      {:.1} % ({top5}/{n})", pct(top5, n));
    if a.reference.is_some() {
        println!(
            "top-1 agreement     {:.1} % ({agree}/{compared}) with {}",
            pct(agree, compared),
            a.reference.as_ref().unwrap().display()
        );
    }
    Ok(())
}
