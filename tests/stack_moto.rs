//! The whole stack, deployed and driven without an AWS account: `infra/template.yaml` is
//! transformed by the SAM translator and created in moto's CloudFormation (CPU Lambdas and
//! the GPU worker service), moto then enforces IAM, and the real binaries run with each
//! role's permissions through the resources the stack created:
//!
//! upload under incoming/ → the stack's notification → the stack's queue → the infer
//! Lambda (Runtime API harness, fed as its event source mapping says) → Parquet in the
//! stack's bucket; upload under gpu/ → the GPU queue → `sightline worker` with the task
//! definition's environment → Parquet and a redacted copy; labels → the report Lambda with
//! its deployed environment → reports and a retrain request on the stack's retrain queue.
//!
//! What moto does not do, and this test therefore does not exercise: CloudWatch alarms,
//! the queue policy, the ECS capacity provider and Application Auto Scaling are not created
//! (moto's CloudFormation lacks those types: the test asserts exactly that list); the
//! bucket's notification is written by the deploy script from the template's own
//! configuration (moto's CloudFormation ignores it); moto evaluates IAM actions and
//! resources but not conditions (the report role's `s3:prefix` condition); the functions
//! run as local processes, not in their images; the GPU worker runs on the CPU
//! (`SIGHTLINE_EXECUTION_PROVIDER=cpu`).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::Duration as Days;
use serde_json::{json, Value};
use sightline_tests::emf::check_emf;
use sightline_tests::results::{list_keys, rows_in_bucket, Row};
use sightline_tests::stack::DeployedStack;
use sightline_tests::{fixture, repo_root, run_lambda, unique_name, workspace_bin, Moto};

/// Resource types moto's CloudFormation cannot create (it skips them with a warning).
const EMULATOR_GAPS: &[&str] = &[
    "AWS::SQS::QueuePolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::ECS::CapacityProvider",
    "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::SNS::TopicPolicy",
];

#[test]
fn the_deployed_stack_processes_uploads_end_to_end() {
    let moto = Moto::start();
    let bucket = unique_name("sl-stack");
    let parameters = [
        format!("BucketName={bucket}"),
        "EnableGpuWorker=true".to_string(),
        "GpuWorkerImage=123456789012.dkr.ecr.us-east-1.amazonaws.com/sightline-worker-gpu:1".into(),
    ];
    let Some(stack) = DeployedStack::deploy(&moto, "sightline-e2e", &parameters) else {
        return;
    };
    check_what_was_created(&stack);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // --- CPU route: incoming/ -> Queue -> infer Lambda ---------------------------------
    let good = [
        ("coffee.jpg", "images/coffee.jpg"),
        ("chelsea.jpg", "images/chelsea.jpg"),
    ];
    rt.block_on(async {
        let s3 = moto.s3().await;
        for (name, file) in good {
            upload(
                &s3,
                &bucket,
                &format!("incoming/retail/{name}"),
                std::fs::read(fixture(file)).unwrap(),
            )
            .await;
        }
        let truncated = std::fs::read(fixture("images/camera.jpg")).unwrap()[..2000].to_vec();
        upload(&s3, &bucket, "incoming/retail/broken.jpg", truncated).await;
    });
    let infer = run_infer_as_its_event_source_would(&moto, &stack, &rt, 3);
    let (_, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let row = |key: &str| {
        rows.iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("no row for {key}"))
    };
    assert_eq!(
        row("incoming/retail/coffee.jpg").top1(),
        Some(967),
        "espresso"
    );
    assert_eq!(
        row("incoming/retail/broken.jpg").error_kind.as_deref(),
        Some("corrupt_image")
    );

    // --- GPU route: gpu/ -> GpuQueue -> the worker with the task definition's environment
    rt.block_on(async {
        let frame = std::fs::read(fixture("images/camera.jpg")).unwrap();
        upload(&moto.s3().await, &bucket, "gpu/security/frame.jpg", frame).await;
    });
    let worker = run_gpu_worker(&moto, &stack);
    let (_, rows) =
        rt.block_on(async { rows_in_bucket(&moto.s3().await, &bucket, "results/").await });
    let frame: &Row = rows
        .iter()
        .find(|r| r.key == "gpu/security/frame.jpg")
        .expect("GPU route row");
    assert!(frame.tags.contains(&"person".to_string()), "{frame:?}");
    let redacted = rt.block_on(async { list_keys(&moto.s3().await, &bucket, "redacted/").await });
    assert_eq!(
        redacted,
        vec!["redacted/gpu/security/frame.jpg".to_string()]
    );

    // Every queue drained; nothing dead-lettered.
    rt.block_on(async {
        for q in ["QueueUrl", "GpuQueueUrl", "DeadLetterQueueUrl"] {
            let left = (moto.sqs().await.receive_message())
                .queue_url(stack.output(q))
                .visibility_timeout(0)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            let bodies: Vec<&str> = left.iter().filter_map(|m| m.body()).collect();
            assert!(bodies.is_empty(), "{q} still holds {bodies:#?}");
        }
    });

    // --- Report: wrong labels -> accuracy below the floor -> ALERT and a retrain request
    let report = run_report_with_wrong_labels(&moto, &stack, &rt);
    let request = rt.block_on(async {
        let out = (moto.sqs().await.receive_message())
            .queue_url(stack.output("RetrainQueueUrl"))
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        assert_eq!(messages.len(), 1, "one retrain request");
        serde_json::from_str::<Value>(messages[0].body().unwrap()).unwrap()
    });
    assert_eq!(
        (&request["kind"], &request["catalog"]),
        (&json!("retrain_request"), &json!("retail"))
    );

    // --- Metrics: every EMF line is valid, and the alarms and dashboard watch metrics the
    // binaries really emit.
    let emitted = emf_metrics(&[&infer, &worker, &report]);
    check_alarms_and_dashboard(&stack, &emitted);
}

