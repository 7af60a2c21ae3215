//! The real `sightline-report` Lambda binary, driven through the Lambda Runtime API with
//! the EventBridge scheduled event in `events/`, over results that the real
//! `sightline-infer` Lambda wrote to moto's S3.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
use sightline_tests::{fixture, repo_root, run_lambda, shared_moto, workspace_bin};

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join(name)).unwrap())
        .unwrap()
}

#[test]
fn the_scheduled_event_writes_reports_and_a_bad_one_is_an_error() {
    let moto = shared_moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let images = [
        ("chelsea.jpg", "Egyptian cat"),
        ("coffee.jpg", "espresso"),
        ("camera.jpg", "tripod"),
    ];
    let bucket = rt.block_on(async {
        let bucket = moto.new_bucket("sl-report-fn").await;
        let s3 = moto.s3().await;
        let mut labels = String::from("file,label\n");
        for (name, label) in images {
            let body = ByteStream::from(std::fs::read(fixture(&format!("images/{name}"))).unwrap());
            s3.put_object()
                .bucket(&bucket)
                .key(format!("incoming/retail/{name}"))
                .body(body)
                .send()
                .await
                .unwrap();
            labels.push_str(&format!("{name},{label}\n"));
        }
        s3.put_object()
            .bucket(&bucket)
            .key("labels/retail/truth.csv")
            .body(ByteStream::from(labels.into_bytes()))
            .send()
            .await
            .unwrap();
        bucket
    });
    let mut env = moto.env_vars();
    env.push((
        "SIGHTLINE_MODELS_DIR".into(),
        repo_root().join("models").display().to_string(),
    ));

    // Results first, through the infer Lambda.
    let mut sqs_event = event("sqs-s3-put.json");
    let template = sqs_event["Records"][0].clone();
    sqs_event["Records"] = Value::Array(
        images
            .iter()
            .map(|(name, _)| {
                let mut r = template.clone();
                r["messageId"] = json!(name);
                r["body"] = json!(s3_event_body(&[ObjectRef::new(
                    bucket.clone(),
                    format!("incoming/retail/{name}")
                )]));
                r
            })
            .collect(),
    );
    run_lambda(
        &workspace_bin("sightline-infer"),
        &[sqs_event],
        &env,
        Duration::from_secs(120),
    );

    // The sample scheduled event, asked to compare every row with itself, then one that
    // names no catalog (and none is configured).
    let mut scheduled = event("eventbridge-scheduled-report.json");
    scheduled["detail"]["reference"] = json!("all");
    scheduled["detail"]["current"] = json!("all");
    let mut unnamed = scheduled.clone();
    unnamed["detail"] = json!({});
    env.push(("SIGHTLINE_REPORT_BUCKET".into(), bucket.clone()));
    // The deployed template's AccuracyFloor=none reaches the report as this (the retrain
    // function reads the same variable: tests/retrain_moto.rs).
    env.push(("SIGHTLINE_ACCURACY_FLOOR".into(), "none".into()));
    let run = run_lambda(
        &workspace_bin("sightline-report"),
        &[scheduled, unnamed],
        &env,
        Duration::from_secs(120),
    );
    let first = run.invocations[0]
        .response
        .clone()
        .unwrap_or_else(|| panic!("no response: {:?}\n{}", run.invocations[0], run.stderr));
    let outcome = &first[0];
    assert_eq!(outcome["catalog"], "retail", "{first}");
    assert_eq!(outcome["status"], "ok", "{first}");
    assert_eq!(outcome["retrain_sent"], false);
    let json_key = outcome["json_key"].as_str().unwrap().to_string();
    assert!(
        json_key.starts_with("reports/catalog=retail/date=2026-11-27/"),
        "the report date is the event's time: {json_key}"
    );
    let summary: Value = rt.block_on(async {
        let o = moto
            .s3()
            .await
            .get_object()
            .bucket(&bucket)
            .key(&json_key)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap()
    });
    assert_eq!(summary["classification"]["samples"], 3, "{summary}");
    assert_eq!(summary["classification"]["accuracy"], 1.0, "{summary}");
    let floors = summary["floors"].as_array().unwrap();
    assert!(
        floors.iter().all(|f| f["metric"] != "accuracy"),
        "SIGHTLINE_ACCURACY_FLOOR=none checks no accuracy floor: {floors:?}"
    );
    let html_key = outcome["html_key"].as_str().unwrap();
    rt.block_on(async {
        moto.s3()
            .await
            .head_object()
            .bucket(&bucket)
            .key(html_key)
            .send()
            .await
            .unwrap();
    });
    let error = run.invocations[1]
        .error
        .clone()
        .expect("an error for the unnamed event");
    assert!(
        error.to_string().contains("SIGHTLINE_REPORT_CATALOGS"),
        "{error}"
    );
}
