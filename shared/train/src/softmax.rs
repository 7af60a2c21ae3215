//! Multinomial logistic regression with L2 and sample weights, fitted by argmin's L-BFGS.
//!
//! The objective is scikit-learn's (`LogisticRegression(C=c)` with `sample_weight`), divided
//! by the total weight `S` (which moves no minimum):
//!
//! `f(W, b) = (1/S) Σᵢ wᵢ · (logsumexp(zᵢ) − zᵢ,yᵢ) + ‖W‖² / (2 c S)`, with `zᵢ = W xᵢ + b`;
//! the intercepts `b` are not penalised. For two classes scikit-learn fits one weight vector
//! instead of two; its `C` is then twice ours for the same probabilities.

use std::cell::RefCell;

use argmin::core::{
    CostFunction, Error as ArgminError, Executor, Gradient, TerminationReason, TerminationStatus,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::TrainError;

/// How to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// Inverse L2 strength, as scikit-learn's `C`. Default: 1.0.
    pub c: f64,
    /// Most L-BFGS iterations. Default: 1000.
    pub max_iter: u64,
    /// Converged when the gradient's L2 norm falls below this. Default: 1e-4 (scikit-learn's
    /// `tol` bounds the largest gradient component by the same number, so this is as
    /// strict or stricter; parity tests converge to 1e-10).
    pub tol_grad: f64,
    /// Iterations between validation checks (and L-BFGS restarts of the executor, which
    /// keep the solver's curvature history). Default: 10.
    pub check_every: u64,
    /// With validation rows: stop after this many checks without a lower validation loss,
    /// keeping the best parameters seen. Default: 3.
    pub patience: u32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            c: 1.0,
            max_iter: 1000,
            tol_grad: 1e-4,
            check_every: 10,
            patience: 3,
        }
    }
}

/// Rows the fit is judged on while it runs (early stopping); never fitted.
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    /// Features, already standardised like the training rows.
    pub x: ArrayView2<'a, f64>,
    /// Class indices.
    pub y: &'a [usize],
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxFit {
    /// `classes × dim`.
    pub weights: Array2<f64>,
    /// One intercept per class.
    pub bias: Array1<f64>,
    /// L-BFGS iterations run.
    pub iterations: u64,
    /// Why it stopped: `converged`, `early_stopped` or `max_iter`.
    pub stop: &'static str,
    /// Mean cross-entropy on the validation rows at the kept parameters.
    pub validation_loss: Option<f64>,
}

/// Fits `classes`-way softmax regression on `x` (rows × dim) with targets `y` and
/// per-row weights `sample_weight`.
pub fn fit_softmax(
    x: ArrayView2<'_, f64>,
    y: &[usize],
    classes: usize,
    sample_weight: &[f64],
    options: &FitOptions,
    validation: Option<Validation<'_>>,
) -> Result<SoftmaxFit, TrainError> {
    check_inputs(x, y, classes, sample_weight, options)?;
    let dim = x.ncols();
    let mut theta = vec![0.0; classes * (dim + 1)];
    let mut solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(options.tol_grad)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(optimiser)?;
    let mut best = Best::new(&theta, validation, classes);
    let mut iterations = 0;
    let mut stop = "max_iter";
    while iterations < options.max_iter {
        let problem = Objective::new(x, y, classes, sample_weight, options.c);
        let step = options
            .check_every
            .max(1)
            .min(options.max_iter - iterations);
        let run = Executor::new(problem, solver)
            .configure(|s| s.param(theta.clone()).max_iters(step))
            .run();
        let mut result = match run {
            Ok(r) => r,
            // The line search gives up only when no step lowers the cost any more: the
            // parameters of the previous round are the optimum.
            Err(_) if iterations > 0 => {
                stop = "converged";
                break;
            }
            Err(e) => return Err(optimiser(e)),
        };
        iterations += result.state.iter;
        theta = result
            .state
            .take_best_param()
            .ok_or_else(|| TrainError::Optimiser("no parameters after a round".into()))?;
        let status = result.state.termination_status.clone();
        solver = result.solver;
        if best.observe(&theta, validation, classes) >= options.patience {
            stop = "early_stopped";
            break;
        }
        if !matches!(
            status,
            TerminationStatus::Terminated(TerminationReason::MaxItersReached)
        ) {
            stop = "converged";
            break;
        }
    }
    let kept = if validation.is_some() {
        &best.theta
    } else {
        &theta
    };
    let (weights, bias) = unpack(kept, classes, dim);
    Ok(SoftmaxFit {
        weights: weights.to_owned(),
        bias: bias.to_owned(),
        iterations,
        stop,
        validation_loss: validation.map(|_| best.loss),
    })
}

