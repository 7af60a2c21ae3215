//! Zero-shot classes, CLIP-style, through the real pipeline (ONNX Runtime in process): the
//! embedding fixture (an image encoder without logits) and a prompts file of class text
//! embeddings label the fixture photos with the scores open_clip's zero-shot recipe gives
//! (`expected_zero_shot.json`, computed by `tests/fixtures/models/make_model_fixtures.py`:
//! normalised features, `softmax(logit_scale × image · text)`), within 1e-4.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sightline_core::CatalogConfig;
use support::{repo, success_rows, RealPipeline};

#[derive(Debug, serde::Deserialize)]
struct Expected {
    label: String,
    score: f32,
}

#[tokio::test]
async fn a_zero_shot_catalog_labels_photos_by_their_class_prompts() {
    let fixtures = repo().join("tests/fixtures/models");
    let text = std::fs::read_to_string(fixtures.join("expected_zero_shot.json")).unwrap();
    let expected: std::collections::HashMap<String, Vec<Expected>> =
        serde_json::from_str(&text).unwrap();
    let toml = "name = \"colours\"\n[classifier]\nmodel = \"embed_fixture\"\ntop_k = 4\n\
                zero_shot = \"zero_shot_prompts.json\"\n[taxonomy]\nwarm = [\"reddish\"]\n";
    let catalog = CatalogConfig::from_toml(toml, "test").unwrap();
    let real = RealPipeline::with_models(fixtures, [catalog], 4);
    let keys = real.put_fixture_images("colours", expected.keys());
    let rows = success_rows(&real.pipeline, &keys).await;
    for (name, want) in &expected {
        let row = &rows[&format!("incoming/colours/{name}")];
        assert_eq!(row.labels.len(), 4, "{name}: {:?}", row.labels);
        for (got, want) in row.labels.iter().zip(want) {
            assert!(
                got.label == want.label && (got.score - want.score).abs() <= 1e-4,
                "{name}: got {got:?}, want {want:?}"
            );
        }
        assert_eq!(row.embedding.as_ref().map(Vec::len), Some(8));
        // The catalog's taxonomy: "reddish" at or above tag_min_score (0.2) gives "warm".
        let warm = want.iter().any(|w| w.label == "reddish" && w.score >= 0.2);
        assert_eq!(
            row.tags.contains(&"warm".to_string()),
            warm,
            "{name}: {:?}",
            row.tags
        );
    }
}

#[test]
fn a_prompts_file_that_does_not_fit_the_encoder_stops_the_start() {
    let fixtures = repo().join("tests/fixtures/models");
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "embed_fixture.onnx",
        "embed_fixture.toml",
        "embed_labels.txt",
    ] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let prompts = r#"{"logit_scale": 100, "classes": [
        {"label": "a", "embedding": [1, 0, 0]}, {"label": "b", "embedding": [0, 1, 0]}]}"#;
    std::fs::write(dir.path().join("p.json"), prompts).unwrap();
    let toml = "name = \"c\"\n[classifier]\nmodel = \"embed_fixture\"\nzero_shot = \"p.json\"\n";
    let catalog = CatalogConfig::from_toml(toml, "test").unwrap();
    let started = RealPipeline::try_with_models(dir.path().into(), [catalog], 1);
    let e = started.err().expect("the start must fail").to_string();
    assert!(
        e.contains("p.json") && e.contains("3 values") && e.contains("has 8"),
        "{e}"
    );
}