/// Creates the object (as the stack's administrator, like a user's upload).
/// The mutation that shows the IAM check has teeth: the same stack with the report role's
/// `s3:ListBucket` statement removed, and the report Lambda run with that role, is refused
/// where the full stack's report succeeds (above).
#[test]
fn the_report_fails_when_its_role_loses_the_listing_permission() {
    let moto = Moto::start();
    let template = std::fs::read_to_string(repo_root().join("infra/template.yaml")).unwrap();
    let start = template
        .find("              - Sid: ListResultsAndLabels\n")
        .unwrap();
    let end = start
        + template[start..]
            .find("              - Sid: ReadResultsAndLabels\n")
            .unwrap();
    let removed = &template[start..end];
    assert!(
        removed.contains("Action: s3:ListBucket") && removed.lines().count() < 12,
        "{removed}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mutated = dir.path().join("template.yaml");
    std::fs::write(
        &mutated,
        format!("{}{}", &template[..start], &template[end..]),
    )
    .unwrap();
    let bucket = unique_name("sl-mutant");
    let Some(stack) = DeployedStack::deploy_template(
        &moto,
        "sightline-mutant",
        &mutated,
        &[format!("BucketName={bucket}")],
    ) else {
        return;
    };
    let run = run_report_lambda(&moto, &stack, None);
    let error = (run.invocations[0].error.clone())
        .unwrap_or_else(|| panic!("the report succeeded without s3:ListBucket: {run:?}"));
    let message = error.to_string();
    assert!(
        message.contains("list_objects_v2") && message.contains("AccessDenied"),
        "{message}"
    );
}

async fn upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    (s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body)))
    .send()
    .await
    .unwrap_or_else(|e| panic!("upload {key}: {e:?}"));
}