fn check_inputs(
    x: ArrayView2<'_, f64>,
    y: &[usize],
    classes: usize,
    sample_weight: &[f64],
    options: &FitOptions,
) -> Result<(), TrainError> {
    if x.nrows() == 0 {
        return Err(TrainError::Empty("no training rows".into()));
    }
    if y.len() != x.nrows() || sample_weight.len() != x.nrows() {
        return Err(TrainError::Config(format!(
            "{} rows, {} targets, {} weights",
            x.nrows(),
            y.len(),
            sample_weight.len()
        )));
    }
    if let Some(t) = y.iter().find(|&&t| t >= classes) {
        return Err(TrainError::Config(format!(
            "target {t} with {classes} classes"
        )));
    }
    if !(options.c > 0.0 && options.c.is_finite()) {
        return Err(TrainError::Config(format!(
            "C must be positive, got {}",
            options.c
        )));
    }
    Ok(())
}

fn optimiser(e: ArgminError) -> TrainError {
    TrainError::Optimiser(e.to_string())
}

/// The lowest validation loss seen, its parameters, and checks since it last improved.
struct Best {
    theta: Vec<f64>,
    loss: f64,
    stale: u32,
}

impl Best {
    fn new(theta: &[f64], validation: Option<Validation<'_>>, classes: usize) -> Best {
        let loss = validation.map_or(f64::INFINITY, |v| validation_loss(theta, v, classes));
        Best {
            theta: theta.to_vec(),
            loss,
            stale: 0,
        }
    }

    /// Records the parameters after a round; returns the checks without improvement.
    fn observe(
        &mut self,
        theta: &[f64],
        validation: Option<Validation<'_>>,
        classes: usize,
    ) -> u32 {
        let Some(v) = validation else {
            return 0;
        };
        let loss = validation_loss(theta, v, classes);
        if loss < self.loss - 1e-6 {
            self.theta = theta.to_vec();
            self.loss = loss;
            self.stale = 0;
        } else {
            self.stale += 1;
        }
        self.stale
    }
}

/// Mean cross-entropy of `theta` on the validation rows.
fn validation_loss(theta: &[f64], v: Validation<'_>, classes: usize) -> f64 {
    let (w, b) = unpack(theta, classes, v.x.ncols());
    let log_p = log_softmax(v.x, w, b);
    let total: f64 = v.y.iter().enumerate().map(|(i, &t)| -log_p[(i, t)]).sum();
    total / v.y.len().max(1) as f64
}

/// Splits the flat parameter vector into weights (`classes × dim`) and intercepts.
fn unpack(theta: &[f64], classes: usize, dim: usize) -> (ArrayView2<'_, f64>, ArrayView1<'_, f64>) {
    let (w, b) = theta.split_at(classes * dim);
    let w = ArrayView2::from_shape((classes, dim), w).unwrap_or_else(|_| unreachable!());
    (w, ArrayView1::from(b))
}

/// Row-wise log-softmax of `x Wᵀ + b`.
pub(crate) fn log_softmax(
    x: ArrayView2<'_, f64>,
    w: ArrayView2<'_, f64>,
    b: ArrayView1<'_, f64>,
) -> Array2<f64> {
    let mut z = x.dot(&w.t());
    z += &b;
    for mut row in z.axis_iter_mut(Axis(0)) {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        row -= lse;
    }
    z
}

/// The objective and its gradient; the last evaluation is cached because the line search
/// asks for the cost and the gradient at the same point.
struct Objective<'a> {
    x: ArrayView2<'a, f64>,
    y: &'a [usize],
    classes: usize,
    weight: &'a [f64],
    c: f64,
    total_weight: f64,
    last: RefCell<Option<Evaluation>>,
}

struct Evaluation {
    theta: Vec<f64>,
    cost: f64,
    gradient: Vec<f64>,
}

