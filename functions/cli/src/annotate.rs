//! `sightline annotate`: draws the results table's detections and top-1 labels onto the
//! source images, to see what the models saw.
//!
//! Rows are read from every `*.parquet` under `--results`; a key processed more than once
//! keeps its latest row. A row's key `incoming/<catalog>/<path>` is found as
//! `<source>/<key>` or else `<source>/<path>`, and the annotated image is written to
//! `<output>/<that same relative path>`. Rows of several catalogs for the same image
//! (e.g. a `retail` and a `security` run of one folder) are drawn onto one output image.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use sightline_core::{Detection, ResultRow, Settings};
use sightline_draw::Painter;
use sightline_vision::{decode_image, encode_image, DecodeLimits, EncodeFormat};

/// JPEG quality of annotated images.
const JPEG_QUALITY: u8 = 90;

/// Arguments of `sightline annotate`.
#[derive(Args)]
pub struct AnnotateArgs {
    /// Results: a folder searched recursively for `*.parquet` (e.g. a `run --output`
    /// folder), or one Parquet file.
    #[arg(long)]
    results: PathBuf,
    /// Folder of the source images (the `run --source` folder or a bucket's copy).
    #[arg(long)]
    source: PathBuf,
    /// Folder the annotated images are written under, at the images' relative paths.
    #[arg(long)]
    output: PathBuf,
    /// Output format; default: JPEG for `.jpg`/`.jpeg` inputs, PNG for the others.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Draw only detections scoring at least this.
    #[arg(long, default_value_t = 0.0)]
    min_score: f32,
}

/// Output image format.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// PNG (lossless).
    Png,
    /// JPEG (quality 90).
    Jpeg,
}

/// One output image: the rows of every key that resolved to the same source file.
#[derive(Default)]
struct Image {
    source: PathBuf,
    caption: Option<String>,
    detections: Vec<Detection>,
}

/// Runs `sightline annotate`.
pub fn run(settings: &Settings, args: AnnotateArgs) -> Result<()> {
    if !args.source.is_dir() {
        bail!("source folder {} does not exist", args.source.display());
    }
    let files = parquet_files(&args.results)?;
    if files.is_empty() {
        bail!("no .parquet files under {}", args.results.display());
    }
    crate::folder::separate_folders(&args.source, &args.output)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;

    let rows = latest_rows(&files)?;
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let images = group_images(rows, settings, &args, &mut skipped);
    let painter = Painter::new().context("loading the annotation font")?;
    let limits = DecodeLimits {
        max_pixels: settings.max_image_pixels,
    };
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut annotated = 0usize;
    for (rel, image) in images {
        match annotate_one(&painter, limits, &args, &rel, &image, &written)? {
            Outcome::Written(out) => {
                written.insert(out);
                annotated += 1;
            }
            Outcome::Skipped(reason) => *skipped.entry(reason).or_default() += 1,
        }
    }

    let total: usize = skipped.values().sum();
    let reasons = if skipped.is_empty() {
        String::new()
    } else {
        let r: Vec<String> = skipped.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        format!(" ({})", r.join(", "))
    };
    println!(
        "annotated {annotated} images, skipped {total}{reasons} → {}",
        args.output.display()
    );
    Ok(())
}

/// The latest row per key of every results file (later files win ties), sorted by key.
/// Files of other tables (a report's `metrics/`, `drift/`) are skipped with a message.
fn latest_rows(files: &[PathBuf]) -> Result<Vec<ResultRow>> {
    let mut latest: HashMap<String, ResultRow> = HashMap::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let batches = sightline_tables::results::read_parquet(bytes.into())
            .with_context(|| format!("reading {}", f.display()))?;
        let mut rows = Vec::new();
        for b in &batches {
            if b.schema().index_of("labels").is_err() || b.schema().index_of("key").is_err() {
                eprintln!("skipping {}: not a results table", f.display());
                break;
            }
            // The partition values (catalog, date) are not needed here.
            rows.extend(
                sightline_tables::rows_from_batch(b, "", Default::default())
                    .with_context(|| format!("reading {}", f.display()))?,
            );
        }
        for row in rows {
            match latest.get(&row.key) {
                Some(old) if old.processed_at > row.processed_at => {}
                _ => {
                    latest.insert(row.key.clone(), row);
                }
            }
        }
    }
    let mut rows: Vec<ResultRow> = latest.into_values().collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(rows)
}

/// Rows grouped by the source image they resolve to: the first row's top-1 label as the
/// caption, every row's detections scoring at least `--min-score`. Error rows and rows
/// whose image is not found are counted in `skipped`.
fn group_images(
    rows: Vec<ResultRow>,
    settings: &Settings,
    args: &AnnotateArgs,
    skipped: &mut BTreeMap<&'static str, usize>,
) -> BTreeMap<PathBuf, Image> {
    let mut images: BTreeMap<PathBuf, Image> = BTreeMap::new();
    for row in rows {
        if row.error_kind.is_some() {
            *skipped.entry("error row").or_default() += 1;
            continue;
        }
        let Some((source, rel)) = resolve(&args.source, &settings.incoming_prefix, &row.key) else {
            *skipped.entry("image not found").or_default() += 1;
            continue;
        };
        let image = images.entry(rel).or_default();
        image.source = source;
        if image.caption.is_none() {
            image.caption = row
                .labels
                .first()
                .map(|l| format!("{} {:.2}", l.label, l.score));
        }
        image.detections.extend(
            row.detections
                .into_iter()
                .filter(|d| d.score >= args.min_score),
        );
    }
    images
}

