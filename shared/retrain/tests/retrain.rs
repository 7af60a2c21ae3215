//! Retraining on a local bucket with synthetic embeddings (well-separated clusters, one
//! per class): the first head is promoted, a worse challenger is refused, rollback
//! restores, concurrent retrains promote once, requests are handled once, and bad input
//! gives clear errors without promoting anything. Heads are scored through ONNX Runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use chrono::{NaiveDate, TimeZone, Utc};
use sightline_core::{ResultRow, StageTimings};
use sightline_registry::{Backbone, Registry};
use sightline_retrain::request::{marker_key, RetrainService, RetrainSettings};
use sightline_retrain::{retrain, GateConfig, RetrainError, RetrainOptions, RetrainTarget};
use sightline_storage::{LocalStore, Store};
use sightline_train::TrainConfig;

const DIM: usize = 8;
const CLASSES: [&str; 4] = ["apple", "banana", "carrot", "dill"];

/// A deterministic value in [-0.5, 0.5) from two integers.
fn noise(i: usize, j: usize) -> f32 {
    let x = ((i * 7919 + j * 104_729) % 1000) as f32 / 1000.0;
    x - 0.5
}

fn row(i: usize, class: usize) -> ResultRow {
    let mut embedding: Vec<f32> = (0..DIM).map(|j| noise(i, j) * 1.5).collect();
    embedding[class] += 3.0; // class c lives along axis c
    ResultRow {
        catalog: "retail".into(),
        date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        bucket: "b".into(),
        key: format!("incoming/retail/img{i:04}.jpg"),
        etag: format!("e{i}"),
        size_bytes: 1,
        model: "fake_cls".into(),
        model_version: "0.1".into(),
        execution_provider: "cpu".into(),
        processed_at: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
        width: Some(8),
        height: Some(8),
        stats: None,
        labels: vec![],
        tags: vec![],
        detections: vec![],
        embedding: Some(embedding),
        redacted_key: None,
        redaction_skipped: None,
        faces_redacted: None,
        error_kind: None,
        error: None,
        timings: StageTimings::default(),
    }
}

struct Bucket {
    dir: tempfile::TempDir,
    store: Store,
}

impl Bucket {
    /// 240 rows, 60 per class, and the true labels.
    async fn new() -> Bucket {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local(LocalStore::new(dir.path()));
        let rows: Vec<ResultRow> = (0..240).map(|i| row(i, i % 4)).collect();
        for f in sightline_tables::result_files("results/", &rows, |_| DIM).unwrap() {
            store.put("b", &f.key, f.bytes, "").await.unwrap();
        }
        let b = Bucket { dir, store };
        b.labels("labels.csv", |i| CLASSES[i % 4].to_string()).await;
        b
    }

    async fn labels(&self, name: &str, class_of: impl Fn(usize) -> String) {
        let mut csv = String::from("file,label,tag\n");
        for i in 0..240 {
            let class = class_of(i);
            let tag = if class == "carrot" || class == "dill" {
                "vegetable"
            } else {
                "fruit"
            };
            csv += &format!("img{i:04}.jpg,{class},{tag}\n");
        }
        let key = format!("labels/retail/{name}");
        self.store
            .put("b", &key, Bytes::from(csv), "text/csv")
            .await
            .unwrap();
    }

    fn target(&self) -> RetrainTarget<'_> {
        RetrainTarget {
            store: &self.store,
            bucket: "b",
            results_prefix: "results/",
            incoming_prefix: "incoming/",
            max_object_bytes: 1 << 30,
            ort_dylib: None,
        }
    }

    fn registry(&self) -> Registry {
        Registry::new(self.store.clone(), "b")
    }
}