/// What the deploy created: every resource but the emulator's known gaps; the functions'
/// deployed settings; roles with no managed policy (but the ECS instance role's).
fn check_what_was_created(stack: &DeployedStack) {
    let gaps: BTreeSet<&str> = (stack.description["not_created"]
        .as_object()
        .unwrap()
        .values())
    .map(|t| t.as_str().unwrap())
    .collect();
    let unexpected: Vec<&&str> = gaps.iter().filter(|t| !EMULATOR_GAPS.contains(t)).collect();
    assert!(
        unexpected.is_empty(),
        "not created: {:#}",
        stack.description["not_created"]
    );
    let created = &stack.description["resources"];
    for logical in [
        "Bucket",
        "Key",
        "Queue",
        "GpuQueue",
        "DeadLetterQueue",
        "FailedInvocationsQueue",
        "RetrainQueue",
        "InferFunction",
        "ReportFunction",
        "RetrainFunction",
        "CompactFunction",
        "InferRole",
        "GpuCluster",
        "GpuTaskDefinition",
        "GpuWorkerService",
        "GpuAutoScalingGroup",
        "GpuLaunchTemplate",
        "GpuWorkerFailedRule",
        "AlarmTopic",
        "Dashboard",
    ] {
        assert!(
            created[logical].is_string(),
            "{logical} was not created: {created:#}"
        );
    }
    assert_eq!(stack.function("InferFunction")["memory_mb"], 1769);
    let uploads = stack.mapping_of("InferFunction");
    assert_eq!(uploads["batch_size"], 10);
    assert_eq!(
        uploads["response_types"],
        json!(["ReportBatchItemFailures"])
    );
    assert!(uploads["queue_arn"]
        .as_str()
        .unwrap()
        .ends_with(stack.output("QueueUrl").rsplit('/').next().unwrap()));
    for (role, r) in stack.description["roles"].as_object().unwrap() {
        let managed = r["managed"].as_array().unwrap();
        let allowed = role == "GpuInstanceRole" && managed.len() == 1;
        assert!(
            managed.is_empty() || allowed,
            "{role} has managed policies {managed:?}"
        );
    }
}

/// Polls the stack's queue with the infer function's role, as its event source mapping
/// does (batch size from the mapping), runs the infer Lambda on each batch with its
/// deployed environment and role, and deletes what it did not report as failed.
/// Returns the Lambda's stdout.
fn run_infer_as_its_event_source_would(
    moto: &Moto,
    stack: &DeployedStack,
    rt: &tokio::runtime::Runtime,
    expected_messages: usize,
) -> String {
    let mapping = stack.mapping_of("InferFunction");
    let batch_size = mapping["batch_size"].as_i64().unwrap() as i32;
    let queue_url = stack.output("QueueUrl");
    let queue_arn = mapping["queue_arn"].as_str().unwrap().to_string();
    let (sqs, messages) = rt.block_on(async {
        let sqs = stack.sqs_as(moto, "InferRole").await;
        let mut messages = Vec::new();
        // Until a poll comes back empty once the uploads' notifications are all in.
        for _ in 0..20 {
            let out = (sqs.receive_message().queue_url(&queue_url))
                .max_number_of_messages(batch_size)
                .send()
                .await
                .unwrap_or_else(|e| panic!("the infer role cannot poll its queue: {e:?}"));
            let got = out.messages.unwrap_or_default();
            if got.is_empty() && messages.len() >= expected_messages {
                break;
            }
            messages.extend(got);
        }
        (sqs, messages)
    });
    // S3 also sends one s3:TestEvent when the notification is written; the handler skips it.
    let tests = (messages.iter())
        .filter(|m| m.body().unwrap_or_default().contains("s3:TestEvent"))
        .count();
    assert_eq!(
        (tests, messages.len() - tests),
        (1, expected_messages),
        "one notification per upload"
    );
    let template = serde_json::from_str::<Value>(
        &std::fs::read_to_string(repo_root().join("events/sqs-s3-put.json")).unwrap(),
    )
    .unwrap()["Records"][0]
        .clone();
    let records: Vec<Value> = (messages.iter())
        .map(|m| {
            let mut r = template.clone();
            r["messageId"] = json!(m.message_id());
            r["receiptHandle"] = json!(m.receipt_handle());
            r["body"] = json!(m.body());
            r["eventSourceARN"] = json!(queue_arn);
            r
        })
        .collect();
    let mut env = stack.role_env(moto, "InferRole");
    env.extend(stack.function_env("InferFunction"));
    let run = run_lambda(
        &workspace_bin("sightline-infer"),
        &[json!({"Records": records})],
        &env,
        Duration::from_secs(180),
    );
    let response = run.responses()[0].clone();
    assert_eq!(
        response["batchItemFailures"],
        json!([]),
        "{response}\n{}",
        run.stderr
    );
    rt.block_on(async {
        for m in &messages {
            (sqs.delete_message().queue_url(&queue_url))
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap_or_else(|e| panic!("the infer role cannot delete: {e:?}"));
        }
    });
    run.stdout
}