/// What became of one image.
enum Outcome {
    /// Annotated and written to this path.
    Written(PathBuf),
    /// Not annotated, for this reason (logged).
    Skipped(&'static str),
}

/// Reads, decodes (EXIF-upright), draws and writes one image. An unreadable or
/// undecodable source is skipped; failing to encode or write the output is an error.
fn annotate_one(
    painter: &Painter,
    limits: DecodeLimits,
    args: &AnnotateArgs,
    rel: &Path,
    image: &Image,
    written: &HashSet<PathBuf>,
) -> Result<Outcome> {
    let bytes = match std::fs::read(&image.source) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(path = %image.source.display(), error = %e, "cannot read image");
            return Ok(Outcome::Skipped("unreadable image"));
        }
    };
    let mut img = match decode_image(&bytes, limits) {
        Ok(img) => img,
        Err(e) => {
            tracing::warn!(path = %image.source.display(), error = %e, "cannot decode image");
            return Ok(Outcome::Skipped("decode failed"));
        }
    };
    painter.draw_detections(&mut img, &image.detections);
    if let Some(caption) = &image.caption {
        painter.draw_caption(&mut img, caption);
    }
    let format = args.format.unwrap_or_else(|| default_format(rel));
    let encoding = match format {
        Format::Png => EncodeFormat::Png,
        Format::Jpeg => EncodeFormat::Jpeg {
            quality: JPEG_QUALITY,
        },
    };
    let out = output_path(&args.output, rel, format, written);
    let encoded =
        encode_image(&img, encoding).with_context(|| format!("encoding {}", out.display()))?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&out, encoded).with_context(|| format!("writing {}", out.display()))?;
    Ok(Outcome::Written(out))
}

/// `path` itself if it is a file, else every `*.parquet` under it, sorted.
fn parquet_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        bail!("results {} is neither a file nor a folder", path.display());
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The image of `key` under `source`: `source/<key>`, else, for a key
/// `<incoming_prefix><catalog>/<path>`, `source/<path>`. Returns the file and its path
/// relative to `source`. Keys that could leave the folder (`..`, absolute) find nothing.
fn resolve(source: &Path, incoming_prefix: &str, key: &str) -> Option<(PathBuf, PathBuf)> {
    let stripped = key
        .strip_prefix(incoming_prefix)
        .and_then(|rest| rest.split_once('/'))
        .map(|(_catalog, path)| path);
    [Some(key), stripped]
        .into_iter()
        .flatten()
        .map(Path::new)
        .filter(|rel| {
            rel.components().next().is_some()
                && rel.components().all(|c| matches!(c, Component::Normal(_)))
        })
        .map(|rel| (source.join(rel), rel.to_path_buf()))
        .find(|(path, _)| path.is_file())
}

fn is_jpeg_name(rel: &Path) -> bool {
    rel.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
}

/// JPEG for `.jpg`/`.jpeg`, PNG for anything else.
fn default_format(rel: &Path) -> Format {
    if is_jpeg_name(rel) {
        Format::Jpeg
    } else {
        Format::Png
    }
}

