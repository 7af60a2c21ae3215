//! The real `sightline-infer` Lambda binary, driven through the Lambda Runtime API with
//! the sample events in `events/`, reading and writing moto's S3.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
use sightline_tests::emf::check_emf;
use sightline_tests::results::rows_in_bucket;
use sightline_tests::{fixture, repo_root, run_lambda, shared_moto, workspace_bin};

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join(name)).unwrap())
        .unwrap()
}

fn env() -> Vec<(String, String)> {
    let mut env = shared_moto().env_vars();
    env.push((
        "SIGHTLINE_MODELS_DIR".into(),
        repo_root().join("models").display().to_string(),
    ));
    env
}

fn failures(response: &Value) -> Vec<String> {
    let mut ids: Vec<String> = response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not an SqsBatchResponse: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn partial_batch_failures_and_idempotent_retries() {
    let moto = shared_moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = rt.block_on(async {
        let bucket = moto.new_bucket("sl-lambda").await;
        let s3 = moto.s3().await;
        let uploads = [
            ("incoming/retail/coffee.jpg", "images/coffee.jpg"),
            ("incoming/security/frame.jpg", "images/camera.jpg"),
        ];
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
        bucket
    });
    // Start from the real AWS sample and swap in this test's bodies.
    let mut sqs_event = event("sqs-s3-put.json");
    let template = sqs_event["Records"][0].clone();
    let record = |id: &str, body: String| {
        let mut r = template.clone();
        r["messageId"] = json!(id);
        r["body"] = json!(body);
        r
    };
    sqs_event["Records"] = json!([
        record(
            "m-ok",
            s3_event_body(&[ObjectRef::new(bucket.clone(), "incoming/retail/coffee.jpg")])
        ),
        record("m-garbled", "{\"Records\": 42}".into()),
        record(
            "m-no-bucket",
            s3_event_body(&[ObjectRef::new(
                "sl-missing-bucket-xyz",
                "incoming/retail/x.jpg"
            )])
        ),
        record(
            "m-test-event",
            event("sqs-s3-test-event.json")["Records"][0]["body"]
                .as_str()
                .unwrap()
                .to_string()
        ),
        record(
            "m-security",
            s3_event_body(&[ObjectRef::new(
                bucket.clone(),
                "incoming/security/frame.jpg"
            )])
        ),
    ]);
    // The same event twice: a retry of the whole batch must not duplicate rows.
    let run = run_lambda(
        &workspace_bin("sightline-infer"),
        &[sqs_event.clone(), sqs_event],
        &env(),
        Duration::from_secs(120),
    );
    let responses = run.responses();
    for r in &responses {
        assert_eq!(
            failures(r),
            vec!["m-garbled".to_string(), "m-no-bucket".to_string()],
            "{r}"
        );
    }
    let (files, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    assert_eq!(files.len(), 2, "one file per catalog: {files:?}");
    assert_eq!(rows.len(), 2);
    let coffee = rows
        .iter()
        .find(|r| r.key == "incoming/retail/coffee.jpg")
        .unwrap();
    assert_eq!(coffee.top1(), Some(967), "espresso");
    let frame = rows
        .iter()
        .find(|r| r.key == "incoming/security/frame.jpg")
        .unwrap();
    assert!(
        frame.detections >= 1 && frame.tags.contains(&"person".to_string()),
        "{frame:?}"
    );
    assert!(
        run.stdout.contains("\"level\":\"INFO\""),
        "JSON logs expected:\n{}",
        run.stdout
    );
    // Each invocation prints its metrics as CloudWatch EMF lines: per catalog and model
    // version (images, error rows, stage times) and per batch (2 retried messages each).
    let emf: Vec<Value> = (run.stdout.lines())
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| check_emf(l).unwrap_or_else(|e| panic!("invalid EMF ({e}): {l}")))
        .collect();
    let retail = emf
        .iter()
        .filter(|m| m["catalog"] == "retail" && m["Images"] == 1);
    assert_eq!(retail.count(), 2, "one per invocation: {emf:?}");
    let batches: Vec<&Value> = emf.iter().filter(|m| m["Service"] == "sightline").collect();
    assert_eq!(batches.len(), 2, "{emf:?}");
    assert!(batches
        .iter()
        .all(|b| b["RetriedMessages"] == 2 && b["Images"] == 2));
}

#[test]
fn the_aws_sample_event_decodes_keys_and_processes_every_record() {
    let moto = shared_moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sample = event("sqs-s3-put.json");
    // The sample names bucket `sightline-demo`; give it a unique name here.
    let bucket = rt.block_on(moto.new_bucket("sl-sample"));
    let text = serde_json::to_string(&sample)
        .unwrap()
        .replace("sightline-demo", &bucket);
    let sample: Value = serde_json::from_str(&text).unwrap();
    let keys = [
        "incoming/retail/shelf photo 1.jpg",
        "incoming/retail/price+tag.jpg",
        "incoming/retail/caf\u{e9}/na\u{ef}ve 1+1.jpg",
    ];
    rt.block_on(async {
        let s3 = moto.s3().await;
        for k in keys {
            let body = ByteStream::from(std::fs::read(fixture("images/camera.jpg")).unwrap());
            s3.put_object()
                .bucket(&bucket)
                .key(k)
                .body(body)
                .send()
                .await
                .unwrap();
        }
    });
    let test_event = event("sqs-s3-test-event.json");
    let run = run_lambda(
        &workspace_bin("sightline-infer"),
        &[sample, test_event],
        &env(),
        Duration::from_secs(120),
    );
    for r in run.responses() {
        assert!(failures(r).is_empty(), "{r}");
    }
    let (_, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    let mut got: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    got.sort();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| r.top1() == Some(872)), "tripod");
}