fn options() -> RetrainOptions {
    RetrainOptions {
        catalog: "retail".into(),
        backbone: Backbone {
            model: "fake_cls".into(),
            version: "0.1".into(),
            embedding_dim: DIM,
        },
        train: TrainConfig::default(),
        gate: GateConfig::default(),
        promote: true,
        trigger: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_head_is_promoted_a_worse_one_refused_and_rollback_restores() {
    let b = Bucket::new().await;
    let first = retrain(&b.target(), &options()).await.unwrap();
    assert!(first.promoted, "{:?}", first.decision);
    assert!(first.challenger.accuracy > 0.95, "{:?}", first.challenger);
    assert_eq!(first.manifest.classes, CLASSES);
    assert_eq!(first.manifest.tags["carrot"], ["vegetable"]);
    let v1 = first.manifest.version.clone();

    // Half the classes' labels shuffled between them: the challenger is worse on the
    // same validation rows (whose labels are shuffled too, and the champion is judged
    // on them just the same) and must not replace the champion.
    b.labels("labels.csv", |i| match i % 4 {
        0 | 1 => CLASSES[(i / 4) % 2].to_string(),
        c => CLASSES[c].to_string(),
    })
    .await;
    let shuffled = retrain(&b.target(), &options()).await.unwrap();
    assert!(!shuffled.promoted, "{:?}", shuffled.decision);
    assert!(
        shuffled.decision.summary().contains("FAIL"),
        "{}",
        shuffled.decision.summary()
    );
    let (alias, _) = b.registry().alias("retail").await.unwrap();
    assert_eq!(alias.champion.as_deref(), Some(v1.as_str()));
    assert_eq!(
        alias.challenger.as_deref(),
        Some(shuffled.manifest.version.as_str())
    );

    // An operator promotes it anyway; rollback restores the first head.
    b.registry()
        .promote("retail", &shuffled.manifest.version, "operator")
        .await
        .unwrap();
    let back = b.registry().rollback("retail", "operator").await.unwrap();
    assert_eq!(back.champion.as_deref(), Some(v1.as_str()));

    // The metrics table holds both models' numbers and the decision.
    let metrics = std::fs::read_dir(b.dir.path().join("metrics/catalog=retail"))
        .unwrap()
        .count();
    assert_eq!(metrics, 1, "one date partition");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_retrains_promote_at_most_once() {
    let b = Bucket::new().await;
    let (target, opts) = (b.target(), options());
    let (x, y) = tokio::join!(retrain(&target, &opts), retrain(&target, &opts));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        u8::from(x.promoted) + u8::from(y.promoted),
        1,
        "{:?} / {:?}",
        x.decision,
        y.decision
    );
    let (alias, _) = b.registry().alias("retail").await.unwrap();
    let winner = if x.promoted { &x } else { &y };
    assert_eq!(
        alias.champion.as_deref(),
        Some(winner.manifest.version.as_str())
    );
    assert_eq!(
        b.registry().versions("retail").await.unwrap().len(),
        2,
        "both versions are registered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_clear_error_and_promotes_nothing() {
    let b = Bucket::new().await;
    // One class only.
    b.labels("labels.csv", |_| "apple".into()).await;
    let err = retrain(&b.target(), &options()).await.unwrap_err();
    assert!(err.to_string().contains("at least two classes"), "{err}");
    // Labels naming keys that have no rows: nothing to learn from.
    let csv = "file,label\nnope1.jpg,apple\nnope2.jpg,banana\n";
    b.store
        .put(
            "b",
            "labels/retail/labels.csv",
            Bytes::from_static(csv.as_bytes()),
            "",
        )
        .await
        .unwrap();
    let err = retrain(&b.target(), &options()).await.unwrap_err();
    assert!(matches!(err, RetrainError::Train(_)), "{err}");
    // Another backbone: no usable rows (an empty window).
    let mut other = options();
    other.backbone.model = "other_model".into();
    b.labels("labels.csv", |i| CLASSES[i % 4].to_string()).await;
    let err = retrain(&b.target(), &other).await.unwrap_err();
    assert!(err.to_string().contains("no training data"), "{err}");
    // A corrupt alias: an error, nothing written over it.
    b.store
        .put(
            "b",
            "registry/retail/alias.json",
            Bytes::from_static(b"{oops"),
            "",
        )
        .await
        .unwrap();
    let err = retrain(&b.target(), &options()).await.unwrap_err();
    assert!(err.to_string().contains("corrupt registry object"), "{err}");
    let alias = std::fs::read(b.dir.path().join("registry/retail/alias.json")).unwrap();
    assert_eq!(alias, b"{oops");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retrain_request_is_handled_once() {
    let b = Bucket::new().await;
    let models = tempfile::tempdir().unwrap();
    write_models(models.path());
    let service = RetrainService {
        settings: sightline_core::Settings {
            models_dir: Some(models.path().to_path_buf()),
            ..sightline_core::Settings::default()
        },
        retrain: RetrainSettings::from_lookup(|k| {
            (k == "SIGHTLINE_RETRAIN_BUCKET").then(|| "b".to_string())
        })
        .unwrap(),
        store: b.store.clone(),
    };
    let body = serde_json::json!({
        "kind": "retrain_request", "catalog": "retail", "model": "fake_cls", "model_version": "0.1",
        "reasons": ["accuracy below floor"], "report_key": "reports/catalog=retail/date=2026-12-01/report-1.json",
        "requested_at": "2026-12-01T06:00:00Z"
    })
    .to_string();
    let first = service.handle_message(&body).await.unwrap();
    assert_eq!(
        (first.status.as_str(), first.promoted),
        ("retrained", true),
        "{first:?}"
    );
    let again = service.handle_message(&body).await.unwrap();
    assert_eq!(again.status, "already_handled");
    assert_eq!(b.registry().versions("retail").await.unwrap().len(), 1);
    let marker = marker_key(
        "retail",
        "reports/catalog=retail/date=2026-12-01/report-1.json",
    );
    assert!(b.dir.path().join(marker).is_file());
    // A request for a catalog that does not exist is recorded as failed, not retried.
    let unknown = body.replace("\"retail\"", "\"nope\"");
    let failed = service.handle_message(&unknown).await.unwrap();
    assert_eq!(failed.status, "failed", "{failed:?}");
}

/// A models folder with the `retail` catalog on the fake 8-float backbone.
fn write_models(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("catalogs")).unwrap();
    std::fs::write(
        dir.join("catalogs/retail.toml"),
        "name = \"retail\"\n[classifier]\nmodel = \"fake_cls\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("fake_cls.txt"), "a\nb\n").unwrap();
    std::fs::write(
        dir.join("fake_cls.toml"),
        format!(
            "name = \"fake_cls\"\nversion = \"0.1\"\ntask = \"classification\"\nfile = \"fake.onnx\"\n\
             sha256 = \"0\"\nlabels = \"fake_cls.txt\"\nsource = \"test\"\nlicence = \"test\"\n\
             [input]\nname = \"input\"\nlayout = \"nchw\"\nshape = [-1, 3, 8, 8]\n\
             [preprocess]\nkind = \"center_crop\"\nresize_shorter = 8\ncrop = 8\n\
             mean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n\
             [outputs]\nlogits = \"logits\"\nembedding = \"embedding\"\nembedding_dim = {DIM}\n"
        ),
    )
    .unwrap();
}
