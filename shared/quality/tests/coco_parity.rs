//! COCO detection AP against pycocotools on a committed fixture
//! (`tests/fixtures/make_coco_fixture.py` made it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use serde_json::Value;
use sightline_quality::{evaluate_detections, LabeledBox};

fn boxes(v: &Value) -> Vec<LabeledBox> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let b: Vec<f64> = a["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            LabeledBox {
                image: a["image_id"].as_u64().unwrap(),
                class_id: a["category_id"].as_i64().unwrap() as i32,
                bbox: [b[0], b[1], b[0] + b[2], b[1] + b[3]],
                score: a.get("score").and_then(Value::as_f64).unwrap_or(1.0),
            }
        })
        .collect()
}

#[test]
fn matches_pycocotools() {
    let case: Value = serde_json::from_str(include_str!("fixtures/coco_case.json")).unwrap();
    let m = evaluate_detections(&boxes(&case["ground_truth"]), &boxes(&case["detections"]));
    let close = |a: f64, b: &Value, what: &str| {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() < 1e-4, "{what}: ours {a}, pycocotools {b}");
    };
    close(m.map, &case["map"], "mAP@0.5:0.95");
    close(m.map50, &case["map50"], "mAP@0.5");
    close(m.map75, &case["map75"], "mAP@0.75");
    let want = case["per_class"].as_object().unwrap();
    assert_eq!(m.per_class.len(), want.len());
    for (c, ap) in &m.per_class {
        close(*ap, &want[&c.to_string()], &format!("AP class {c}"));
    }
    assert_eq!(m.per_class[&5], 0.0, "a class never detected has AP 0");
    assert!(
        !m.per_class.contains_key(&6),
        "a class without ground truth is not averaged"
    );
}

#[test]
fn perfect_and_empty() {
    let g = LabeledBox {
        image: 1,
        class_id: 0,
        bbox: [0.0, 0.0, 10.0, 10.0],
        score: 1.0,
    };
    assert!((evaluate_detections(&[g], &[g]).map - 1.0).abs() < 1e-12);
    assert_eq!(evaluate_detections(&[g], &[]).map, 0.0);
}