/// `sightline worker` with the GPU task definition's environment (the execution provider
/// set to cpu: no GPU here) and the task role's credentials, until its queue is idle.
/// Returns its stdout.
fn run_gpu_worker(moto: &Moto, stack: &DeployedStack) -> String {
    let mut env = stack.role_env(moto, "GpuTaskRole");
    env.extend(stack.worker_env());
    let provider = env
        .iter_mut()
        .find(|(k, _)| k == "SIGHTLINE_EXECUTION_PROVIDER")
        .expect("provider set");
    assert_eq!(provider.1, "cuda", "the task definition asks for CUDA");
    provider.1 = "cpu".into();
    assert!(env
        .iter()
        .any(|(k, v)| k == "SIGHTLINE_QUEUE_URL" && *v == stack.output("GpuQueueUrl")));
    assert_eq!(stack.worker_command(), ["--concurrent-batches", "4"]);
    let out = Command::new(workspace_bin("sightline"))
        .arg("worker")
        .args(stack.worker_command())
        .args(["--exit-when-idle", "2", "--retry-delay", "0"])
        .env_remove("SIGHTLINE_EXECUTION_PROVIDER")
        .envs(env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "worker failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Writes wrong labels for the two good retail images and runs the report Lambda with its
/// deployed environment and role on the scheduled event of the day after the results'
/// partition, 06:00 (so the stack's current window, "yesterday", is that partition),
/// comparing against every earlier row. Returns its stdout.
fn run_report_with_wrong_labels(
    moto: &Moto,
    stack: &DeployedStack,
    rt: &tokio::runtime::Runtime,
) -> String {
    let bucket = stack.output("BucketName");
    let partition = rt.block_on(async {
        let keys = list_keys(&moto.s3().await, &bucket, "results/catalog=retail/").await;
        let date = keys[0]
            .split("date=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap()
    });
    rt.block_on(async {
        let labels = "file,label\ncoffee.jpg,tripod\nchelsea.jpg,tripod\n"
            .as_bytes()
            .to_vec();
        upload(&moto.s3().await, &bucket, "labels/retail/truth.csv", labels).await;
    });
    let run = run_report_lambda(moto, stack, Some(partition + Days::days(1)));
    let response = (run.invocations[0].response.clone())
        .unwrap_or_else(|| panic!("no response: {:?}\n{}", run.invocations[0], run.stderr));
    let outcome = &response[0];
    assert_eq!(
        (&outcome["status"], &outcome["retrain_sent"]),
        (&json!("alert"), &json!(true)),
        "{response}"
    );
    let keys = rt
        .block_on(async { list_keys(&moto.s3().await, &bucket, "reports/catalog=retail/").await });
    assert_eq!(keys.len(), 2, "JSON and HTML: {keys:?}");
    run.stdout
}

/// The report Lambda with its deployed environment and role, on the sample scheduled event
/// for `retail` over every row (`on`: the report's day, default the event's).
fn run_report_lambda(
    moto: &Moto,
    stack: &DeployedStack,
    on: Option<chrono::NaiveDate>,
) -> sightline_tests::LambdaRun {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/eventbridge-scheduled-report.json"))
            .unwrap(),
    )
    .unwrap();
    if let Some(day) = on {
        event["time"] = json!(format!("{day}T06:00:00Z"));
    }
    event["detail"] = json!({"catalog": "retail", "reference": "all"});
    let mut env = stack.role_env(moto, "ReportRole");
    env.extend(stack.function_env("ReportFunction"));
    run_lambda(
        &workspace_bin("sightline-report"),
        &[event],
        &env,
        Duration::from_secs(180),
    )
}

/// (metric name, dimension names, dimension values) of every EMF line in the outputs,
/// each line checked against the EMF specification.
fn emf_metrics(outputs: &[&String]) -> Vec<(String, Value)> {
    let mut metrics = Vec::new();
    for line in outputs
        .iter()
        .flat_map(|o| o.lines())
        .filter(|l| l.contains("\"_aws\""))
    {
        let doc = check_emf(line).unwrap_or_else(|e| panic!("invalid EMF ({e}): {line}"));
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for m in directive["Metrics"].as_array().unwrap() {
                metrics.push((m["Name"].as_str().unwrap().to_string(), doc.clone()));
            }
        }
    }
    assert!(!metrics.is_empty(), "no EMF line");
    metrics
}

/// Every alarm on the namespace Sightline, and every Sightline metric the dashboard shows,
/// names a metric (with its dimensions) that some EMF line of this run carried.
fn check_alarms_and_dashboard(stack: &DeployedStack, emitted: &[(String, Value)]) {
    let emitted_with = |name: &str, dims: &[(&str, &str)]| {
        emitted
            .iter()
            .any(|(n, doc)| n == name && dims.iter().all(|(k, v)| doc[*k] == *v))
    };
    let mut watched = 0;
    for (name, alarm) in stack.template["Resources"].as_object().unwrap() {
        if alarm["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let p = &alarm["Properties"];
        let metrics: Vec<&Value> = match p["Metrics"].as_array() {
            Some(queries) => queries
                .iter()
                .filter_map(|q| q.get("MetricStat"))
                .map(|s| &s["Metric"])
                .collect(),
            None => vec![p],
        };
        for m in metrics
            .into_iter()
            .filter(|m| m["Namespace"] == "Sightline")
        {
            let dims: Vec<(&str, &str)> = (m["Dimensions"].as_array().unwrap().iter())
                .map(|d| (d["Name"].as_str().unwrap(), d["Value"].as_str().unwrap()))
                .collect();
            let metric = m["MetricName"].as_str().unwrap();
            assert!(
                emitted_with(metric, &dims),
                "{name} watches {metric} {dims:?}, which nothing emits"
            );
            watched += 1;
        }
    }
    assert_eq!(
        watched, 3,
        "ErrorRowRatioAlarm (2 metrics) and ReportAlertAlarm"
    );
    let body: Value = serde_json::from_str(stack.description["dashboard_body"].as_str().unwrap())
        .expect("the dashboard body is JSON");
    let mut shown = 0;
    for widget in body["widgets"].as_array().unwrap() {
        for m in widget["properties"]["metrics"].as_array().unwrap() {
            if m[0] == "Sightline" {
                let (name, dims) = (
                    m[1].as_str().unwrap(),
                    [(m[2].as_str().unwrap(), m[3].as_str().unwrap())],
                );
                assert!(
                    emitted_with(name, &dims),
                    "the dashboard shows {m}, which nothing emits"
                );
                shown += 1;
            }
            let expression = m[0]["expression"].as_str().unwrap_or_default();
            if expression.contains("{Sightline") {
                for part in expression.split("MetricName=\"").skip(1) {
                    let name = part.split('"').next().unwrap();
                    assert!(
                        emitted.iter().any(|(n, _)| n == name),
                        "the dashboard searches {name}, which nothing emits"
                    );
                    shown += 1;
                }
            }
        }
    }
    assert!(shown >= 8, "{shown} Sightline metrics on the dashboard");
}
