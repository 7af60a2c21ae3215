//! The registry on a local folder: immutable versions, checksums, conditional alias writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use bytes::Bytes;
use chrono::Utc;
use sightline_registry::{
    Backbone, HeadFile, HeadManifest, HeadMetrics, Registry, RegistryError, TrainingInfo,
    VersionFiles,
};
use sightline_storage::{LocalStore, Store};

fn manifest(version: &str) -> HeadManifest {
    HeadManifest {
        format: String::new(),
        catalog: "retail".into(),
        version: version.into(),
        created_at: Utc::now(),
        parent: None,
        backbone: Backbone {
            model: "efficientnet_lite0".into(),
            version: "1.0.0".into(),
            embedding_dim: 4,
        },
        classes: vec!["apple".into(), "pear".into()],
        tags: Default::default(),
        input: "embedding".into(),
        output: "probabilities".into(),
        files: vec![],
        training: TrainingInfo {
            rows: 10,
            train_rows: 8,
            validation_rows: 2,
            first_date: None,
            last_date: None,
            label_files: vec![],
            class_counts: Default::default(),
            validation_fraction: 0.2,
            c: 1.0,
            iterations: 5,
            stop: "converged".into(),
            seconds: 0.1,
        },
        metrics: HeadMetrics {
            rows: 2,
            accuracy: 1.0,
            macro_f1: 1.0,
            recall: Default::default(),
        },
    }
}

fn files(version: &str) -> VersionFiles {
    VersionFiles {
        manifest: manifest(version),
        head: format!("head {version}").into_bytes(),
        holdout: format!("holdout {version}").into_bytes(),
        card: "# card".into(),
    }
}

fn registry() -> (tempfile::TempDir, Store, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let registry = Registry::new(store.clone(), "bucket");
    (dir, store, registry)
}

#[tokio::test]
async fn versions_are_immutable_and_checked_on_load() {
    let (_dir, store, reg) = registry();
    let m = reg.publish(files("v1")).await.unwrap();
    assert_eq!(m.files.len(), 2);
    let again = reg.publish(files("v1")).await;
    assert!(
        matches!(again, Err(RegistryError::Conflict { .. })),
        "{again:?}"
    );
    let loaded = reg.load("retail", "v1", HeadFile::Served).await.unwrap();
    assert_eq!(&loaded.onnx[..], b"head v1");
    // Tampering with a head is caught by its checksum.
    let key = "registry/retail/v1/holdout.onnx";
    store
        .put("bucket", key, Bytes::from_static(b"evil"), "")
        .await
        .unwrap();
    let err = reg
        .load("retail", "v1", HeadFile::Holdout)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
    let listed = reg.versions("retail").await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn promote_rollback_and_a_missing_version() {
    let (_dir, _store, reg) = registry();
    assert!(reg.champion("retail").await.unwrap().is_none());
    for v in ["v1", "v2"] {
        reg.publish(files(v)).await.unwrap();
        reg.promote("retail", v, "test").await.unwrap();
    }
    assert_eq!(
        reg.champion("retail")
            .await
            .unwrap()
            .unwrap()
            .manifest
            .version,
        "v2"
    );
    let alias = reg.rollback("retail", "operator").await.unwrap();
    assert_eq!(alias.champion.as_deref(), Some("v1"));
    assert!(matches!(
        reg.rollback("retail", "again").await,
        Err(RegistryError::NotFound(_))
    ));
    let missing = reg.promote("retail", "v9", "typo").await;
    assert!(matches!(missing, Err(RegistryError::NotFound(_))));
    assert_eq!(
        reg.alias("retail").await.unwrap().0.champion.as_deref(),
        Some("v1")
    );
}

#[tokio::test]
async fn a_corrupt_alias_is_an_error_not_an_empty_registry() {
    let (_dir, store, reg) = registry();
    store
        .put(
            "bucket",
            "registry/retail/alias.json",
            Bytes::from_static(b"{not json"),
            "",
        )
        .await
        .unwrap();
    let err = reg.champion("retail").await.unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_promotions_from_the_same_alias_exactly_one_wins() {
    let (_dir, _store, reg) = registry();
    for v in ["v1", "v2", "v3"] {
        reg.publish(files(v)).await.unwrap();
    }
    reg.promote("retail", "v1", "first").await.unwrap();
    let (alias, etag) = reg.alias("retail").await.unwrap();
    let attempts = ["v2", "v3"].map(|v| {
        let (reg, mut alias, etag) = (reg.clone(), alias.clone(), etag.clone());
        tokio::spawn(async move {
            alias.promote(v, "gate passed", Utc::now());
            reg.write_alias(&alias, etag.as_deref()).await
        })
    });
    let mut outcomes = Vec::new();
    for a in attempts {
        outcomes.push(a.await.unwrap());
    }
    let wins = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(wins, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, Err(RegistryError::Conflict { .. }))));
    let champion = reg.alias("retail").await.unwrap().0.champion.unwrap();
    assert!(champion == "v2" || champion == "v3");
}
