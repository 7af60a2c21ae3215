//! The model-quality report end to end against moto: images → worker → results in the
//! bucket; labels uploaded; `sightline report` → metrics and drift Parquet, JSON and HTML
//! in the bucket, and a retrain request on SQS when the current window is darkened —
//! nothing when it is identical to the reference.

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
use sightline_tests::results::read_parquet;
use sightline_tests::{fixture, repo_root, shared_moto, workspace_bin, Moto};
use sightline_vision::{decode_image, encode_image, DecodeLimits, EncodeFormat, RgbImage};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A `w × h` crop of `img` at `(x, y)`.
fn crop(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> RgbImage {
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        let start = ((row * img.width + x) * 3) as usize;
        pixels.extend_from_slice(&img.pixels[start..start + (w * 3) as usize]);
    }
    RgbImage {
        width: w,
        height: h,
        pixels,
    }
}

/// The dev set: 8 crops (88 % of each side, on a 3 × 3 grid minus the centre) of each
/// fixture photo, with the photo's class as ground truth.
fn dev_images() -> Vec<(String, RgbImage, &'static str)> {
    let mut out = Vec::new();
    for (name, label) in [
        ("chelsea", "Egyptian cat"),
        ("coffee", "espresso"),
        ("camera", "tripod"),
    ] {
        let bytes = std::fs::read(fixture(&format!("images/{name}.jpg"))).unwrap();
        let img = decode_image(
            &bytes,
            DecodeLimits {
                max_pixels: 1 << 26,
            },
        )
        .unwrap();
        let (w, h) = (img.width * 88 / 100, img.height * 88 / 100);
        let mut k = 0;
        for gy in 0..3 {
            for gx in 0..3 {
                if (gx, gy) == (1, 1) {
                    continue;
                }
                let (x, y) = ((img.width - w) * gx / 2, (img.height - h) * gy / 2);
                out.push((format!("{name}_{k}.jpg"), crop(&img, x, y, w, h), label));
                k += 1;
            }
        }
    }
    out
}

fn darken(img: &RgbImage, factor: f32) -> RgbImage {
    RgbImage {
        pixels: img
            .pixels
            .iter()
            .map(|&p| (p as f32 * factor).round() as u8)
            .collect(),
        ..img.clone()
    }
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    encode_image(img, EncodeFormat::Jpeg { quality: 92 }).unwrap()
}

