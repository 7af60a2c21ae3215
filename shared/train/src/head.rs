//! A trained head: standardisation, then a linear layer and a softmax over the catalog's
//! own classes.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::softmax::log_softmax;

/// A softmax head over standardised embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHead {
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// Per-feature mean subtracted before the linear layer.
    pub mean: Array1<f64>,
    /// Per-feature scale divided by after the mean (1 where a feature never varied).
    pub scale: Array1<f64>,
    /// `classes × dim`, on standardised features.
    pub weights: Array2<f64>,
    /// One intercept per class.
    pub bias: Array1<f64>,
}

/// The same layer on raw embeddings: standardisation folded into the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedLayer {
    /// `classes × dim`: `W / scale`.
    pub weights: Array2<f32>,
    /// `b − (W / scale) · mean`.
    pub bias: Array1<f32>,
}

impl LinearHead {
    /// Embedding length the head takes.
    pub fn dim(&self) -> usize {
        self.weights.ncols()
    }

    /// Class probabilities (`rows × classes`) of raw embeddings (`rows × dim`).
    pub fn probabilities(&self, embeddings: ArrayView2<'_, f64>) -> Array2<f64> {
        let x = self.standardise(embeddings);
        log_softmax(x.view(), self.weights.view(), self.bias.view()).mapv(f64::exp)
    }

    /// The most probable class of each row.
    pub fn predict(&self, embeddings: ArrayView2<'_, f64>) -> Vec<usize> {
        self.probabilities(embeddings)
            .axis_iter(Axis(0))
            .map(|row| argmax(row.iter().copied()))
            .collect()
    }

    /// `(x − mean) / scale`, row by row.
    pub fn standardise(&self, embeddings: ArrayView2<'_, f64>) -> Array2<f64> {
        (&embeddings - &self.mean) / &self.scale
    }

    /// The layer with standardisation folded in, in `f32` (what the ONNX graph stores).
    pub fn folded(&self) -> FoldedLayer {
        let weights = &self.weights / &self.scale;
        let bias = &self.bias - &weights.dot(&self.mean);
        FoldedLayer {
            weights: weights.mapv(|v| v as f32),
            bias: bias.mapv(|v| v as f32),
        }
    }
}

/// Mean and population standard deviation of each column, as scikit-learn's
/// `StandardScaler` (a column that never varies gets scale 1).
pub fn standard_scaler(x: ArrayView2<'_, f64>) -> (Array1<f64>, Array1<f64>) {
    let n = x.nrows().max(1) as f64;
    let mean = x.sum_axis(Axis(0)) / n;
    let var = (&x - &mean).mapv(|v| v * v).sum_axis(Axis(0)) / n;
    let scale = var.mapv(|v| if v > 0.0 { v.sqrt() } else { 1.0 });
    (mean, scale)
}

/// Index of the largest value (the first one on ties).
pub fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_scaler_is_population_std_and_constant_columns_get_scale_one() {
        let x = array![[1.0, 5.0], [3.0, 5.0]];
        let (mean, scale) = standard_scaler(x.view());
        assert_eq!(mean, array![2.0, 5.0]);
        assert_eq!(scale, array![1.0, 1.0]);
    }

    #[test]
    fn the_folded_layer_gives_the_same_probabilities() {
        let head = LinearHead {
            classes: vec!["a".into(), "b".into(), "c".into()],
            mean: array![1.0, -2.0],
            scale: array![2.0, 0.5],
            weights: array![[0.3, -1.0], [1.2, 0.4], [-0.7, 0.1]],
            bias: array![0.1, -0.2, 0.05],
        };
        let x = array![[0.5, 1.5], [-3.0, 2.0]];
        let p = head.probabilities(x.view());
        let f = head.folded();
        let xf = x.mapv(|v| v as f32);
        let mut z = xf.dot(&f.weights.t());
        z += &f.bias;
        for (i, row) in z.axis_iter(Axis(0)).enumerate() {
            let e: Vec<f32> = row.iter().map(|v| v.exp()).collect();
            let sum: f32 = e.iter().sum();
            for c in 0..3 {
                assert!((f64::from(e[c] / sum) - p[(i, c)]).abs() < 1e-6);
            }
        }
        assert_eq!(head.predict(x.view()).len(), 2);
    }
}
