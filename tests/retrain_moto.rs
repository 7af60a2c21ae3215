//! Retraining end to end on moto's S3 and SQS over HTTP: images → the running `sightline
//! worker` → labels → `sightline report` → its retrain request on SQS → the real
//! `sightline-retrain` Lambda binary (Runtime API harness) → registry → the same worker,
//! still running, serves the new champion → rows with the head's classes and version.
//! A redelivered request is handled once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use image::{Rgb, RgbImage};
use serde_json::{json, Value};
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
use sightline_tests::results::{rows_in_bucket, Row};
use sightline_tests::{repo_root, run_lambda, shared_moto, workspace_bin, Moto};

/// A 96×96 PNG: horizontal red stripes or blue dots, varied by `i`.
fn picture(kind: &str, i: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(96, 96, |x, y| {
        let shade = 40 + ((x * 7 + y * 3 + i * 11) % 60) as u8;
        match kind {
            "red" if (y + i) % 12 < 6 => Rgb([220, shade, shade]),
            "blue" if (x + i) % 16 < 5 && (y + 2 * i) % 16 < 5 => Rgb([shade, shade, 230]),
            _ => Rgb([235 - shade, 235 - shade, 235 - shade]),
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(moto: &Moto, bucket: &str, queue: &str, keys: &[(String, Vec<u8>)]) {
    let (s3, sqs) = (moto.s3().await, moto.sqs().await);
    for (key, bytes) in keys {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .unwrap();
        let body = s3_event_body(&[ObjectRef::new(bucket.to_string(), key.clone())]);
        sqs.send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
}

/// Rows under `results/` once every key in `keys` has one (60 s at most).
fn wait_for_rows(
    rt: &tokio::runtime::Runtime,
    moto: &Moto,
    bucket: &str,
    keys: &[String],
) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, rows) =
            rt.block_on(async { rows_in_bucket(&moto.s3().await, bucket, "results/").await });
        if keys.iter().all(|k| rows.iter().any(|r| &r.key == k)) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "rows missing after 90 s: {} of {}",
            rows.len(),
            keys.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn get_json(moto: &Moto, bucket: &str, key: &str) -> Value {
    let o = moto
        .s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap()
}

#[test]
fn a_report_request_retrains_and_the_running_worker_serves_the_new_champion() {
    let moto = shared_moto();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (bucket, ingest, retrain_queue) = rt.block_on(async {
        (
            moto.new_bucket("sl-retrain").await,
            moto.new_queue("sl-ingest").await,
            moto.new_queue("sl-retrain").await,
        )
    });
    let train: Vec<(String, Vec<u8>)> = (0..24)
        .map(|i| {
            let kind = if i % 2 == 0 { "red" } else { "blue" };
            (
                format!("incoming/retail/train/{kind}{i:02}.png"),
                picture(kind, i),
            )
        })
        .collect();
    rt.block_on(upload(moto, &bucket, &ingest, &train));
    let worker = Command::new(workspace_bin("sightline"))
        .args([
            "worker",
            "--queue-url",
            &ingest,
            "--exit-when-idle",
            "120",
            "--retry-delay",
            "0",
        ])
        .envs(moto.env_vars())
        .env("SIGHTLINE_INFER_BATCH", "8")
        .env("SIGHTLINE_HEAD_REFRESH_SECS", "1")
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let train_keys: Vec<String> = train.iter().map(|(k, _)| k.clone()).collect();
    let rows = wait_for_rows(&rt, moto, &bucket, &train_keys);
    assert!(
        rows.iter()
            .all(|r| r.model == "efficientnet_lite0+centernet_mbv3_coco"),
        "no head yet"
    );

    // Labels in, then the report: its accuracy floor fails (ImageNet knows no "red
    // stripes"), so it sends a retrain request.
    let mut labels = String::from("file,label,tag\n");
    for key in &train_keys {
        let file = key.trim_start_matches("incoming/retail/");
        let class = if file.contains("red") {
            "red stripes"
        } else {
            "blue dots"
        };
        labels += &format!("{file},{class},pattern\n");
    }
    rt.block_on(async {
        let s3 = moto.s3().await;
        s3.put_object()
            .bucket(&bucket)
            .key("labels/retail/labels.csv")
            .body(ByteStream::from(labels.into_bytes()))
            .send()
            .await
            .unwrap();
    });
    let report = Command::new(workspace_bin("sightline"))
        .args([
            "report",
            "--catalog",
            "retail",
            "--bucket",
            &bucket,
            "--reference",
            "all",
            "--current",
            "all",
        ])
        .args(["--retrain-queue-url", &retrain_queue, "--json"])
        .envs(moto.env_vars())
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let request = rt.block_on(async {
        let got = moto
            .sqs()
            .await
            .receive_message()
            .queue_url(&retrain_queue)
            .wait_time_seconds(5)
            .send()
            .await
            .unwrap();
        got.messages()[0].body().unwrap().to_string()
    });
    assert!(request.contains("retrain_request"), "{request}");

    // The retrain Lambda consumes it (twice: a redelivery is handled once).
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/sqs-s3-put.json")).unwrap(),
    )
    .unwrap();
    let mut record = template["Records"][0].clone();
    record["body"] = json!(request);
    let event = json!({"Records": [record]});
    let mut env = moto.env_vars();
    env.push((
        "SIGHTLINE_MODELS_DIR".into(),
        repo_root().join("models").display().to_string(),
    ));
    env.push(("SIGHTLINE_RETRAIN_BUCKET".into(), bucket.clone()));
    // As the deployed template passes AccuracyFloor=none (the report reads it too).
    env.push(("SIGHTLINE_ACCURACY_FLOOR".into(), "none".into()));
    let run = run_lambda(
        &workspace_bin("sightline-retrain"),
        &[event.clone(), event],
        &env,
        Duration::from_secs(180),
    );
    for inv in &run.invocations {
        let response = inv
            .response
            .clone()
            .unwrap_or_else(|| panic!("no response: {inv:?}\n{}", run.stderr));
        assert_eq!(
            response["batchItemFailures"],
            json!([]),
            "{response}\n{}",
            run.stderr
        );
    }
    let alias = rt.block_on(get_json(moto, &bucket, "registry/retail/alias.json"));
    let champion = alias["champion"]
        .as_str()
        .unwrap_or_else(|| panic!("no champion: {alias}\n{}", run.stderr))
        .to_string();
    let reason = alias["history"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no accuracy floor"),
        "the first head was judged without a floor: {alias}"
    );
    let promotions = alias["history"].as_array().unwrap().len();
    assert_eq!(
        promotions, 1,
        "the redelivered request did not retrain again: {alias}"
    );

    // New photos: the worker, still running, picks up the champion and labels them with
    // the head's classes and version.
    let fresh: Vec<(String, Vec<u8>)> = (100..104)
        .map(|i| {
            let kind = if i % 2 == 0 { "red" } else { "blue" };
            (
                format!("incoming/retail/new/{kind}{i}.png"),
                picture(kind, i),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2)); // past the worker's refresh interval
    rt.block_on(upload(moto, &bucket, &ingest, &fresh));
    let fresh_keys: Vec<String> = fresh.iter().map(|(k, _)| k.clone()).collect();
    let rows = wait_for_rows(&rt, moto, &bucket, &fresh_keys);
    for key in &fresh_keys {
        let row = rows.iter().find(|r| &r.key == key).unwrap();
        assert_eq!(
            row.model, "efficientnet_lite0+head+centernet_mbv3_coco",
            "{row:?}"
        );
        assert_eq!(row.model_version, format!("1.0.0+{champion}+1.0.0"));
        let want = if key.contains("red") {
            "red stripes"
        } else {
            "blue dots"
        };
        assert_eq!(row.labels[0].1, want, "{row:?}");
        assert!(row.tags.contains(&"pattern".to_string()), "{row:?}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let out = worker.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "worker: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
