//! Labelled examples, the deterministic validation split and class weights.

use std::collections::BTreeMap;

use ndarray::Array2;
use sha2::{Digest, Sha256};

use crate::TrainError;

/// One labelled image: its key, its class and the backbone's embedding of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Object key (the split hashes it).
    pub key: String,
    /// Class name from the labels.
    pub class: String,
    /// The backbone's embedding.
    pub embedding: Vec<f32>,
}

/// Examples as a matrix: one row per image, classes numbered in name order.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSet {
    /// Keys, one per row.
    pub keys: Vec<String>,
    /// Class names, sorted; a target is an index into this list.
    pub classes: Vec<String>,
    /// Class index of each row.
    pub targets: Vec<usize>,
    /// Embeddings, `rows × dim`.
    pub features: Array2<f64>,
}

impl LabelledSet {
    /// Builds the set; every embedding must have the same length and finite values, and
    /// there must be at least two classes.
    pub fn new(examples: Vec<Example>) -> Result<LabelledSet, TrainError> {
        let Some(first) = examples.first() else {
            return Err(TrainError::Empty(
                "no labelled rows with an embedding".into(),
            ));
        };
        let dim = first.embedding.len();
        let mut names: Vec<String> = examples.iter().map(|e| e.class.clone()).collect();
        names.sort();
        names.dedup();
        if names.len() < 2 {
            return Err(TrainError::SingleClass {
                found: names.len(),
                classes: names,
            });
        }
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut features = Array2::<f64>::zeros((examples.len(), dim));
        let mut targets = Vec::with_capacity(examples.len());
        for (row, e) in examples.iter().enumerate() {
            check_embedding(e, dim)?;
            for (j, v) in e.embedding.iter().enumerate() {
                features[(row, j)] = f64::from(*v);
            }
            targets.push(index[e.class.as_str()]);
        }
        Ok(LabelledSet {
            keys: examples.into_iter().map(|e| e.key).collect(),
            classes: names,
            targets,
            features,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.features.ncols()
    }

    /// Rows per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &t in &self.targets {
            counts[t] += 1;
        }
        counts
    }

    /// The rows at `rows`, with the same class list.
    pub fn subset(&self, rows: &[usize]) -> LabelledSet {
        LabelledSet {
            keys: rows.iter().map(|&r| self.keys[r].clone()).collect(),
            classes: self.classes.clone(),
            targets: rows.iter().map(|&r| self.targets[r]).collect(),
            features: self.features.select(ndarray::Axis(0), rows),
        }
    }
}

fn check_embedding(e: &Example, dim: usize) -> Result<(), TrainError> {
    let bad = |message: String| TrainError::BadEmbedding {
        key: e.key.clone(),
        message,
    };
    if e.embedding.len() != dim {
        return Err(bad(format!(
            "{} values where the first row has {dim}",
            e.embedding.len()
        )));
    }
    if dim == 0 {
        return Err(bad("empty embedding".into()));
    }
    if e.embedding.iter().any(|v| !v.is_finite()) {
        return Err(bad("non-finite value".into()));
    }
    Ok(())
}

/// Training and validation rows of a [`LabelledSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows to judge on (never fitted).
    pub validation: Vec<usize>,
}

impl Split {
    /// A row is a validation row when the hash of its key (see [`validation_unit`]) falls
    /// below `fraction`: the same key is on the same side in every retrain, so a champion
    /// and its challenger are judged on rows neither was fitted on. A class whose rows all
    /// fall on the validation side keeps its highest-hash row for training.
    pub fn by_key_hash(set: &LabelledSet, fraction: f64) -> Split {
        let mut split = Split {
            train: Vec::new(),
            validation: Vec::new(),
        };
        let mut by_class: Vec<Vec<(f64, usize)>> = vec![Vec::new(); set.classes.len()];
        for (row, key) in set.keys.iter().enumerate() {
            by_class[set.targets[row]].push((validation_unit(key), row));
        }
        for mut rows in by_class {
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let keep_one = rows.iter().all(|(u, _)| *u < fraction);
            for (i, (u, row)) in rows.iter().enumerate() {
                let last = i + 1 == rows.len();
                if *u < fraction && !(keep_one && last) {
                    split.validation.push(*row);
                } else {
                    split.train.push(*row);
                }
            }
        }
        split.train.sort_unstable();
        split.validation.sort_unstable();
        split
    }

