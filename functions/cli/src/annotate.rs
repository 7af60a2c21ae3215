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
use sightline_vision::{
    decode_image, draw_caption, draw_detections, encode_image, DecodeLimits, EncodeFormat,
};

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
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    if std::fs::canonicalize(&args.output)? == std::fs::canonicalize(&args.source)? {
        bail!("--output must differ from --source (it would overwrite the images)");
    }

    // The latest row per key (later files win ties).
    let mut latest: HashMap<String, ResultRow> = HashMap::new();
    for f in &files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let batches = sightline_tables::results::read_parquet(bytes.into())
            .with_context(|| format!("reading {}", f.display()))?;
        let mut rows = Vec::new();
        for b in &batches {
            // Other tables under the same folder (metrics/, drift/ of a report) are not
            // results: skip them.
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

    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
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

    let limits = DecodeLimits {
        max_pixels: settings.max_image_pixels,
    };
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut annotated = 0usize;
    for (rel, image) in images {
        let bytes = match std::fs::read(&image.source) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %image.source.display(), error = %e, "cannot read image");
                *skipped.entry("unreadable image").or_default() += 1;
                continue;
            }
        };
        let mut img = match decode_image(&bytes, limits) {
            Ok(img) => img,
            Err(e) => {
                tracing::warn!(path = %image.source.display(), error = %e, "cannot decode image");
                *skipped.entry("decode failed").or_default() += 1;
                continue;
            }
        };
        draw_detections(&mut img, &image.detections);
        if let Some(caption) = &image.caption {
            draw_caption(&mut img, caption);
        }
        let format = args.format.unwrap_or_else(|| default_format(&rel));
        let encoding = match format {
            Format::Png => EncodeFormat::Png,
            Format::Jpeg => EncodeFormat::Jpeg {
                quality: JPEG_QUALITY,
            },
        };
        let out = output_path(&args.output, &rel, format, &written);
        let encoded =
            encode_image(&img, encoding).with_context(|| format!("encoding {}", out.display()))?;
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&out, encoded).with_context(|| format!("writing {}", out.display()))?;
        written.insert(out);
        annotated += 1;
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
