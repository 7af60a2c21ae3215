//! Writes a results partition of many small batch files, as the infer Lambda leaves it:
//! `cargo run --release -p sightline-lake --example small_files -- DIR FILES ROWS_PER_FILE`
//! (synthetic rows of the real schema: 5 labels, 2 tags, a 1280-float embedding that
//! compresses like a real one, one day of `retail`). Used by `scripts/lake_bench.py`.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use sightline_core::{ImageStats, Label, ResultRow, StageTimings};
use sightline_tables::result_files;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, files, rows] = args.as_slice() else {
        return Err("usage: small_files DIR FILES ROWS_PER_FILE".into());
    };
    let (files, per_file): (usize, usize) = (files.parse()?, rows.parse()?);
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).ok_or("date")?;
    let start = Utc
        .with_ymd_and_hms(2026, 11, 26, 0, 0, 0)
        .single()
        .ok_or("time")?;
    let mut bytes = 0;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for f in 0..files {
        let rows: Vec<ResultRow> = (0..per_file)
            .map(|r| {
                let i = f * per_file + r;
                let mut next = || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                let embedding = (0..1280).map(|_| (next() % 4096) as f32 / 1024.0).collect();
                let class = (next() % 1000) as i32;
                ResultRow {
                    catalog: "retail".into(),
                    date,
                    bucket: "photos".into(),
                    key: format!("incoming/retail/{i:08}.jpg"),
                    etag: format!("{:032x}", next()),
                    size_bytes: 100_000 + (next() % 2_000_000) as i64,
                    model: "efficientnet_lite0".into(),
                    model_version: "1.0.0".into(),
                    execution_provider: "cpu".into(),
                    processed_at: start + TimeDelta::milliseconds(i as i64 * 50),
                    width: Some(640),
                    height: Some(480),
                    stats: Some(ImageStats {
                        aspect: 4.0 / 3.0,
                        brightness: (next() % 255) as f32,
                        contrast: (next() % 80) as f32,
                    }),
                    labels: (0..5)
                        .map(|k| Label {
                            class_id: (class + k) % 1000,
                            label: format!("class {}", (class + k) % 1000),
                            score: 0.5 / (k + 1) as f32,
                        })
                        .collect(),
                    tags: vec![
                        "kitchenware".into(),
                        ["bags", "toys", "sports"][i % 3].into(),
                    ],
                    detections: vec![],
                    embedding: Some(embedding),
                    redacted_key: None,
                    redaction_skipped: None,
                    faces_redacted: None,
                    error_kind: None,
                    error: None,
                    timings: StageTimings::default(),
                }
            })
            .collect();
        for file in result_files("results/", &rows, |_| 1280)? {
            let path = std::path::Path::new(dir).join(&file.key);
            std::fs::create_dir_all(path.parent().ok_or("parent")?)?;
            std::fs::write(path, &file.bytes)?;
            bytes += file.bytes.len();
        }
    }
    println!(
        "{{\"files\": {files}, \"rows\": {}, \"bytes\": {bytes}}}",
        files * per_file
    );
    Ok(())
}
