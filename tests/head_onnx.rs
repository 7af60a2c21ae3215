//! A head trained and exported by Sightline is an open artefact: plain Python ONNX
//! Runtime loads it and gives the scores the Rust head gives (and serving's ONNX Runtime
//! session gives).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sightline_tests::data::require_python;
use sightline_train::onnx::head_to_onnx;
use sightline_train::{train_head, Example, LabelledSet, TrainConfig};
use sightline_vision::HeadSession;

const DIM: usize = 16;

fn set() -> LabelledSet {
    let examples = (0..300)
        .map(|i| {
            let class = i % 5;
            let embedding = (0..DIM)
                .map(|j| {
                    let noise = ((i * 31 + j * 17) % 97) as f32 / 97.0;
                    noise * 2.0 + if j % 5 == class { 1.5 } else { 0.0 } + j as f32
                })
                .collect();
            Example {
                key: format!("k{i}"),
                class: format!("class {class}"),
                embedding,
            }
        })
        .collect();
    LabelledSet::new(examples).unwrap()
}

#[test]
fn python_onnxruntime_gives_the_rust_heads_scores() {
    let Some(python) = require_python(&["onnxruntime", "numpy"]) else {
        return;
    };
    let set = set();
    let trained = train_head(&set, &TrainConfig::default()).unwrap();
    let onnx = head_to_onnx(&trained.head, &[("version".into(), "test".into())]);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("head.onnx");
    std::fs::write(&model, &onnx).unwrap();
    let inputs: Vec<Vec<f32>> = set
        .features
        .rows()
        .into_iter()
        .take(40)
        .map(|r| r.iter().map(|v| *v as f32).collect())
        .collect();
    let input_path = dir.path().join("inputs.json");
    std::fs::write(&input_path, serde_json::to_vec(&inputs).unwrap()).unwrap();
    let script = r#"
import json, sys
import numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.array(json.load(open(sys.argv[2])), dtype=np.float32)
meta = s.get_modelmeta().custom_metadata_map
(p,) = s.run(["probabilities"], {"embedding": x})
print(json.dumps({"classes": json.loads(meta["classes"]), "version": meta["version"], "p": p.tolist()}))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&model)
        .arg(&input_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["version"], "test");
    let classes: Vec<String> = serde_json::from_value(answer["classes"].clone()).unwrap();
    assert_eq!(classes, trained.head.classes);
    let python_p: Vec<Vec<f64>> = serde_json::from_value(answer["p"].clone()).unwrap();

    let rows = set.features.slice(ndarray::s![..40, ..]);
    let rust_p = trained.head.probabilities(rows);
    let session = HeadSession::from_bytes("head", &onnx, DIM, classes.len(), None).unwrap();
    let flat: Vec<f32> = inputs.concat();
    let served = session.probabilities(&flat).unwrap();
    let mut worst: f64 = 0.0;
    for (i, row) in python_p.iter().enumerate() {
        for (c, p) in row.iter().enumerate() {
            worst = worst.max((p - rust_p[(i, c)]).abs());
            worst = worst.max((p - f64::from(served[i * classes.len() + c])).abs());
        }
    }
    assert!(worst < 1e-5, "largest difference {worst}");
}
