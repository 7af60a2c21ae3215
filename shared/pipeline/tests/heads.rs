//! Serving a catalog's champion head from the registry of the results bucket: rows carry
//! the head's classes, tags and version; a promotion is served after the refresh
//! interval; a corrupt registry leaves serving unchanged. Real ONNX heads (exported by
//! sightline-train) run through ONNX Runtime; the backbone is the fake one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use chrono::Utc;
use ndarray::array;
use sightline_registry::{
    Backbone, HeadManifest, HeadMetrics, Registry, TrainingInfo, VersionFiles,
};
use sightline_storage::{LocalStore, Store};
use sightline_train::onnx::head_to_onnx;
use sightline_train::LinearHead;
use support::{harness, png, settings, Harness};

const SHOP: &str = r#"
name = "shop"
[classifier]
model = "fake_cls"
top_k = 2
tag_min_score = 0.5
[taxonomy]
lit = ["bright"]
"#;

/// A head on the fake 4-float embedding (each value = the image's mean brightness):
/// `classes[0]` for bright images, `classes[1]` for dark ones.
fn head(classes: [&str; 2]) -> LinearHead {
    LinearHead {
        classes: classes.iter().map(|c| c.to_string()).collect(),
        mean: array![0.0, 0.0, 0.0, 0.0],
        scale: array![1.0, 1.0, 1.0, 1.0],
        weights: array![[10.0, 0.0, 0.0, 0.0], [-10.0, 0.0, 0.0, 0.0]],
        bias: array![-5.0, 5.0],
    }
}

fn manifest(version: &str, head: &LinearHead, tags: &[(&str, &str)]) -> HeadManifest {
    HeadManifest {
        format: String::new(),
        catalog: "shop".into(),
        version: version.into(),
        created_at: Utc::now(),
        parent: None,
        backbone: Backbone {
            model: "fake_cls".into(),
            version: "0.1".into(),
            embedding_dim: 4,
        },
        classes: head.classes.clone(),
        tags: tags
            .iter()
            .map(|(c, t)| (c.to_string(), vec![t.to_string()]))
            .collect(),
        input: "embedding".into(),
        output: "probabilities".into(),
        files: vec![],
        training: TrainingInfo {
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
        metrics: HeadMetrics {
            rows: 0,
            accuracy: 1.0,
            macro_f1: 1.0,
            recall: Default::default(),
        },
    }
}

fn registry(h: &Harness) -> Registry {
    Registry::new(Store::Local(LocalStore::new(h.output.path())), "photos")
}

async fn publish_and_promote(
    h: &Harness,
    version: &str,
    classes: [&str; 2],
    tags: &[(&str, &str)],
) {
    let head = head(classes);
    let onnx = head_to_onnx(&head, &[]);
    let files = VersionFiles {
        manifest: manifest(version, &head, tags),
        head: onnx.clone(),
        holdout: onnx,
        card: String::new(),
    };
    let reg = registry(h);
    reg.publish(files).await.unwrap();
    reg.promote("shop", version, "test").await.unwrap();
}

/// (label, tags, model, model_version) of the latest row of `key`.
async fn served(h: &Harness, name: &str) -> (String, Vec<String>, String, String) {
    let report = h.process(&h.messages("shop", &[&[name]])).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let row = &report.written[0];
    (
        row.labels[0].label.clone(),
        row.tags.clone(),
        row.model.clone(),
        row.model_version.clone(),
    )
}

#[tokio::test]
async fn the_champion_head_labels_rows_and_a_promotion_is_served() {
    let mut s = settings(4);
    s.head_refresh_secs = 0;
    let h = harness(SHOP, s);
    h.put("bright.png", &png(8, 8, 230));
    h.put("dark.png", &png(8, 8, 20));
    // No head yet: the catalog's own classifier.
    let (label, tags, model, _) = served(&h, "bright.png").await;
    assert_eq!((label.as_str(), model.as_str()), ("bright", "fake_cls"));
    assert_eq!(tags, ["lit"]);

    publish_and_promote(
        &h,
        "v1",
        ["Golden-Delicious", "Oatly-Oat-Milk"],
        &[("Golden-Delicious", "Apple")],
    )
    .await;
    let (label, tags, model, version) = served(&h, "bright.png").await;
    assert_eq!(label, "Golden-Delicious");
    assert_eq!(tags, ["Apple"], "head tags replace the ImageNet taxonomy's");
    assert_eq!(
        (model.as_str(), version.as_str()),
        ("fake_cls+head", "0.1+v1")
    );
    assert_eq!(served(&h, "dark.png").await.0, "Oatly-Oat-Milk");

    publish_and_promote(&h, "v2", ["sunny", "night"], &[]).await;
    let (label, tags, _, version) = served(&h, "bright.png").await;
    assert_eq!((label.as_str(), version.as_str()), ("sunny", "0.1+v2"));
    assert!(tags.is_empty());

    // Rollback returns to v1.
    registry(&h).rollback("shop", "test").await.unwrap();
    assert_eq!(served(&h, "bright.png").await.0, "Golden-Delicious");
}

#[tokio::test]
async fn a_corrupt_registry_leaves_serving_unchanged() {
    let mut s = settings(4);
    s.head_refresh_secs = 0;
    let h = harness(SHOP, s);
    h.put("bright.png", &png(8, 8, 230));
    publish_and_promote(&h, "v1", ["day", "night"], &[]).await;
    assert_eq!(served(&h, "bright.png").await.0, "day");
    let store = Store::Local(LocalStore::new(h.output.path()));
    store
        .put(
            "photos",
            "registry/shop/alias.json",
            Bytes::from_static(b"{broken"),
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        served(&h, "bright.png").await.0,
        "day",
        "keeps the head it served"
    );
    // A champion whose head file was tampered with is refused the same way.
    let alias = br#"{"catalog":"shop","champion":"v1","challenger":null}"#;
    store
        .put(
            "photos",
            "registry/shop/alias.json",
            Bytes::from_static(alias),
            "",
        )
        .await
        .unwrap();
    store
        .put(
            "photos",
            "registry/shop/v1/head.onnx",
            Bytes::from_static(b"evil"),
            "",
        )
        .await
        .unwrap();
    let fresh = harness(SHOP, settings(4));
    fresh.put("bright.png", &png(8, 8, 230));
    let tampered_dir = h.output.path().join("registry");
    copy_dir(&tampered_dir, &fresh.output.path().join("registry"));
    let (label, _, model, _) = served(&fresh, "bright.png").await;
    assert_eq!(
        (label.as_str(), model.as_str()),
        ("bright", "fake_cls"),
        "no head: the catalog's classifier"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