/// `output/<rel>`, with the extension replaced when it does not match `format`
/// (`a.webp` → `a.png`); if that name was already written in this run (`a.png` next to
/// `a.webp`), the new extension is appended instead (`a.webp.png`).
fn output_path(output: &Path, rel: &Path, format: Format, written: &HashSet<PathBuf>) -> PathBuf {
    let path = output.join(rel);
    let matches = match format {
        Format::Jpeg => is_jpeg_name(rel),
        Format::Png => rel
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png")),
    };
    if matches {
        return path;
    }
    let ext = match format {
        Format::Png => "png",
        Format::Jpeg => "jpg",
    };
    let replaced = path.with_extension(ext);
    if !written.contains(&replaced) {
        return replaced;
    }
    let mut appended = path.into_os_string();
    appended.push(".");
    appended.push(ext);
    PathBuf::from(appended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::Label;

    fn row(key: &str, label: &str, detections: Vec<Detection>) -> ResultRow {
        ResultRow {
            catalog: "security".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
            bucket: "local".into(),
            key: key.into(),
            etag: String::new(),
            size_bytes: 0,
            model: "m".into(),
            model_version: "1".into(),
            execution_provider: "cpu".into(),
            processed_at: chrono::Utc::now(),
            width: None,
            height: None,
            stats: None,
            labels: vec![Label {
                class_id: 285,
                label: label.into(),
                score: 0.76,
            }],
            tags: vec![],
            detections,
            embedding: None,
            redacted_key: None,
            redaction_skipped: None,
            faces_redacted: None,
            error_kind: None,
            error: None,
            timings: Default::default(),
        }
    }

    fn pixel(img: &sightline_vision::RgbImage, x: u32, y: u32) -> [u8; 3] {
        let o = ((y * img.width + x) * 3) as usize;
        [img.pixels[o], img.pixels[o + 1], img.pixels[o + 2]]
    }

    #[test]
    fn annotates_a_fixture_at_its_size_and_skips_other_tables() {
        let dir = tempfile::tempdir().unwrap();
        let (src, results, out) = (
            dir.path().join("src"),
            dir.path().join("r"),
            dir.path().join("o"),
        );
        std::fs::create_dir_all(src.join("pets")).unwrap();
        std::fs::create_dir_all(results.join("metrics")).unwrap();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images/chelsea.jpg");
        let jpeg = std::fs::read(fixture).unwrap();
        std::fs::write(src.join("pets/chelsea.jpg"), &jpeg).unwrap();
        let cat = Detection {
            class_id: 16,
            label: "cat".into(),
            score: 0.9,
            x_min: 40.0,
            y_min: 60.0,
            x_max: 230.0,
            y_max: 260.0,
        };
        let rows = [row(
            "incoming/security/pets/chelsea.jpg",
            "Egyptian cat",
            vec![cat],
        )];
        let batch = sightline_tables::results::to_record_batch(&rows, 0).unwrap();
        let parquet = sightline_tables::results::write_parquet(&batch).unwrap();
        std::fs::write(results.join("part-0.parquet"), parquet).unwrap();
        // A table that is not results (no `labels`): skipped, not an error.
        let other = sightline_tables::results::write_parquet(&batch.project(&[0, 1]).unwrap());
        std::fs::write(results.join("metrics/m.parquet"), other.unwrap()).unwrap();
        let args = AnnotateArgs {
            results,
            source: src,
            output: out.clone(),
            format: Some(Format::Png),
            min_score: 0.5,
        };
        run(&Settings::default(), args).unwrap();
        let limits = DecodeLimits {
            max_pixels: 1 << 24,
        };
        let orig = decode_image(&jpeg, limits).unwrap();
        let png = std::fs::read(out.join("pets/chelsea.png")).unwrap();
        let drawn = decode_image(&png, limits).unwrap();
        assert_eq!((drawn.width, drawn.height), (orig.width, orig.height));
        let color = sightline_draw::label_color("cat");
        // The outline's left edge, below the tag; the box's inside is untouched.
        assert_eq!(pixel(&drawn, 40, 150), color);
        assert_eq!(pixel(&drawn, 229, 150), color);
        assert_eq!(pixel(&drawn, 120, 150), pixel(&orig, 120, 150));
        // The caption bar at the top-left corner.
        assert_eq!(pixel(&drawn, 0, 0), sightline_draw::CAPTION_BACKGROUND);
        assert_ne!(drawn, orig);
    }

    #[test]
    fn resolves_keys_as_is_or_without_the_catalog_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/a.jpg"), b"x").unwrap();
        std::fs::create_dir_all(src.join("incoming/retail")).unwrap();
        std::fs::write(src.join("incoming/retail/b.png"), b"x").unwrap();
        let r = |k: &str| resolve(src, "incoming/", k).map(|(_, rel)| rel);
        assert_eq!(
            r("incoming/security/sub/a.jpg"),
            Some(PathBuf::from("sub/a.jpg"))
        );
        assert_eq!(r("sub/a.jpg"), Some(PathBuf::from("sub/a.jpg")));
        assert_eq!(
            r("incoming/retail/b.png"),
            Some(PathBuf::from("incoming/retail/b.png"))
        );
        assert_eq!(r("incoming/retail/missing.jpg"), None);
        assert_eq!(r("incoming/retail/../retail/b.png"), None);
        assert_eq!(r("/etc/passwd"), None);
        assert_eq!(r(""), None);
    }

    #[test]
    fn output_names_follow_the_format() {
        let out = Path::new("/o");
        let none = HashSet::new();
        let p = |rel: &str, f, w: &HashSet<PathBuf>| output_path(out, Path::new(rel), f, w);
        assert_eq!(p("a/b.JPG", Format::Jpeg, &none), Path::new("/o/a/b.JPG"));
        assert_eq!(p("b.jpeg", Format::Png, &none), Path::new("/o/b.png"));
        assert_eq!(p("b.webp", Format::Png, &none), Path::new("/o/b.png"));
        assert_eq!(p("b.png", Format::Jpeg, &none), Path::new("/o/b.jpg"));
        let taken = HashSet::from([PathBuf::from("/o/b.png")]);
        assert_eq!(p("b.webp", Format::Png, &taken), Path::new("/o/b.webp.png"));
        assert!(default_format(Path::new("x.JPEG")) == Format::Jpeg);
        assert!(default_format(Path::new("x.gif")) == Format::Png);
        assert!(default_format(Path::new("x")) == Format::Png);
    }
}
