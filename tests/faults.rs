//! Exactly one row per object version under faults: the real `sightline worker` against
//! moto through a proxy that drops S3/SQS calls at chosen points (the results write lands
//! but its answer is lost; the acknowledgement is lost before or after it happens; GETs and
//! receives fail) while the worker is also killed with SIGKILL mid-run, and notifications
//! arrive twice and in different groupings. Over many seeds, the documented query path
//! (`results_latest` in `infra/duckdb/views.sql`, run by DuckDB) shows every object exactly
//! once, with the object's own ETag, and nothing is lost or dead-lettered.
//!
//! `SIGHTLINE_FAULT_SEEDS` sets the number of seeds (default 20); a failure names its seed
//! and the faults injected.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use sightline_core::ObjectRef;
use sightline_queue::s3_event_body;
use sightline_tests::lake::{download_prefix, query_latest};
use sightline_tests::proxy::{Fault, FaultProxy, RequestInfo, Rule, SplitMix};
use sightline_tests::{fixture, repo_root, require_python, shared_moto, workspace_bin, Moto};

/// Objects per seed.
const OBJECTS: usize = 8;
/// The queue's visibility timeout: how soon a message taken by a killed worker, or by a
/// receive whose answer was lost, comes back.
const VISIBILITY_S: u64 = 3;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The fault points, each with a probability drawn for the seed.
fn rules(rng: &mut SplitMix) -> Vec<Rule> {
    let mut p = |max: f64| rng.next_f64() * max;
    let results_put: fn(&RequestInfo) -> bool = |r| r.is_s3("PUT", "/results/");
    let ack: fn(&RequestInfo) -> bool = |r| r.is_sqs("DeleteMessageBatch");
    let image_get: fn(&RequestInfo) -> bool = |r| r.is_s3("GET", "/incoming/");
    let receive: fn(&RequestInfo) -> bool = |r| r.is_sqs("ReceiveMessage");
    vec![
        Rule {
            name: "results written, answer lost",
            matches: results_put,
            probability: p(0.7),
            fault: Fault::DropResponse,
        },
        Rule {
            name: "ack lost before the delete",
            matches: ack,
            probability: p(0.7),
            fault: Fault::DropRequest,
        },
        Rule {
            name: "ack done, answer lost",
            matches: ack,
            probability: p(0.3),
            fault: Fault::DropResponse,
        },
        Rule {
            name: "image GET fails",
            matches: image_get,
            probability: p(0.3),
            fault: Fault::DropRequest,
        },
        Rule {
            name: "image GET answer lost",
            matches: image_get,
            probability: p(0.2),
            fault: Fault::DropResponse,
        },
        Rule {
            name: "received messages lost",
            matches: receive,
            probability: p(0.15),
            fault: Fault::DropResponse,
        },
        Rule {
            name: "slow results write",
            matches: results_put,
            probability: p(0.3),
            fault: Fault::Delay(Duration::from_millis(300)),
        },
    ]
}

/// A bucket with `OBJECTS` images and a queue (short visibility timeout, DLQ after many
/// receives) holding one notification per image.
async fn scenario(moto: &Moto) -> Scenario {
    let bucket = moto.new_bucket("sl-faults").await;
    let dlq = moto.new_queue("sl-faults-dlq").await;
    let queue = moto.new_queue("sl-faults").await;
    let sqs = moto.sqs().await;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sqs.set_queue_attributes()
        .queue_url(&queue)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_S.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"50"}}"#),
        )
        .send()
        .await
        .unwrap();
    let s3 = moto.s3().await;
    let images = ["chelsea", "coffee", "camera"];
    let mut objects = Vec::new();
    for i in 0..OBJECTS {
        let key = format!("incoming/medical/{i:02}.jpg");
        let file = fixture(&format!("images/{}.jpg", images[i % images.len()]));
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from(std::fs::read(file).unwrap()))
            .send()
            .await
            .unwrap();
        objects.push(ObjectRef::new(bucket.clone(), key));
    }
    let scenario = Scenario {
        bucket,
        queue,
        dlq,
        objects,
    };
    let singles: Vec<Vec<ObjectRef>> = scenario.objects.iter().map(|o| vec![o.clone()]).collect();
    scenario.send(moto, &singles).await;
    scenario
}

/// One seed's bucket, queues and objects.
struct Scenario {
    bucket: String,
    queue: String,
    dlq: String,
    objects: Vec<ObjectRef>,
}

impl Scenario {
    /// Sends one notification per group of objects.
    async fn send(&self, moto: &Moto, groups: &[Vec<ObjectRef>]) {
        let sqs = moto.sqs().await;
        for group in groups {
            sqs.send_message()
                .queue_url(&self.queue)
                .message_body(s3_event_body(group))
                .send()
                .await
                .unwrap();
        }
    }

    /// A random subset of the objects, in groups of up to three (a backfill over objects
    /// already processed, or notifications delivered twice).
    fn again(&self, rng: &mut SplitMix) -> Vec<Vec<ObjectRef>> {
        let subset: Vec<ObjectRef> = (self.objects.iter())
            .filter(|_| rng.next_f64() < 0.5)
            .cloned()
            .collect();
        let size = 1 + (rng.next_f64() * 3.0) as usize;
        subset.chunks(size).map(<[ObjectRef]>::to_vec).collect()
    }

