//! The real `sightline-infer` Lambda binary, driven through the Lambda Runtime API with
//! the sample events in `events/`, reading and writing moto's S3.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
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
