//! `sightline eval`: classifier accuracy on a labelled folder and agreement with
//! reference predictions, through the same embedded pipeline as `run`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sightline_core::{CatalogConfig, Catalogs, ClassifierConfig, DetectorConfig, Settings};
use sightline_pipeline::{embedded, Pipeline};
use sightline_quality::{evaluate_detections, DetectionMetrics, LabeledBox};
use sightline_report::yolo::{parse_yolo, YoloBox};
use sightline_vision::DetectionFilter;

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

/// Arguments of `sightline eval-detect`.
#[derive(Args)]
pub struct EvalDetectArgs {
    /// Detector to evaluate (a manifest under models/).
    #[arg(long, default_value = "centernet_mbv3_coco")]
    model: String,
    /// Folder of images.
    #[arg(long)]
    images: PathBuf,
    /// Folder of YOLO labels (`<image stem>.txt`: `class cx cy w h`, relative).
    #[arg(long)]
    labels: PathBuf,
}

/// Detector AP (COCO-style) through the embedded pipeline: every output row, no threshold
/// (the reference protocol), then again with the default catalog filters.
pub async fn detect(settings: Settings, a: EvalDetectArgs) -> Result<()> {
    let catalog = unfiltered_detector_catalog(&a.model);
    let tmp = tempfile::tempdir()?;
    let rows = run_catalog(settings, catalog, &a.images, tmp.path(), 16).await?;
    let mut gt = Vec::new();
    let mut dets = Vec::new();
    let mut raw_dets: Vec<(u64, Vec<sightline_core::Detection>)> = Vec::new();
    for (image, r) in rows.iter().enumerate() {
        let (Some(w), Some(h)) = (r.width, r.height) else {
            eprintln!(
                "skipping {}: {}",
                r.key,
                r.error.as_deref().unwrap_or("not decoded")
            );
            continue;
        };
        let stem = Path::new(&r.key)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        for b in read_yolo(&a.labels.join(format!("{stem}.txt")))? {
            gt.push(LabeledBox {
                image: image as u64,
                class_id: b.class_id,
                bbox: b.corners_in_pixels(f64::from(w), f64::from(h)),
                score: 1.0,
            });
        }
        raw_dets.push((image as u64, r.detections.clone()));
    }
    let to_boxes = |image: u64, ds: &[sightline_core::Detection]| -> Vec<LabeledBox> {
        ds.iter()
            .map(|d| LabeledBox::from_detection(image, d))
            .collect()
    };
    for (image, ds) in &raw_dets {
        dets.extend(to_boxes(*image, ds));
    }
    let all = evaluate_detections(&gt, &dets);
    let defaults = CatalogConfig::from_toml(
        &format!("name = \"d\"\n[detector]\nmodel = \"{}\"\n", a.model),
        "defaults",
    )?
    .detector
    .context("a catalog with a [detector] section has a detector")?;
    let filter = DetectionFilter::from(&defaults);
    let filtered: Vec<LabeledBox> = raw_dets
        .iter()
        .flat_map(|(i, ds)| to_boxes(*i, &filter.apply(ds.clone())))
        .collect();
    let thr = evaluate_detections(&gt, &filtered);
    let images = raw_dets.len();
    print_detection_table(
        &a.model,
        (images, gt.len()),
        (&all, dets.len()),
        (&thr, filtered.len()),
        &filter,
    );
    Ok(())
}

/// An ad-hoc catalog running `model` with no threshold, NMS or cap: every detector row.
fn unfiltered_detector_catalog(model: &str) -> CatalogConfig {
    let raw = DetectorConfig {
        model: model.to_string(),
        precision: Default::default(),
        min_score: 0.0,
        class_min_score: Default::default(),
        classes: None,
        nms_iou: 1.0,
        max_detections: usize::MAX,
        taxonomy: Default::default(),
    };
    CatalogConfig {
        name: "eval".into(),
        description: "detector evaluation".into(),
        classifier: None,
        detector: Some(raw),
        faces: None,
        taxonomy: Default::default(),
        decode: Default::default(),
    }
}

