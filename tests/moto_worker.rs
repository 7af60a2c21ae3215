//! The worker end to end against moto's S3 and SQS over HTTP: bucket notifications →
//! SQS → the real `sightline worker` binary → Parquet in the bucket, read back.

use std::collections::HashMap;
use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
use sightline_tests::emf::check_emf;
use sightline_tests::lake::{download_prefix, query_latest, LakeView};
use sightline_tests::results::{rows_in_bucket, Row};
use sightline_tests::{fixture, repo_root, require_python, shared_moto, workspace_bin, Moto};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn queue_arn(moto: &Moto, url: &str) -> String {
    let out = moto
        .sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    out.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
}

/// A queue with a dead-letter queue after `max_receives` deliveries.
async fn queue_with_dlq(moto: &Moto, max_receives: u32) -> (String, String) {
    let dlq = moto.new_queue("sl-dlq").await;
    let queue = moto.new_queue("sl-ingest").await;
    let policy = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"{max_receives}"}}"#,
        queue_arn(moto, &dlq).await
    );
    moto.sqs()
        .await
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap();
    (queue, dlq)
}

/// Runs the worker until the queue is idle; returns its JSON summary.
fn run_worker(moto: &Moto, queue: &str) -> serde_json::Value {
    let out = Command::new(workspace_bin("sightline"))
        .args([
            "worker",
            "--queue-url",
            queue,
            "--exit-when-idle",
            "2",
            "--retry-delay",
            "0",
        ])
        .envs(moto.env_vars())
        .env("SIGHTLINE_INFER_BATCH", "4")
        .current_dir(repo_root())
        .output()
        .expect("start sightline worker");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "worker failed:\n{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{log}"));
    assert!(summary["seconds"].as_f64().unwrap() > 0.0, "{summary}");
    // Every other line is a batch's CloudWatch EMF metrics; their batch-level images add
    // up to the summary's.
    let lines: Vec<&str> = stdout.lines().collect();
    let mut images = 0;
    for line in &lines[..lines.len() - 1] {
        let emf = check_emf(line).unwrap_or_else(|e| panic!("invalid EMF ({e}): {line}"));
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Sightline"
        );
        if emf["Service"] == "sightline" {
            images += emf["Images"].as_u64().unwrap();
        }
    }
    assert_eq!(Some(images), summary["images"].as_u64(), "{stdout}");
    summary
}

fn by_name(rows: &[Row]) -> HashMap<String, Row> {
    rows.iter().map(|r| (r.key.clone(), r.clone())).collect()
}

#[test]
fn uploads_become_rows_through_notifications_and_the_worker() {
    let moto = shared_moto();
    let rt = rt();
    let (bucket, queue, dlq) = rt.block_on(async {
        let bucket = moto.new_bucket("sl-e2e").await;
        let (queue, dlq) = queue_with_dlq(moto, 3).await;
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::Prefix)
                            .value("incoming/")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let config = QueueConfiguration::builder()
            .queue_arn(queue_arn(moto, &queue).await)
            .events(Event::S3ObjectCreated)
            .filter(filter)
            .build()
            .unwrap();
        moto.s3()
            .await
            .put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(config)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        (bucket, queue, dlq)
    });
    let uploads = [
        ("incoming/retail/chelsea.jpg", "images/chelsea.jpg"),
        (
            "incoming/retail/cats & dogs/coffee +1 caf\u{e9}.jpg",
            "images/coffee.jpg",
        ),
        ("incoming/retail/camera.jpg", "images/camera.jpg"),
        ("incoming/retail/formats/cmyk.jpg", "formats/cmyk.jpg"),
        (
            "incoming/retail/formats/exif_rotated.jpg",
            "formats/exif_rotated.jpg",
        ),
        ("incoming/retail/bad/truncated.jpg", "bad/truncated.jpg"),
        ("incoming/retail/bad/text.jpg", "bad/text.jpg"),
        ("incoming/retail/bad/empty.jpg", "bad/empty.jpg"),
        ("incoming/retail/bad/bomb.png", "bad/bomb.png"),
        ("incoming/nope/chelsea.jpg", "images/chelsea.jpg"),
        ("incoming/security/cam 7/frame.jpg", "images/camera.jpg"),
        ("elsewhere/chelsea.jpg", "images/chelsea.jpg"),
    ];
    rt.block_on(async {
        let s3 = moto.s3().await;
        for (key, file) in uploads {
            let body = ByteStream::from(std::fs::read(fixture(file)).unwrap());
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(body)
                .send()
                .await
                .unwrap();
        }
    });

    run_worker(moto, &queue);

    let (files, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    // Every routed upload is one row; `elsewhere/` is outside the notification filter.
    assert_eq!(rows.len(), uploads.len() - 1, "{rows:#?}");
    let rows = by_name(&rows);
    assert_eq!(
        rows["incoming/retail/chelsea.jpg"].top1(),
        Some(285),
        "Egyptian cat"
    );
    let coffee = &rows["incoming/retail/cats & dogs/coffee +1 caf\u{e9}.jpg"];
    assert_eq!(coffee.top1(), Some(967), "espresso: {coffee:?}");
    assert_eq!(coffee.bucket, bucket);
    assert!(!coffee.etag.is_empty() && coffee.size_bytes > 0);
    assert_eq!(
        rows["incoming/retail/camera.jpg"].top1(),
        Some(872),
        "tripod"
    );
    assert_eq!(rows["incoming/retail/formats/cmyk.jpg"].error_kind, None);
    assert_eq!(
        rows["incoming/retail/formats/exif_rotated.jpg"].width,
        Some(320)
    );
    for (key, kind) in [
        ("incoming/retail/bad/truncated.jpg", "corrupt_image"),
        ("incoming/retail/bad/text.jpg", "not_an_image"),
        ("incoming/retail/bad/empty.jpg", "empty_object"),
        ("incoming/retail/bad/bomb.png", "too_large"),
        ("incoming/nope/chelsea.jpg", "unknown_catalog"),
    ] {
        assert_eq!(rows[key].error_kind.as_deref(), Some(kind), "{key}");
    }
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("results/catalog=_unrouted/date=")),
        "{files:?}"
    );
    let frame = &rows["incoming/security/cam 7/frame.jpg"];
    assert!(
        frame.detections >= 1 && frame.tags.contains(&"person".to_string()),
        "{frame:?}"
    );
    for catalog in ["retail", "security", "_unrouted"] {
        let prefix = format!("results/catalog={catalog}/date=");
        assert!(files.iter().any(|f| f.starts_with(&prefix)), "{files:?}");
    }
    // Everything was acknowledged; nothing was dead-lettered.
    rt.block_on(async {
        assert_eq!(moto.queue_depth(&queue).await, 0);
        assert_eq!(moto.queue_depth(&dlq).await, 0);
    });
}