impl<'a> Objective<'a> {
    fn new(
        x: ArrayView2<'a, f64>,
        y: &'a [usize],
        classes: usize,
        weight: &'a [f64],
        c: f64,
    ) -> Objective<'a> {
        Objective {
            x,
            y,
            classes,
            weight,
            c,
            total_weight: weight.iter().sum(),
            last: RefCell::new(None),
        }
    }

    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some(e) = self.last.borrow().as_ref().filter(|e| e.theta == theta) {
            return (e.cost, e.gradient.clone());
        }
        let (cost, gradient) = self.compute(theta);
        *self.last.borrow_mut() = Some(Evaluation {
            theta: theta.to_vec(),
            cost,
            gradient: gradient.clone(),
        });
        (cost, gradient)
    }

    fn compute(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let (w, b) = unpack(theta, self.classes, self.x.ncols());
        let s = self.total_weight;
        // Residuals wᵢ (pᵢ − onehot(yᵢ)) / S, built in place from the log-probabilities.
        let mut r = log_softmax(self.x, w, b);
        let mut data_loss = 0.0;
        for (i, mut row) in r.axis_iter_mut(Axis(0)).enumerate() {
            let wi = self.weight[i] / s;
            data_loss -= wi * row[self.y[i]];
            row.mapv_inplace(|lp| wi * lp.exp());
            row[self.y[i]] -= wi;
        }
        let l2 = 1.0 / (self.c * s);
        let cost = data_loss + 0.5 * l2 * w.iter().map(|v| v * v).sum::<f64>();
        let mut grad_w = r.t().dot(&self.x);
        grad_w.scaled_add(l2, &w);
        let grad_b = r.sum_axis(Axis(0));
        let mut gradient = grad_w.into_raw_vec_and_offset().0;
        gradient.extend(grad_b.iter());
        (cost, gradient)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Vec<f64>) -> Result<f64, ArgminError> {
        Ok(self.evaluate(theta).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, ArgminError> {
        Ok(self.evaluate(theta).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated blobs in 2-D.
    fn blobs() -> (Array2<f64>, Vec<usize>) {
        let pts = [
            [-2.0, -1.0],
            [-1.5, -2.0],
            [-2.5, -1.5],
            [-1.0, -1.2],
            [2.0, 1.0],
            [1.5, 2.0],
            [2.5, 1.5],
            [1.0, 1.2],
            [-2.0, 2.0],
            [-1.5, 2.5],
            [-2.5, 1.5],
            [-1.2, 1.8],
        ];
        let x = Array2::from_shape_vec((12, 2), pts.iter().flatten().copied().collect()).unwrap();
        (x, vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let (x, y) = blobs();
        let w: Vec<f64> = (0..12).map(|i| 0.5 + i as f64 / 10.0).collect();
        let f = Objective::new(x.view(), &y, 3, &w, 0.7);
        let theta: Vec<f64> = (0..9).map(|i| (i as f64 * 0.37).sin()).collect();
        let (_, g) = f.compute(&theta);
        for j in 0..theta.len() {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[j] += 1e-6;
            down[j] -= 1e-6;
            let numeric = (f.compute(&up).0 - f.compute(&down).0) / 2e-6;
            assert!(
                (numeric - g[j]).abs() < 1e-7,
                "param {j}: {numeric} vs {}",
                g[j]
            );
        }
    }

    #[test]
    fn separable_blobs_are_learnt_and_the_fit_converges() {
        let (x, y) = blobs();
        let fit = fit_softmax(x.view(), &y, 3, &[1.0; 12], &FitOptions::default(), None).unwrap();
        assert_eq!(fit.stop, "converged");
        let log_p = log_softmax(x.view(), fit.weights.view(), fit.bias.view());
        for (i, row) in log_p.axis_iter(Axis(0)).enumerate() {
            let best = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(best, y[i]);
        }
    }

    #[test]
    fn early_stopping_keeps_the_best_validation_parameters() {
        let (x, y) = blobs();
        // Validation labels that disagree with training: the loss rises as the fit sharpens.
        let wrong = [1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0];
        let v = Validation {
            x: x.view(),
            y: &wrong,
        };
        let options = FitOptions {
            c: 100.0,
            check_every: 1,
            patience: 2,
            ..FitOptions::default()
        };
        let fit = fit_softmax(x.view(), &y, 3, &[1.0; 12], &options, Some(v)).unwrap();
        assert_eq!(fit.stop, "early_stopped");
        // The starting point (uniform, loss ln 3) was the best the wrong labels saw.
        assert!((fit.validation_loss.unwrap() - 3f64.ln()).abs() < 1e-12);
        assert!(fit.weights.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn bad_settings_are_errors() {
        let (x, y) = blobs();
        let bad_c = FitOptions {
            c: 0.0,
            ..FitOptions::default()
        };
        assert!(fit_softmax(x.view(), &y, 3, &[1.0; 12], &bad_c, None).is_err());
        assert!(fit_softmax(x.view(), &y, 2, &[1.0; 12], &FitOptions::default(), None).is_err());
    }
}
