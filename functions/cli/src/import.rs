//! `sightline models import` and `sightline models inspect`: an ONNX model of your own
//! into the models folder, its manifest drafted from what the file says about itself
//! (`sightline_vision::import`), then loaded and checked as the pipeline will.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use sha2::{Digest, Sha256};
use sightline_core::Settings;
use sightline_vision::classify::ScoreKind;
use sightline_vision::engine::check_model;
use sightline_vision::import::{
    draft_manifest, read_signature, Draft, ImportOptions, OnnxSignature,
};
use sightline_vision::manifest::ModelRegistry;
use sightline_vision::runtime::environment;

/// What `import` and `inspect` are told besides the file.
#[derive(Args)]
pub struct ImportArgs {
    /// The ONNX file.
    file: PathBuf,
    /// Model name: the manifest is `<name>.toml` (letters, digits, `_`, `-`).
    #[arg(long, default_value = "imported")]
    name: String,
    /// Label file, one class per line (Ultralytics exports carry theirs).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// `classification`, `detection` or `embedding` (an encoder without logits), when the
    /// file does not say.
    #[arg(long)]
    task: Option<String>,
    /// Classifiers: shorter side after the resize (default: the crop).
    #[arg(long)]
    resize_shorter: Option<u32>,
    /// Classifiers: centre-crop side (default: the input size).
    #[arg(long)]
    crop: Option<u32>,
    /// Mean per channel on the 0..1 scale, `R,G,B` (default 0,0,0).
    #[arg(long, value_parser = parse_rgb)]
    mean: Option<[f32; 3]>,
    /// Std per channel on the 0..1 scale, `R,G,B` (default 1,1,1).
    #[arg(long, value_parser = parse_rgb)]
    std: Option<[f32; 3]>,
    /// Classifiers: `logits`, `probabilities` or `sigmoid` (default: probabilities for
    /// Ultralytics exports, logits otherwise).
    #[arg(long, value_parser = parse_scores)]
    scores: Option<ScoreKind>,
    /// The model takes blue, green, red (mean and std then in that order too).
    #[arg(long)]
    bgr: bool,
    /// Replace a model of the same name.
    #[arg(long)]
    force: bool,
}

fn parse_rgb(text: &str) -> Result<[f32; 3], String> {
    let v: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| "three numbers: R,G,B".to_string())
}

fn parse_scores(text: &str) -> Result<ScoreKind, String> {
    match text {
        "logits" => Ok(ScoreKind::Logits),
        "probabilities" => Ok(ScoreKind::Probabilities),
        "sigmoid" => Ok(ScoreKind::Sigmoid),
        _ => Err("logits, probabilities or sigmoid".into()),
    }
}

/// The file's bytes and what it says about itself.
fn read(settings: &Settings, a: &ImportArgs) -> Result<(Vec<u8>, OnnxSignature)> {
    let onnx = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let env = environment(settings.ort_dylib.as_deref())?;
    let sig = read_signature(env, &onnx).with_context(|| a.file.display().to_string())?;
    Ok((onnx, sig))
}

/// The manifest the file would get.
fn draft(a: &ImportArgs, onnx: &[u8], sig: &OnnxSignature) -> Result<Draft> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if a.name.is_empty() || !a.name.chars().all(valid) {
        bail!("--name {:?}: letters, digits, '_' and '-' only", a.name);
    }
    let labels = match &a.labels {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                text.lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect(),
            )
        }
        None => None,
    };
    let opts = ImportOptions {
        name: a.name.clone(),
        file: format!("{}.onnx", a.name),
        labels_file: format!("{}_labels.txt", a.name),
        labels,
        task: a.task.clone(),
        resize_shorter: a.resize_shorter,
        crop: a.crop,
        mean: a.mean,
        std: a.std,
        scores: a.scores,
        bgr: a.bgr,
    };
    let sha = hex::encode(Sha256::digest(onnx));
    draft_manifest(sig, &sha, &opts).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))
}

/// `sightline models inspect`: prints what the file says and the manifest `import` writes.
pub fn inspect(settings: &Settings, a: &ImportArgs) -> Result<()> {
    let (onnx, sig) = read(settings, a)?;
    for (kind, tensors) in [("input", &sig.inputs), ("output", &sig.outputs)] {
        for t in tensors {
            println!("{kind} {:?} {:?}", t.name, t.shape);
        }
    }
    for (k, v) in &sig.metadata {
        println!("metadata {k} = {v}");
    }
    match draft(a, &onnx, &sig) {
        Ok(d) => println!("\n# {}.toml\n{}", a.name, d.manifest),
        Err(e) => println!("\nno manifest: {e:#}"),
    }
    Ok(())
}

/// `sightline models import`: writes `<name>.onnx`, `<name>_labels.txt` and `<name>.toml`
/// into the models folder, then loads the model and checks it as the pipeline will.
pub fn import(settings: &Settings, a: &ImportArgs) -> Result<()> {
    let (onnx, sig) = read(settings, a)?;
    let draft = draft(a, &onnx, &sig)?;
    let dir = settings.locate_models_dir()?;
    let manifest = dir.join(format!("{}.toml", a.name));
    if manifest.exists() && !a.force {
        bail!(
            "{} exists: choose another --name, or --force to replace it",
            manifest.display()
        );
    }
    write(&dir.join(format!("{}.onnx", a.name)), &onnx)?;
    let labels: String = draft.labels.iter().map(|l| format!("{l}\n")).collect();
    write(
        &dir.join(format!("{}_labels.txt", a.name)),
        labels.as_bytes(),
    )?;
    write(&manifest, draft.manifest.as_bytes())?;
    let model = ModelRegistry::new(&dir).load(&a.name)?;
    check_model(environment(settings.ort_dylib.as_deref())?, &model)?;
    println!(
        "imported {} ({} classes) into {}: name it in a catalog ([classifier] or [detector] model = \"{}\")",
        a.name,
        model.labels.len(),
        dir.display(),
        a.name
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