#[test]
fn redelivering_the_same_batch_overwrites_instead_of_duplicating() {
    let moto = shared_moto();
    let rt = rt();
    let (bucket, queue) = rt.block_on(async {
        let bucket = moto.new_bucket("sl-redeliver").await;
        let (queue, _) = queue_with_dlq(moto, 3).await;
        let s3 = moto.s3().await;
        for name in ["chelsea", "coffee", "camera"] {
            let body =
                ByteStream::from(std::fs::read(fixture(&format!("images/{name}.jpg"))).unwrap());
            s3.put_object()
                .bucket(&bucket)
                .key(format!("incoming/retail/{name}.jpg"))
                .body(body)
                .send()
                .await
                .unwrap();
        }
        (bucket, queue)
    });
    let bodies: Vec<String> = ["chelsea", "coffee", "camera"]
        .iter()
        .map(|n| {
            s3_event_body(&[ObjectRef::new(
                bucket.clone(),
                format!("incoming/retail/{n}.jpg"),
            )])
        })
        .collect();
    let send = |bodies: &[String]| {
        rt.block_on(async {
            let sqs = moto.sqs().await;
            for b in bodies {
                sqs.send_message()
                    .queue_url(&queue)
                    .message_body(b)
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    send(&bodies);
    assert_eq!(run_worker(moto, &queue)["images"], 3);
    let (first_files, first) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    assert_eq!(first.len(), 3);
    send(&bodies);
    run_worker(moto, &queue);
    let (files, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    assert_eq!(
        files, first_files,
        "the same batch must land in the same file"
    );
    assert_eq!(rows.len(), 3, "no duplicate rows after redelivery");

    // Two of them again, grouped differently (one message for both, as a backfill sends
    // them): a new file, yet the documented view still shows three rows.
    let objects: Vec<ObjectRef> = ["chelsea", "coffee"]
        .iter()
        .map(|n| ObjectRef::new(bucket.clone(), format!("incoming/retail/{n}.jpg")))
        .collect();
    send(&[s3_event_body(&objects)]);
    run_worker(moto, &queue);
    let view = latest_view(&rt, moto, &bucket);
    assert!(view.raw_rows > 3, "regrouped: a second file ({view:?})");
    let keys: Vec<&str> = view.latest.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "incoming/retail/camera.jpg",
            "incoming/retail/chelsea.jpg",
            "incoming/retail/coffee.jpg"
        ]
    );
}

/// The documented query path (`results_latest`, DuckDB) over the bucket's results.
fn latest_view(rt: &tokio::runtime::Runtime, moto: &Moto, bucket: &str) -> LakeView {
    let python = require_python(&["duckdb"]).expect("python with duckdb");
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async { download_prefix(&moto.s3().await, bucket, "results/", dir.path()).await });
    query_latest(&python, &dir.path().join("results"))
}

#[test]
fn a_key_overwritten_before_processing_gets_one_row_for_what_was_read() {
    let moto = shared_moto();
    let rt = rt();
    let key = "incoming/retail/shelf/item.jpg";
    let (bucket, queue, coffee_etag, coffee_size) = rt.block_on(async {
        let bucket = moto.new_bucket("sl-overwrite").await;
        let (queue, _) = queue_with_dlq(moto, 3).await;
        let s3 = moto.s3().await;
        let sqs = moto.sqs().await;
        // chelsea.jpg is uploaded and announced, then coffee.jpg replaces it under the same
        // key (and is announced too) before the worker runs.
        for name in ["chelsea", "coffee"] {
            let bytes = std::fs::read(fixture(&format!("images/{name}.jpg"))).unwrap();
            let size = bytes.len() as i64;
            let put = s3
                .put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .unwrap();
            let etag = put.e_tag().unwrap().trim_matches('"').to_string();
            let mut object = ObjectRef::new(bucket.clone(), key);
            object.etag = Some(etag.clone());
            object.size = Some(size);
            sqs.send_message()
                .queue_url(&queue)
                .message_body(s3_event_body(&[object]))
                .send()
                .await
                .unwrap();
            if name == "coffee" {
                return (bucket, queue, etag, size);
            }
        }
        unreachable!()
    });
    run_worker(moto, &queue);
    let (_, raw) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    // Every row describes the bytes it analysed: coffee's ETag, size and label.
    for row in &raw {
        assert_eq!(
            (row.etag.as_str(), row.size_bytes, row.top1()),
            (coffee_etag.as_str(), coffee_size, Some(967)),
            "{row:?}"
        );
    }
    let view = latest_view(&rt, moto, &bucket);
    assert_eq!(view.latest.len(), 1, "{view:?}");
    assert_eq!(view.latest[0].etag, coffee_etag);
}

#[test]
fn transient_failures_are_retried_then_dead_lettered_without_rows() {
    let moto = shared_moto();
    let rt = rt();
    let (bucket, queue, dlq) = rt.block_on(async {
        let bucket = moto.new_bucket("sl-transient").await;
        let (queue, dlq) = queue_with_dlq(moto, 2).await;
        let body = ByteStream::from(std::fs::read(fixture("images/chelsea.jpg")).unwrap());
        moto.s3()
            .await
            .put_object()
            .bucket(&bucket)
            .key("incoming/retail/ok.jpg")
            .body(body)
            .send()
            .await
            .unwrap();
        let sqs = moto.sqs().await;
        // A bucket that does not exist: not the image's fault, so retried, never an error row.
        let gone = s3_event_body(&[ObjectRef::new(
            "sl-no-such-bucket-xyz",
            "incoming/retail/lost.jpg",
        )]);
        let ok = s3_event_body(&[ObjectRef::new(bucket.clone(), "incoming/retail/ok.jpg")]);
        for b in [gone, ok, "this is not an S3 event".to_string()] {
            sqs.send_message()
                .queue_url(&queue)
                .message_body(b)
                .send()
                .await
                .unwrap();
        }
        (bucket, queue, dlq)
    });
    run_worker(moto, &queue);
    let (_, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].key, "incoming/retail/ok.jpg");
    assert_eq!(rows[0].error_kind, None);
    rt.block_on(async {
        assert_eq!(moto.queue_depth(&queue).await, 0, "main queue drained");
        assert_eq!(
            moto.queue_depth(&dlq).await,
            2,
            "the lost object and the bad message are dead-lettered"
        );
    });
}

#[test]
fn sigterm_finishes_batches_in_flight_and_loses_nothing() {
    let moto = shared_moto();
    let rt = rt();
    let n = 40;
    let (bucket, queue) = rt.block_on(async {
        let bucket = moto.new_bucket("sl-sigterm").await;
        let (queue, _) = queue_with_dlq(moto, 3).await;
        let s3 = moto.s3().await;
        let bytes = std::fs::read(fixture("images/chelsea.jpg")).unwrap();
        let sqs = moto.sqs().await;
        for i in 0..n {
            let key = format!("incoming/retail/{i:03}.jpg");
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await
                .unwrap();
            let body = s3_event_body(&[ObjectRef::new(bucket.clone(), key)]);
            sqs.send_message()
                .queue_url(&queue)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
        (bucket, queue)
    });
    let child = Command::new(workspace_bin("sightline"))
        .args(["worker", "--queue-url", &queue])
        .envs(moto.env_vars())
        .env("SIGHTLINE_INFER_BATCH", "4")
        .current_dir(repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stop it as soon as the first results file exists, i.e. mid-run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (files, _) =
            rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
        if !files.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no results after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "worker exited badly:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    let (visible, in_flight) = rt.block_on(moto.queue_counts(&queue));
    // Every message was either processed (a row, acknowledged) or never received.
    assert_eq!(in_flight, 0, "messages left in flight after shutdown");
    assert_eq!(
        rows.len() + visible,
        n,
        "{} rows + {visible} waiting != {n}",
        rows.len()
    );
    assert!(visible > 0 || rows.len() == n);
}

#[test]
fn an_idle_worker_stops_promptly_on_sigterm() {
    let moto = shared_moto();
    let rt = rt();
    let (queue, _) = rt.block_on(queue_with_dlq(moto, 3));
    // The default 20 s long poll on an empty queue.
    let child = Command::new(workspace_bin("sightline"))
        .args(["worker", "--queue-url", &queue])
        .envs(moto.env_vars())
        .current_dir(repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Models loaded and the first long poll under way.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let asked = std::time::Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let took = asked.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It abandons the idle poll instead of waiting out its 20 s (generous bound for a
    // loaded machine; the worker allows the receive 0.5 s).
    assert!(
        took < std::time::Duration::from_secs(8),
        "took {took:?} to stop:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn backfill_sends_its_batches_concurrently() {
    use sightline_tests::proxy::{Fault, FaultProxy, Rule};
    let moto = shared_moto();
    let rt = rt();
    let n = 60;
    let (bucket, queue) = rt.block_on(async {
        let bucket = moto.new_bucket("sl-backfill").await;
        let (queue, _) = queue_with_dlq(moto, 3).await;
        let s3 = moto.s3().await;
        for i in 0..n {
            s3.put_object()
                .bucket(&bucket)
                .key(format!("incoming/retail/{i:03}.jpg"))
                .body(ByteStream::from_static(b"not needed"))
                .send()
                .await
                .unwrap();
        }
        (bucket, queue)
    });
    // Each SendMessageBatch takes 300 ms more: one at a time, six would never overlap.
    let slow_send = Rule {
        name: "slow send",
        matches: |r| r.is_sqs("SendMessageBatch"),
        probability: 1.0,
        fault: Fault::Delay(std::time::Duration::from_millis(300)),
    };
    let proxy = FaultProxy::start(moto.endpoint(), vec![slow_send], 1);
    let out = Command::new(workspace_bin("sightline"))
        .args(["backfill", "--bucket", &bucket, "--queue-url", &queue])
        .envs(moto.env_vars())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rt.block_on(moto.queue_depth(&queue)), n);
    assert!(
        proxy.max_in_flight() >= 3,
        "{} calls at most in flight",
        proxy.max_in_flight()
    );
}

/// `GET /metrics` on the worker's `--metrics-addr`: Prometheus text with the images per
/// catalog and model version, error rows by kind, batches and stage-time histograms.
#[test]
fn the_workers_prometheus_metrics_are_scraped() {
    let moto = shared_moto();
    let rt = rt();
    let queue = rt.block_on(async {
        let bucket = moto.new_bucket("sl-metrics").await;
        let (queue, _) = queue_with_dlq(moto, 3).await;
        let s3 = moto.s3().await;
        let images = [
            ("chelsea.jpg", fixture("images/chelsea.jpg")),
            ("bad.jpg", fixture("bad/truncated.jpg")),
        ];
        let mut objects = Vec::new();
        for (name, path) in images {
            let key = format!("incoming/retail/{name}");
            let body = ByteStream::from(std::fs::read(path).unwrap());
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .unwrap();
            objects.push(ObjectRef::new(bucket.clone(), key));
        }
        let sqs = moto.sqs().await;
        let body = s3_event_body(&objects);
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
        queue
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(workspace_bin("sightline"))
        .args(["worker", "--queue-url", &queue, "--exit-when-idle", "4"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .envs(moto.env_vars())
        .current_dir(repo_root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let scrape = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let text = loop {
        if let Some(t) = scrape().filter(|t| t.contains("sightline_batches_total 1")) {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no batch in the metrics after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    child.wait().unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("# TYPE sightline_images counter"), "{text}");
    // One success row (cpu) and one error row (no model ran: no provider).
    let images: f64 = (text.lines())
        .filter(|l| {
            l.starts_with(r#"sightline_images_total{catalog="retail",model_version="1.0.0+1.0.0""#)
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(images, 2.0, "{text}");
    let errors = r#"sightline_error_rows_total{catalog="retail",error_kind="corrupt_image"} 1"#;
    assert!(text.contains(errors), "{text}");
    assert!(
        text.contains(r#"sightline_stage_seconds_count{stage="infer"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"sightline_stage_seconds_count{stage="write"} 1"#),
        "{text}"
    );
    // Every sample line is `name{labels} value` with a number.
    for line in text.split("\r\n\r\n").nth(1).unwrap().lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}