    /// `k` cross-validation folds: fold `i` validates on the rows whose [`fold_of`] is `i`.
    pub fn folds(set: &LabelledSet, k: usize) -> Vec<Split> {
        (0..k)
            .map(|fold| {
                let (validation, train) =
                    (0..set.len()).partition(|&row| fold_of(&set.keys[row], k) == fold);
                Split { train, validation }
            })
            .collect()
    }
}

fn sha_u64(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Where a key falls in `[0, 1)` for the validation split: the first 8 bytes of
/// SHA-256(`"sightline-validation\0"` + key), big-endian, over 2^64.
pub fn validation_unit(key: &str) -> f64 {
    sha_u64(&[b"sightline-validation\0", key.as_bytes()]) as f64 / 2f64.powi(64)
}

/// The cross-validation fold of a key: the first 8 bytes of SHA-256(key), big-endian,
/// modulo `k` (scripts/head_cv.py computes the same folds).
pub fn fold_of(key: &str, k: usize) -> usize {
    (sha_u64(&[key.as_bytes()]) % k.max(1) as u64) as usize
}

/// Balanced class weights, as scikit-learn's `class_weight="balanced"`:
/// `n / (classes × count)` for each row's class.
pub fn class_weights(targets: &[usize], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; classes];
    for &t in targets {
        counts[t] += 1;
    }
    let n = targets.len() as f64;
    targets
        .iter()
        .map(|&t| n / (classes as f64 * counts[t] as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(key: &str, class: &str) -> Example {
        Example {
            key: key.into(),
            class: class.into(),
            embedding: vec![1.0, 2.0],
        }
    }

    #[test]
    fn classes_are_sorted_names_and_a_single_class_is_refused() {
        let set = LabelledSet::new(vec![example("a", "pear"), example("b", "apple")]).unwrap();
        assert_eq!(set.classes, ["apple", "pear"]);
        assert_eq!(set.targets, [1, 0]);
        let err = LabelledSet::new(vec![example("a", "pear"), example("b", "pear")]);
        assert!(matches!(err, Err(TrainError::SingleClass { found: 1, .. })));
        assert!(matches!(
            LabelledSet::new(vec![]),
            Err(TrainError::Empty(_))
        ));
    }

    #[test]
    fn ragged_or_non_finite_embeddings_are_refused() {
        let mut short = example("b", "apple");
        short.embedding.pop();
        let err = LabelledSet::new(vec![example("a", "pear"), short]).unwrap_err();
        assert!(err.to_string().contains("bad embedding for b"), "{err}");
        let mut nan = example("b", "apple");
        nan.embedding[0] = f32::NAN;
        assert!(LabelledSet::new(vec![example("a", "pear"), nan]).is_err());
    }

    #[test]
    fn the_split_is_stable_near_the_fraction_and_keeps_every_class_trainable() {
        let examples: Vec<Example> = (0..400)
            .map(|i| example(&format!("incoming/retail/{i}.jpg"), ["a", "b"][i % 2]))
            .chain([example("lonely.jpg", "c")])
            .collect();
        let set = LabelledSet::new(examples).unwrap();
        let split = Split::by_key_hash(&set, 0.2);
        assert_eq!(split, Split::by_key_hash(&set, 0.2));
        let share = split.validation.len() as f64 / set.len() as f64;
        assert!((0.14..0.26).contains(&share), "{share}");
        // The only row of class c is trained on, whatever its hash.
        let lonely = set.keys.iter().position(|k| k == "lonely.jpg").unwrap();
        assert!(split.train.contains(&lonely));
        let all = Split::by_key_hash(&set, 1.0);
        assert_eq!(all.train.len(), 3, "one row per class stays in training");
    }

    #[test]
    fn folds_partition_the_rows() {
        let examples: Vec<Example> = (0..50)
            .map(|i| example(&format!("{i}.jpg"), ["a", "b"][i % 2]))
            .collect();
        let set = LabelledSet::new(examples).unwrap();
        let folds = Split::folds(&set, 5);
        let mut seen: Vec<usize> = folds.iter().flat_map(|f| f.validation.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert!(folds
            .iter()
            .all(|f| f.train.len() + f.validation.len() == 50));
    }

    #[test]
    fn balanced_weights_match_sklearn() {
        // sklearn: n_samples / (n_classes * bincount(y)) = 4 / (2 * [3, 1]).
        assert_eq!(
            class_weights(&[0, 0, 0, 1], 2),
            [4.0 / 6.0, 4.0 / 6.0, 4.0 / 6.0, 2.0]
        );
    }
}