/// The `eval-detect` table: mAP on every row, and with the catalog defaults' filter.
fn print_detection_table(
    model: &str,
    (images, truth_boxes): (usize, usize),
    (all, all_count): (&DetectionMetrics, usize),
    (thr, thr_count): (&DetectionMetrics, usize),
    filter: &DetectionFilter,
) {
    println!("model               {model}");
    println!("images              {images} ({truth_boxes} ground-truth boxes)");
    println!("                    mAP@0.5:0.95   mAP@0.5   mAP@0.75   detections");
    println!(
        "all rows, no filter {:>13.3} {:>9.3} {:>10.3} {:>12}",
        all.map, all.map50, all.map75, all_count
    );
    println!(
        "catalog defaults    {:>13.3} {:>9.3} {:>10.3} {:>12}   (score >= {}, class-aware NMS IoU {}, <= {} per image)",
        thr.map, thr.map50, thr.map75, thr_count, filter.min_score, filter.nms_iou, filter.max_detections
    );
}

/// Runs the folder `images` through the embedded pipeline with one ad-hoc catalog.
async fn run_catalog(
    settings: Settings,
    catalog: CatalogConfig,
    images: &Path,
    output: &Path,
    batch: usize,
) -> Result<Vec<sightline_core::ResultRow>> {
    let (source, sink) = embedded::stores(images, &catalog.name, &settings, output);
    let pipeline = Pipeline::builder(settings, source.clone(), sink)
        .catalogs(Catalogs::from_configs([catalog]))
        .build()?;
    let (rows, _) = crate::run_pipeline((Arc::new(pipeline), source), batch, true).await?;
    Ok(rows)
}

/// The boxes of a YOLO labels file; none when the file does not exist (an image
/// without objects).
fn read_yolo(path: &Path) -> Result<Vec<YoloBox>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    parse_yolo(&text).with_context(|| format!("labels file {}", path.display()))
}

/// A row of the labels CSV (other columns are ignored).
#[derive(Deserialize)]
struct LabelRow {
    file: String,
    class_index: i32,
}

/// A row of the reference predictions CSV (other columns are ignored).
#[derive(Deserialize)]
struct ReferenceRow {
    file: String,
    model: String,
    top1_idx: i32,
}

/// Reads the rows of a CSV file with a header.
fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    csv::Reader::from_path(path)
        .and_then(|r| r.into_deserialize().collect())
        .with_context(|| format!("reading {}", path.display()))
}

/// Runs the evaluation and prints a table.
pub async fn run(settings: Settings, a: EvalArgs) -> Result<()> {
    let labels_path = a
        .labels
        .clone()
        .unwrap_or_else(|| a.images.join("labels.csv"));
    let truth: HashMap<String, i32> = read_csv::<LabelRow>(&labels_path)
        .with_context(|| format!("{} needs columns file,class_index", labels_path.display()))?
        .into_iter()
        .map(|r| (r.file, r.class_index))
        .collect();
    let reference: HashMap<String, i32> = match &a.reference {
        Some(p) => read_csv::<ReferenceRow>(p)?
            .into_iter()
            .filter(|r| r.model == a.model)
            .map(|r| (r.file, r.top1_idx))
            .collect(),
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
            precision: Default::default(),
            top_k: 5,
            min_score: 0.0,
            tag_min_score: 1.0,
            zero_shot: None,
        }),
        detector: None,
        faces: None,
        taxonomy: Default::default(),
        decode: Default::default(),
    };
    let rows = run_catalog(settings, catalog, &a.images, &output, 64).await?;

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
    if let Some(reference) = &a.reference {
        println!(
            "top-1 agreement     {:.1} % ({agree}/{compared}) with {}",
            pct(agree, compared),
            reference.display()
        );
    }
    Ok(())
}