    /// Waits until the first results file exists (at most 60 s).
    async fn first_results(&self, moto: &Moto) {
        let s3 = moto.s3().await;
        for _ in 0..600 {
            let listed = s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix("results/")
                .send()
                .await
                .unwrap();
            if listed.key_count().unwrap_or(0) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no results after 60 s");
    }
}

fn worker(endpoint: &str, moto: &Moto, queue: &str, idle_s: u64) -> Child {
    let mut cmd = Command::new(workspace_bin("sightline"));
    cmd.args(["worker", "--queue-url", queue, "--retry-delay", "0"])
        .args(["--exit-when-idle", &idle_s.to_string()])
        .envs(moto.env_vars())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("SIGHTLINE_INFER_BATCH", "4")
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start sightline worker")
}

/// One seed: faults + a SIGKILL mid-run, redeliveries, a faulty run to idle, more
/// duplicates, then a clean drain.
fn run_seed(
    seed: u64,
    moto: &Moto,
    python: &std::ffi::OsStr,
    rt: &tokio::runtime::Runtime,
) -> usize {
    let mut rng = SplitMix::new(seed);
    let scenario = rt.block_on(scenario(moto));
    let (bucket, queue, dlq) = (&scenario.bucket, &scenario.queue, &scenario.dlq);
    let proxy = FaultProxy::start(moto.endpoint(), rules(&mut rng), seed);

    // 1. Killed with SIGKILL soon after its first results file: mid-batch, mid-write or
    //    mid-acknowledgement.
    let mut child = worker(proxy.endpoint(), moto, queue, 30);
    rt.block_on(scenario.first_results(moto));
    std::thread::sleep(Duration::from_millis((rng.next_f64() * 600.0) as u64));
    child.kill().expect("SIGKILL the worker");
    child.wait().unwrap();
    // 2. Redeliveries in new groupings, and a worker under the same faults until idle
    //    (longer than the visibility timeout, so what the killed worker held comes back).
    //    It may stop on a receive error.
    rt.block_on(scenario.send(moto, &scenario.again(&mut rng)));
    let second = worker(proxy.endpoint(), moto, queue, VISIBILITY_S + 1)
        .wait_with_output()
        .unwrap();
    // 3. The faults end; more duplicates arrive; a worker drains the queue.
    proxy.set_rules(Vec::new());
    rt.block_on(scenario.send(moto, &scenario.again(&mut rng)));
    let drain = worker(proxy.endpoint(), moto, queue, VISIBILITY_S + 1)
        .wait_with_output()
        .unwrap();
    let context = || {
        format!(
            "seed {seed}; faults injected:\n{}\nsecond worker:\n{}\ndrain:\n{}",
            proxy.hits().join("\n"),
            tail(&second.stderr),
            tail(&drain.stderr)
        )
    };
    assert!(drain.status.success(), "drain failed; {}", context());

    let dir = tempfile::tempdir().unwrap();
    let (depth, dead, etags) = rt.block_on(async {
        let s3 = moto.s3().await;
        download_prefix(&s3, bucket, "results/", dir.path()).await;
        let mut etags = std::collections::BTreeMap::new();
        for i in 0..OBJECTS {
            let key = format!("incoming/medical/{i:02}.jpg");
            let head = s3.head_object().bucket(bucket).key(&key).send().await;
            let etag = head.unwrap().e_tag().unwrap().trim_matches('"').to_string();
            etags.insert(key, etag);
        }
        (
            moto.queue_depth(queue).await,
            moto.queue_depth(dlq).await,
            etags,
        )
    });
    assert_eq!(depth, 0, "queue not drained; {}", context());
    assert_eq!(dead, 0, "messages dead-lettered; {}", context());
    let lake = query_latest(python, &dir.path().join("results"));
    let keys: Vec<&str> = lake.latest.iter().map(|r| r.key.as_str()).collect();
    let want: Vec<&str> = etags.keys().map(String::as_str).collect();
    assert_eq!(keys, want, "one row per object; {}", context());
    for row in &lake.latest {
        assert_eq!(row.etag, etags[&row.key], "{row:?}; {}", context());
        assert!(
            row.error_kind.is_none() && row.top1.is_some(),
            "{row:?}; {}",
            context()
        );
    }
    eprintln!(
        "seed {seed}: {} faults, {} raw rows → {} in results_latest",
        proxy.hits().len(),
        lake.raw_rows,
        lake.latest.len()
    );
    lake.raw_rows
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[test]
fn every_object_is_seen_exactly_once_through_faults_and_kills() {
    let Some(python) = require_python(&["duckdb"]) else {
        return;
    };
    let moto = shared_moto();
    let rt = rt();
    let seeds: u64 = std::env::var("SIGHTLINE_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    // Two seeds at a time (each has its own bucket, queues and proxy).
    let next = std::sync::atomic::AtomicU64::new(1);
    let raw = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if seed > seeds {
                    break;
                }
                let rows = run_seed(seed, moto, &python, &rt);
                raw.fetch_add(rows, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    // The faults did their job: the raw table holds object versions more than once, and
    // only the view makes them one.
    let raw = raw.into_inner();
    assert!(
        raw > OBJECTS * seeds as usize,
        "no duplicates in the raw table over {seeds} seeds ({raw} rows): the faults were not exercised"
    );
}