fn report(moto: &Moto, bucket: &str, retrain: &str, current: &str) -> String {
    let out = Command::new(workspace_bin("sightline"))
        .args(["--log-format", "text", "report", "--catalog", "medical"])
        .args(["--bucket", bucket, "--retrain-queue-url", retrain])
        .args(["--reference", "prefix=ref/", "--current", current])
        .envs(moto.env_vars())
        .current_dir(repo_root())
        .output()
        .expect("run sightline report");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "report failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn keys(moto: &Moto, bucket: &str, prefix: &str) -> Vec<String> {
    let out = moto
        .s3()
        .await
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn get(moto: &Moto, bucket: &str, key: &str) -> Vec<u8> {
    let o = moto
        .s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn drain(moto: &Moto, queue: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let r = moto
            .sqs()
            .await
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            return out;
        }
        for m in r.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            moto.sqs()
                .await
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// `(feature, method) → (value, status)` of one drift table file.
fn drift_rows(bytes: Vec<u8>) -> Vec<(String, String, f64, String)> {
    use arrow::array::AsArray;
    use arrow::datatypes::Float64Type;
    let mut out = Vec::new();
    for b in read_parquet(bytes.into()) {
        let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
        let (f, m, st) = (s("feature"), s("method"), s("status"));
        let v = b
            .column_by_name("value")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        for i in 0..b.num_rows() {
            out.push((
                f.value(i).to_string(),
                m.value(i).to_string(),
                v.value(i),
                st.value(i).to_string(),
            ));
        }
    }
    out
}

#[test]
fn darkened_images_raise_drift_and_a_retrain_request_identical_ones_nothing() {
    let moto = shared_moto();
    let rt = rt();
    let (bucket, ingest, retrain) = rt.block_on(async {
        (
            moto.new_bucket("sl-report").await,
            moto.new_queue("sl-report-in").await,
            moto.new_queue("sl-retrain").await,
        )
    });
    let images = dev_images();
    let mut labels = String::from("key,label\n");
    rt.block_on(async {
        let s3 = moto.s3().await;
        let mut bodies = Vec::new();
        for (name, img, label) in &images {
            labels.push_str(&format!("{name},{label}\n"));
            for (window, bytes) in [
                ("ref", jpeg(img)),
                ("same", jpeg(img)),
                ("dark", jpeg(&darken(img, 0.35))),
            ] {
                let key = format!("incoming/medical/{window}/{name}");
                s3.put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .unwrap();
                bodies.push(s3_event_body(&[ObjectRef::new(&bucket, &key)]));
            }
        }
        let sqs = moto.sqs().await;
        for b in bodies {
            sqs.send_message()
                .queue_url(&ingest)
                .message_body(b)
                .send()
                .await
                .unwrap();
        }
        s3.put_object()
            .bucket(&bucket)
            .key("labels/medical/labels.csv")
            .body(ByteStream::from(labels.clone().into_bytes()))
            .send()
            .await
            .unwrap();
    });
    let worker = Command::new(workspace_bin("sightline"))
        .args(["worker", "--queue-url", &ingest, "--exit-when-idle", "2"])
        .envs(moto.env_vars())
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        worker.status.success(),
        "{}",
        String::from_utf8_lossy(&worker.stderr)
    );

    // Darkened: brightness and embedding drift alert, a retrain request is sent.
    let stdout = report(moto, &bucket, &retrain, "prefix=dark/");
    assert!(stdout.contains("status         ALERT"), "{stdout}");
    let written = rt.block_on(async {
        let mut k = Vec::new();
        for p in [
            "metrics/catalog=medical/",
            "drift/catalog=medical/",
            "reports/catalog=medical/",
        ] {
            k.extend(keys(moto, &bucket, p).await);
        }
        k
    });
    let one = |prefix: &str, suffix: &str| -> String {
        let found: Vec<&String> = written
            .iter()
            .filter(|k| k.starts_with(prefix) && k.ends_with(suffix))
            .collect();
        assert_eq!(found.len(), 1, "{prefix}…{suffix} in {written:?}");
        found[0].clone()
    };
    let drift_key = one("drift/catalog=medical/date=", ".parquet");
    let metrics_key = one("metrics/catalog=medical/date=", ".parquet");
    let json_key = one("reports/catalog=medical/date=", ".json");
    let html_key = one("reports/catalog=medical/date=", ".html");
    let drift = drift_rows(rt.block_on(get(moto, &bucket, &drift_key)));
    let status = |feature: &str, method: &str| -> (f64, String) {
        let r = drift
            .iter()
            .find(|r| r.0 == feature && r.1 == method)
            .unwrap_or_else(|| panic!("no {feature} {method} in {drift:?}"));
        (r.2, r.3.clone())
    };
    for m in ["psi", "ks", "wasserstein_normed"] {
        assert_eq!(status("brightness", m).1, "alert", "{drift:?}");
    }
    assert_eq!(
        status("embedding (same images)", "displacement").1,
        "alert",
        "{drift:?}"
    );
    assert_eq!(
        status("width", "ks"),
        (0.0, "ok".into()),
        "crops keep their size"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&rt.block_on(get(moto, &bucket, &json_key))).unwrap();
    assert_eq!(summary["status"], "alert");
    assert_eq!(summary["current"]["rows"], images.len());
    assert_eq!(summary["classification"]["samples"], images.len());
    let html = String::from_utf8(rt.block_on(get(moto, &bucket, &html_key))).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    let metrics = read_parquet(rt.block_on(get(moto, &bucket, &metrics_key)).into());
    assert!(metrics.iter().map(|b| b.num_rows()).sum::<usize>() > 10);
    let requests = rt.block_on(drain(moto, &retrain));
    assert_eq!(requests.len(), 1, "{requests:?}");
    let req = &requests[0];
    assert_eq!(req["kind"], "retrain_request");
    assert_eq!(req["catalog"], "medical");
    assert_eq!(req["report_key"], json_key.as_str());
    let reasons = req["reasons"].to_string();
    assert!(
        reasons.contains("brightness") && reasons.contains("embedding"),
        "{reasons}"
    );

    // Identical images: every drift test at 0 and ok, the accuracy floor holds, no request.
    let stdout = report(moto, &bucket, &retrain, "prefix=same/");
    assert!(stdout.contains("status         OK"), "{stdout}");
    let drift_keys = rt.block_on(keys(moto, &bucket, "drift/catalog=medical/"));
    assert_eq!(drift_keys.len(), 2, "one drift file per pair of windows");
    let same_key = drift_keys.iter().find(|k| **k != drift_key).unwrap();
    let drift = drift_rows(rt.block_on(get(moto, &bucket, same_key)));
    assert!(drift.len() >= 10, "{drift:?}");
    for r in &drift {
        assert_eq!((r.2, r.3.as_str()), (0.0, "ok"), "{r:?}");
    }
    assert!(rt.block_on(drain(moto, &retrain)).is_empty());
}