/// A head on the real 1280-float embedding that always prefers its first class (the
/// weights are zero; the biases decide), with one tag.
fn constant_head(version: &str) -> sightline_registry::VersionFiles {
    use ndarray::{Array1, Array2};
    let head = sightline_train::LinearHead {
        classes: vec!["camera gear".into(), "coffee".into()],
        mean: Array1::zeros(1280),
        scale: Array1::ones(1280),
        weights: Array2::zeros((2, 1280)),
        bias: Array1::from(vec![1.0, 0.0]),
    };
    let onnx = sightline_train::onnx::head_to_onnx(&head, &[]);
    let manifest = sightline_registry::HeadManifest {
        format: String::new(),
        catalog: "retail".into(),
        version: version.into(),
        created_at: chrono::Utc::now(),
        parent: None,
        backbone: sightline_registry::Backbone {
            model: "efficientnet_lite0".into(),
            version: "1.0.0".into(),
            embedding_dim: 1280,
        },
        classes: head.classes.clone(),
        tags: [("camera gear".to_string(), vec!["photo".to_string()])].into(),
        input: "embedding".into(),
        output: "probabilities".into(),
        files: vec![],
        training: sightline_registry::TrainingInfo {
            rows: 0,
            train_rows: 0,
            validation_rows: 0,
            first_date: None,
            last_date: None,
            label_files: vec![],
            class_counts: Default::default(),
            validation_fraction: 0.2,
            c: 1.0,
            iterations: 0,
            stop: "test".into(),
            seconds: 0.0,
        },
        metrics: sightline_registry::HeadMetrics {
            rows: 0,
            accuracy: 1.0,
            macro_f1: 1.0,
            recall: Default::default(),
        },
    };
    sightline_registry::VersionFiles {
        manifest,
        head: onnx.clone(),
        holdout: onnx,
        card: String::new(),
    }
}

#[test]
fn the_lambda_serves_the_catalogs_champion_head() {
    let moto = shared_moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = rt.block_on(async {
        let bucket = moto.new_bucket("sl-head").await;
        let s3 = moto.s3().await;
        let body = ByteStream::from(std::fs::read(fixture("images/camera.jpg")).unwrap());
        s3.put_object()
            .bucket(&bucket)
            .key("incoming/retail/camera.jpg")
            .body(body)
            .send()
            .await
            .unwrap();
        let store = sightline_storage::Store::S3(sightline_storage::S3Store::new(s3));
        let registry = sightline_registry::Registry::new(store, bucket.clone());
        registry.publish(constant_head("v7")).await.unwrap();
        registry.promote("retail", "v7", "test").await.unwrap();
        bucket
    });
    let mut sqs_event = event("sqs-s3-put.json");
    sqs_event["Records"][0]["body"] = json!(s3_event_body(&[ObjectRef::new(
        bucket.clone(),
        "incoming/retail/camera.jpg"
    )]));
    sqs_event["Records"] = json!([sqs_event["Records"][0].clone()]);
    let run = run_lambda(
        &workspace_bin("sightline-infer"),
        &[sqs_event],
        &env(),
        Duration::from_secs(120),
    );
    for r in run.responses() {
        assert!(failures(r).is_empty(), "{r}");
    }
    let (_, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    assert_eq!(rows.len(), 1, "{}", run.stderr);
    let row = &rows[0];
    assert_eq!(row.model, "efficientnet_lite0+head+centernet_mbv3_coco");
    assert_eq!(row.model_version, "1.0.0+v7+1.0.0");
    assert_eq!(row.labels[0].1, "camera gear");
    assert!(row.tags.contains(&"photo".to_string()), "{row:?}");
}
