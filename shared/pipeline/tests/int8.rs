//! A catalog with `precision = "int8"` runs the shipped INT8 classifier end to end with the
//! real ONNX Runtime: its rows name the INT8 model, carry its embedding, and agree with the
//! float32 catalog on the fixtures' top-1 class.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sightline_core::CatalogConfig;
use sightline_vision::ModelRegistry;
use support::{repo, success_rows, RealPipeline};

fn catalog(name: &str, precision: &str) -> CatalogConfig {
    let text = format!(
        "name = \"{name}\"\n[classifier]\nmodel = \"efficientnet_lite0\"\nprecision = \"{precision}\"\n"
    );
    CatalogConfig::from_toml(&text, name).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_int8_catalog_produces_rows_like_its_float_twin() {
    let real = RealPipeline::new([catalog("float", "fp32"), catalog("quant", "int8")], 8);
    let fixtures = ["camera.jpg", "chelsea.jpg", "coffee.jpg"];
    let mut keys = Vec::new();
    for catalog in ["float", "quant"] {
        for f in fixtures {
            let key = format!("incoming/{catalog}/{f}");
            let path = real.source.path().join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(repo().join("tests/fixtures/images").join(f), path).unwrap();
            keys.push(key);
        }
    }
    let rows = success_rows(&real.pipeline, &keys).await;
    for f in fixtures {
        let float = &rows[&format!("incoming/float/{f}")];
        let quant = &rows[&format!("incoming/quant/{f}")];
        assert_eq!(float.model, "efficientnet_lite0");
        assert_eq!(quant.model, "efficientnet_lite0_int8");
        let (qe, fe) = (
            quant.embedding.as_ref().unwrap(),
            float.embedding.as_ref().unwrap(),
        );
        assert_eq!(qe.len(), 1280);
        assert_eq!(
            quant.labels[0].label, float.labels[0].label,
            "{f}: {:?} vs {:?}",
            quant.labels[0], float.labels[0]
        );
        let cos = cosine(qe, fe);
        assert!(cos > 0.9, "{f}: embedding cosine {cos}");
        assert_ne!(qe, fe, "{f}: the same model ran twice");
    }
}

#[test]
fn a_missing_int8_variant_is_a_clear_error() {
    let mut models = sightline_pipeline::ModelSet::default();
    let registry = ModelRegistry::new(repo().join("models"));
    let mut cfg = catalog("q", "int8");
    cfg.classifier.as_mut().unwrap().model = "mobilenet_v2".into();
    let e = sightline_pipeline::CatalogPlan::compile(&cfg, &mut models, &registry)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mobilenet_v2_int8.toml") && e.contains("models/quantize"),
        "{e}"
    );
}
