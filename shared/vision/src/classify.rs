//! Classification post-processing: softmax, top-k, catalog tags.

use std::collections::HashMap;

use sightline_core::{ClassifierConfig, Label};

use crate::VisionError;

/// What a classifier's output holds (manifest `outputs.scores`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Raw scores: a softmax makes them probabilities (the default; torchvision, timm).
    #[default]
    Logits,
    /// Probabilities already (a softmax inside the graph: Ultralytics classify exports).
    Probabilities,
    /// Multi-label logits: each class's own sigmoid, independent of the others (attribute
    /// and tag models); `top_k`, `min_score` and `tag_min_score` apply to each class.
    Sigmoid,
}

impl ScoreKind {
    /// One image's class scores (0..1) from the model's output.
    pub fn scores(self, output: &[f32]) -> Vec<f32> {
        match self {
            ScoreKind::Logits => softmax(output),
            ScoreKind::Probabilities => output.to_vec(),
            ScoreKind::Sigmoid => output.iter().map(|&z| 1.0 / (1.0 + (-z).exp())).collect(),
        }
    }
}

/// Turns one image's classifier output into labels and tags for a catalog.
#[derive(Debug, Clone)]
pub struct Classifier {
    config: ClassifierConfig,
    labels: Vec<String>,
    tags_by_class: HashMap<usize, Vec<String>>,
    scores: ScoreKind,
}

/// One image's classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Top-k labels, score descending (the top-1 always present).
    pub labels: Vec<Label>,
    /// Catalog tags, sorted, without duplicates.
    pub tags: Vec<String>,
}

/// Softmax of `logits` (numerically stable).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&z| (z - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Indices of the `k` largest values, descending; ties keep the lower index first.
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    idx.select_nth_unstable_by(k - 1, cmp);
    idx.truncate(k);
    idx.sort_by(cmp);
    idx
}

impl Classifier {
    /// A classifier for a catalog; every label named in `taxonomy` (tag → labels) must exist
    /// in `labels`, so a typo in a catalog file is an error instead of a tag that never fires.
    pub fn new(
        config: ClassifierConfig,
        labels: Vec<String>,
        taxonomy: &HashMap<String, Vec<String>>,
    ) -> Result<Self, VisionError> {
        let index: HashMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let mut tags_by_class: HashMap<usize, Vec<String>> = HashMap::new();
        let mut unknown: Vec<&str> = Vec::new();
        for (label, tags) in taxonomy {
            match index.get(label.as_str()) {
                Some(&i) => tags_by_class
                    .entry(i)
                    .or_default()
                    .extend(tags.iter().cloned()),
                None => unknown.push(label),
            }
        }
        if !unknown.is_empty() {
            unknown.sort();
            return Err(VisionError::Model {
                model: config.model.clone(),
                message: format!(
                    "taxonomy names labels that are not in the label file: {}",
                    unknown.join(", ")
                ),
            });
        }
        Ok(Classifier {
            config,
            labels,
            tags_by_class,
            scores: ScoreKind::Logits,
        })
    }

    /// The same classifier reading its model's output as `kind` (default: logits).
    pub fn reading(mut self, kind: ScoreKind) -> Self {
        self.scores = kind;
        self
    }

    /// The catalog's classifier settings.
    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Labels and tags for one image's model output (read as [`Classifier::reading`] says).
    pub fn classify(&self, output: &[f32]) -> Classification {
        self.classify_probabilities(&self.scores.scores(output))
    }

    /// Labels and tags for one image's class probabilities (a head's output).
    pub fn classify_probabilities(&self, probs: &[f32]) -> Classification {
        let mut labels = Vec::with_capacity(self.config.top_k);
        let mut tags: Vec<String> = Vec::new();
        for (rank, i) in top_k(probs, self.config.top_k).into_iter().enumerate() {
            let p = probs[i];
            if rank > 0 && p < self.config.min_score {
                break;
            }
            if p >= self.config.tag_min_score {
                if let Some(t) = self.tags_by_class.get(&i) {
                    tags.extend(t.iter().cloned());
                }
            }
            labels.push(Label {
                class_id: i as i32,
                label: self
                    .labels
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("class_{i}")),
                score: p,
            });
        }
        tags.sort();
        tags.dedup();
        Classification { labels, tags }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(top_k: usize, min_score: f32, tag_min_score: f32) -> ClassifierConfig {
        ClassifierConfig {
            model: "m".into(),
            precision: Default::default(),
            top_k,
            min_score,
            tag_min_score,
            zero_shot: None,
        }
    }

    #[test]
    fn softmax_and_topk() {
        let p = softmax(&[1.0, 2.0, 3.0, 1000.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6 && p[3] > 0.999);
        assert_eq!(top_k(&[0.1, 0.5, 0.5, 0.2], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[0.1], 5), vec![0]);
    }

    #[test]
    fn tags_from_labels_over_threshold() {
        let labels = vec!["sandal".to_string(), "clog".into(), "cat".into()];
        let tax = HashMap::from([
            ("sandal".to_string(), vec!["footwear".to_string()]),
            ("clog".to_string(), vec!["footwear".to_string()]),
        ]);
        let c = Classifier::new(cfg(3, 0.0, 0.2), labels.clone(), &tax).unwrap();
        let out = c.classify(&[2.0, 1.9, -5.0]);
        assert_eq!(
            out.labels.iter().map(|l| l.class_id).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(out.tags, vec!["footwear".to_string()]);
        // min_score drops the tail but keeps the top-1.
        let c = Classifier::new(cfg(3, 0.99, 0.2), labels.clone(), &tax).unwrap();
        assert_eq!(c.classify(&[0.0, 0.0, 0.0]).labels.len(), 1);
        // Unknown labels in the taxonomy are an error.
        let bad = HashMap::from([("sandals".to_string(), vec!["footwear".to_string()])]);
        assert!(Classifier::new(cfg(3, 0.0, 0.2), labels, &bad)
            .unwrap_err()
            .to_string()
            .contains("sandals"));
    }

    #[test]
    fn outputs_are_read_as_their_kind() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let c = Classifier::new(cfg(3, 0.0, 0.2), labels, &HashMap::new()).unwrap();
        let scores = |c: &Classifier, out: &[f32]| -> Vec<(String, f32)> {
            let labels = c.classify(out).labels.into_iter();
            labels
                .map(|l| (l.label, (l.score * 1e4).round() / 1e4))
                .collect()
        };
        let probs = [0.2, 0.7, 0.1];
        let read = c.clone().reading(ScoreKind::Probabilities);
        assert_eq!(
            scores(&read, &probs),
            [("b".into(), 0.7), ("a".into(), 0.2), ("c".into(), 0.1)]
        );
        let soft = scores(&c, &probs);
        assert_eq!(
            soft[0],
            ("b".into(), 0.464),
            "the default softmaxes: {soft:?}"
        );
        let multi = c.reading(ScoreKind::Sigmoid);
        let got = scores(&multi, &[2.0, 0.0, -2.0]);
        assert_eq!(
            got,
            [
                ("a".into(), 0.8808),
                ("b".into(), 0.5),
                ("c".into(), 0.1192)
            ]
        );
    }
}
