//! From two windows of result rows (and ground truth, where it exists) to a [`Report`]:
//! pure computation, no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};
use sightline_core::ResultRow;
use sightline_quality::{
    best_f1_thresholds, embedding_displacement, embedding_mean_shift, evaluate_detections,
    expected_calibration_error, js_distance, ks_statistic, mmd_rbf, precision_recall_f1, psi,
    psi_categorical, roc_auc_ovr, wasserstein_normed, ConfusionMatrix, DriftMethod, DriftStatus,
    LabeledBox, Predictions, Thresholds, DEFAULT_ECE_BINS,
};

use crate::labels::{normalise_name, ClassRef, GroundTruth};
use crate::summary::{
    ApRow, ClassRow, ClassificationSummary, Confusion, DetectionSummary, DriftCheck, FloorCheck,
    Histogram, Prf, ReliabilityBin, Report, WindowSummary,
};
use crate::versions::version_rows;
use crate::window::Window;
use crate::ReportError;

/// What a report checks, with documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// Catalog to report on.
    pub catalog: String,
    /// The report's date: relative windows count from it; its tables go under it.
    pub as_of: NaiveDate,
    /// Reference window (see [`crate::window`]). Default: [`crate::window::DEFAULT_REFERENCE`].
    pub reference: String,
    /// Current window. Default: [`crate::window::DEFAULT_CURRENT`].
    pub current: String,
    /// The key prefix uploads arrive under (`incoming/`), to join labels by relative key.
    pub incoming_prefix: String,
    /// Top-1 accuracy below this requests retraining. Default: 0.7.
    pub accuracy_floor: Option<f64>,
    /// Macro F1 below this requests retraining. Default: none.
    pub macro_f1_floor: Option<f64>,
    /// Detector mAP@0.5:0.95 below this requests retraining. Default: 0.2.
    pub map_floor: Option<f64>,
    /// Most PSI bins (fewer for small windows, see [`psi_bins_for`]). Default: 10.
    pub psi_bins: usize,
    /// Label permutations behind each test's noise floor (see [`noise_floor`]). Default: 40.
    pub permutations: usize,
    /// Drift tests use at most this many rows per window, evenly spaced. Default: 5000.
    pub max_drift_rows: usize,
}

impl ReportConfig {
    /// The defaults for `catalog` on `as_of`.
    pub fn new(catalog: &str, as_of: NaiveDate) -> ReportConfig {
        ReportConfig {
            catalog: catalog.to_string(),
            as_of,
            reference: crate::window::DEFAULT_REFERENCE.to_string(),
            current: crate::window::DEFAULT_CURRENT.to_string(),
            incoming_prefix: "incoming/".to_string(),
            accuracy_floor: Some(0.7),
            macro_f1_floor: None,
            map_floor: Some(0.2),
            psi_bins: sightline_quality::DEFAULT_PSI_BINS,
            permutations: 40,
            max_drift_rows: 5000,
        }
    }
}

/// PSI bins for windows of `n_ref` and `n_cur` values: at most `max_bins`, and about one
/// bin per 20 values of the smaller window (at least 2), so that sampling noise alone
/// (expected PSI ≈ (bins − 1)(1/n_ref + 1/n_cur)) stays well below the 0.1 warn level.
pub fn psi_bins_for(n_ref: usize, n_cur: usize, max_bins: usize) -> usize {
    (n_ref.min(n_cur) / 20).clamp(2, max_bins.max(2))
}

/// A deterministic xorshift generator for permutations (no external RNG, same report for
/// the same rows).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The largest value of `stat` over `permutations` random re-splits of the pooled sample
/// into windows of the original sizes: what the statistic reaches with no drift at all.
/// A test warns (alerts) only when its value reaches both the effect-size threshold and
/// this floor, i.e. it is also significant at p < 1/(permutations + 1) — without that, a
/// 0.1 effect-size level would fire on sampling noise alone in small windows.
pub fn noise_floor<T: Clone>(
    reference: &[T],
    current: &[T],
    permutations: usize,
    stat: impl Fn(&[T], &[T]) -> Option<f64>,
) -> f64 {
    let mut pooled: Vec<T> = reference.iter().chain(current).cloned().collect();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut worst = 0f64;
    for _ in 0..permutations {
        for i in (1..pooled.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            pooled.swap(i, j);
        }
        let (a, b) = pooled.split_at(reference.len());
        if let Some(v) = stat(a, b) {
            worst = worst.max(v);
        }
    }
    worst
}

fn check(
    feature: &str,
    method: DriftMethod,
    value: f64,
    floor: f64,
    n: (usize, usize),
) -> DriftCheck {
    let d = method.default_thresholds();
    let thresholds = Thresholds {
        warn: d.warn.max(floor),
        alert: d.alert.max(floor),
    };
    DriftCheck {
        feature: feature.to_string(),
        method,
        value,
        status: thresholds.status(value),
        thresholds,
        n_reference: n.0,
        n_current: n.1,
    }
}

/// A drift statistic over two windows (`None` when undefined for them).
type Stat<'a, T> = &'a dyn Fn(&[T], &[T]) -> Option<f64>;

/// Numeric drift tests (PSI, KS, normed Wasserstein) of one feature.
fn numeric_checks(
    feature: &str,
    r: &[f64],
    c: &[f64],
    cfg: &ReportConfig,
    out: &mut Vec<DriftCheck>,
) {
    if r.is_empty() || c.is_empty() {
        return;
    }
    let n = (r.len(), c.len());
    let bins = psi_bins_for(r.len(), c.len(), cfg.psi_bins);
    let tests: [(DriftMethod, Stat<f64>); 3] = [
        (DriftMethod::Psi, &|a, b| psi(a, b, bins).ok()),
        (DriftMethod::KolmogorovSmirnov, &|a, b| {
            ks_statistic(a, b).ok()
        }),
        (DriftMethod::Wasserstein, &|a, b| {
            wasserstein_normed(a, b).ok()
        }),
    ];
    for (method, f) in tests {
        if let Some(v) = f(r, c) {
            let floor = noise_floor(r, c, cfg.permutations, f);
            out.push(check(feature, method, v, floor, n));
        }
    }
}

/// Categorical drift tests (PSI, Jensen–Shannon distance) of one feature.
fn categorical_checks(
    feature: &str,
    r: &[String],
    c: &[String],
    cfg: &ReportConfig,
    out: &mut Vec<DriftCheck>,
) {
    if r.is_empty() || c.is_empty() {
        return;
    }
    let n = (r.len(), c.len());
    let tests: [(DriftMethod, Stat<String>); 2] = [
        (DriftMethod::Psi, &|a, b| psi_categorical(a, b).ok()),
        (DriftMethod::JensenShannon, &|a, b| js_distance(a, b).ok()),
    ];
    for (method, f) in tests {
        if let Some(v) = f(r, c) {
            let floor = noise_floor(r, c, cfg.permutations, f);
            out.push(check(feature, method, v, floor, n));
        }
    }
}

/// Shared equal-width bins over both windows, as fractions of each.
fn histogram(feature: &str, r: &[f64], c: &[f64], bins: usize) -> Option<Histogram> {
    if r.is_empty() || c.is_empty() {
        return None;
    }
    let all = r.iter().chain(c);
    let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let frac = |v: &[f64]| {
        let mut h = vec![0f64; bins];
        for x in v {
            let i = (((x - lo) / width) as usize).min(bins - 1);
            h[i] += 1.0 / v.len() as f64;
        }
        h
    };
    Some(Histogram {
        feature: feature.to_string(),
        edges: (0..=bins).map(|i| lo + width * i as f64).collect(),
        reference: frac(r),
        current: frac(c),
    })
}

/// The numeric features of the results table that drift is measured on.
const NUMERIC_FEATURES: [&str; 7] = [
    "top1_confidence",
    "brightness",
    "contrast",
    "aspect",
    "width",
    "height",
    "detections",
];

fn feature_values(rows: &[&ResultRow], feature: &str, detects: bool) -> Vec<f64> {
    rows.iter()
        .filter_map(|r| {
            let s = r.stats;
            match feature {
                "top1_confidence" => r.labels.first().map(|l| l.score as f64),
                "brightness" => s.map(|s| s.brightness as f64),
                "contrast" => s.map(|s| s.contrast as f64),
                "aspect" => s.map(|s| s.aspect as f64),
                "width" => r.width.map(f64::from),
                "height" => r.height.map(f64::from),
                "detections" if detects => Some(r.detections.len() as f64),
                _ => None,
            }
        })
        .collect()
}

/// At most `max` rows, evenly spaced (every row when there are fewer): drift tests on a
/// deterministic sample keep time and memory flat on large windows.
fn thin(rows: &[ResultRow], max: usize) -> Vec<&ResultRow> {
    let max = max.max(1);
    if rows.len() <= max {
        return rows.iter().collect();
    }
    (0..max).map(|i| &rows[i * rows.len() / max]).collect()
}

/// Fewest images both windows must share before the paired embedding test runs.
pub const MIN_PAIRS: usize = 10;

/// Every drift test between the analysed rows of two windows. `identity` names the
/// image a row shows (see [`Window::identity`]); images present in both windows are
/// compared pairwise by [`embedding_displacement`].
pub fn drift_checks(
    reference: &[ResultRow],
    current: &[ResultRow],
    cfg: &ReportConfig,
    identity: (&Window, &Window),
) -> (Vec<DriftCheck>, Vec<Histogram>) {
    let mut out = Vec::new();
    let mut hists = Vec::new();
    let (reference, current) = (
        thin(reference, cfg.max_drift_rows),
        thin(current, cfg.max_drift_rows),
    );
    let outcome = |rows: &[&ResultRow]| -> Vec<String> {
        rows.iter()
            .map(|r| r.error_kind.map_or("ok", |k| k.as_str()).to_string())
            .collect()
    };
    categorical_checks(
        "outcome",
        &outcome(&reference),
        &outcome(&current),
        cfg,
        &mut out,
    );
    fn ok<'a>(rows: &[&'a ResultRow]) -> Vec<&'a ResultRow> {
        rows.iter()
            .copied()
            .filter(|r| r.error_kind.is_none())
            .collect()
    }
    let (r, c) = (ok(&reference), ok(&current));
    let top1 = |rows: &[&ResultRow]| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r.labels.first().map(|l| l.label.clone()))
            .collect()
    };
    categorical_checks("top1_class", &top1(&r), &top1(&c), cfg, &mut out);
    let detects = r.iter().chain(&c).any(|x| !x.detections.is_empty());
    for f in NUMERIC_FEATURES {
        let (a, b) = (
            feature_values(&r, f, detects),
            feature_values(&c, f, detects),
        );
        numeric_checks(f, &a, &b, cfg, &mut out);
        if ["top1_confidence", "brightness", "contrast"].contains(&f) {
            hists.extend(histogram(f, &a, &b, 20));
        }
    }
    embedding_checks(&r, &c, cfg, &mut out);
    displacement_check(&r, &c, cfg, identity, &mut out);
    (out, hists)
}

/// Embedding drift between the windows: mean shift (with its noise floor) and MMD.
fn embedding_checks(
    r: &[&ResultRow],
    c: &[&ResultRow],
    cfg: &ReportConfig,
    out: &mut Vec<DriftCheck>,
) {
    fn emb<'a>(rows: &[&'a ResultRow]) -> Vec<&'a [f32]> {
        rows.iter().filter_map(|r| r.embedding.as_deref()).collect()
    }
    let (a, b) = (emb(r), emb(c));
    if a.is_empty() || b.is_empty() {
        return;
    }
    let n = (a.len(), b.len());
    let shift = |x: &[&[f32]], y: &[&[f32]]| embedding_mean_shift(x, y).ok();
    if let Some(v) = shift(&a, &b) {
        let floor = noise_floor(&a, &b, cfg.permutations, shift);
        out.push(check("embedding", DriftMethod::MeanShift, v, floor, n));
    }
    if let Ok(v) = mmd_rbf(&a, &b) {
        // The permutation floor of MMD would cost a kernel matrix per permutation;
        // its no-drift level, ≈ 0.4 (1/n + 1/m), stays below the 0.02 warn level for
        // windows of more than 40 images each (0.008 at 100 + 100).
        out.push(check("embedding", DriftMethod::Mmd, v, 0.0, n));
    }
}

/// The same images in both windows: how far each one's embedding moved.
fn displacement_check(
    r: &[&ResultRow],
    c: &[&ResultRow],
    cfg: &ReportConfig,
    identity: (&Window, &Window),
    out: &mut Vec<DriftCheck>,
) {
    let inc = cfg.incoming_prefix.as_str();
    let current_by_id: HashMap<&str, &[f32]> = c
        .iter()
        .filter_map(|x| Some((identity.1.identity(x, inc), x.embedding.as_deref()?)))
        .collect();
    let (mut pr, mut pc): (Vec<&[f32]>, Vec<&[f32]>) = (Vec::new(), Vec::new());
    for x in r {
        let Some(e) = x.embedding.as_deref() else {
            continue;
        };
        if let Some(y) = current_by_id.get(identity.0.identity(x, inc)) {
            pr.push(e);
            pc.push(*y);
        }
    }
    if pr.len() < MIN_PAIRS {
        return;
    }
    if let Ok(v) = embedding_displacement(&pr, &pc) {
        let n = (pr.len(), pc.len());
        let name = "embedding (same images)";
        out.push(check(name, DriftMethod::Displacement, v, 0.0, n));
    }
}

/// Class ids and names across both windows' stored labels.
struct ClassNames {
    by_id: BTreeMap<i32, String>,
    by_name: HashMap<String, i32>,
}

impl ClassNames {
    fn from_rows<'a>(pairs: impl Iterator<Item = (i32, &'a str)>) -> ClassNames {
        let mut by_id = BTreeMap::new();
        let mut by_name = HashMap::new();
        for (id, name) in pairs {
            by_id.entry(id).or_insert_with(|| name.to_string());
            by_name.entry(normalise_name(name)).or_insert(id);
        }
        ClassNames { by_id, by_name }
    }

    /// The id of a labelled class; names the model never output get fresh negative ids.
    fn resolve(&mut self, c: &ClassRef) -> i32 {
        match c {
            ClassRef::Index(i) => *i,
            ClassRef::Name(n) => {
                let key = normalise_name(n);
                if let Some(&id) = self.by_name.get(&key) {
                    return id;
                }
                let id = -1 - self.by_name.values().filter(|&&v| v < 0).count() as i32;
                self.by_name.insert(key, id);
                self.by_id.insert(id, n.clone());
                id
            }
        }
    }

    fn name(&self, id: i32) -> String {
        self.by_id
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("class {id}"))
    }
}

/// Classification metrics of the labelled, analysed rows.
/// (true class, row) for every row with a prediction and ground truth.
fn labelled_pairs<'a>(
    rows: &[&'a ResultRow],
    truth: &GroundTruth,
    cfg: &ReportConfig,
    names: &mut ClassNames,
) -> Vec<(i32, &'a ResultRow)> {
    let mut pairs = Vec::new();
    for r in rows {
        let class = truth.class_of(&r.key, &cfg.catalog, &cfg.incoming_prefix);
        if let (Some(c), Some(_)) = (class, r.labels.first()) {
            pairs.push((names.resolve(c), *r));
        }
    }
    pairs
}

fn classification(
    rows: &[&ResultRow],
    truth: &GroundTruth,
    cfg: &ReportConfig,
    names: &mut ClassNames,
) -> Result<Option<ClassificationSummary>, ReportError> {
    let pairs = labelled_pairs(rows, truth, cfg, names);
    if pairs.is_empty() {
        return Ok(None);
    }
    let classes: Vec<i32> = pairs
        .iter()
        .flat_map(|(t, r)| [*t, r.labels[0].class_id])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index: HashMap<i32, usize> = classes.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let m = classes.len();
    let y_true: Vec<usize> = pairs.iter().map(|(t, _)| index[t]).collect();
    let y_pred: Vec<usize> = pairs
        .iter()
        .map(|(_, r)| index[&r.labels[0].class_id])
        .collect();
    // Scores: the stored top-k probabilities; classes outside a row's top-k count as 0.
    let mut scores = vec![0f32; pairs.len() * m];
    for (i, (_, r)) in pairs.iter().enumerate() {
        for l in &r.labels {
            if let Some(&j) = index.get(&l.class_id) {
                scores[i * m + j] = l.score.clamp(0.0, 1.0);
            }
        }
    }
    let p = Predictions::new(&y_true, &y_pred, m)?.with_scores(&scores)?;
    let cm = ConfusionMatrix::from_predictions(&p);
    let prf = precision_recall_f1(&cm);
    let roc = roc_auc_ovr(&p)?;
    let cal = expected_calibration_error(&p, DEFAULT_ECE_BINS)?;
    let best = best_f1_thresholds(&p)?;
    let top5 = top5_accuracy(&pairs);
    let prf_of = |c: &sightline_quality::ClassMetrics| Prf {
        precision: c.precision,
        recall: c.recall,
        f1: c.f1,
    };
    let mut per_class: Vec<ClassRow> = classes
        .iter()
        .enumerate()
        .map(|(i, &id)| ClassRow {
            class_id: id,
            label: names.name(id),
            prf: prf_of(&prf.per_class[i]),
            support: cm.support(i) as usize,
            best_threshold: best[i].map(|b| b.threshold as f64),
            best_f1: best[i].map(|b| b.f1),
        })
        .collect();
    per_class.sort_by(|a, b| (b.support, &a.label).cmp(&(a.support, &b.label)));
    let confusion = shown_confusion(&cm, &classes, names);
    Ok(Some(ClassificationSummary {
        samples: pairs.len(),
        classes: m,
        accuracy: sightline_quality::accuracy(&p),
        top5_accuracy: top5,
        macro_avg: prf_of(&prf.macro_avg),
        micro_avg: prf_of(&prf.micro_avg),
        weighted_avg: prf_of(&prf.weighted_avg),
        roc_auc_macro: roc.macro_over_defined(),
        ece: cal.ece,
        per_class,
        confusion,
        reliability: cal.bins.iter().map(ReliabilityBin::from).collect(),
    }))
}

impl From<&sightline_quality::CalibrationBin> for ReliabilityBin {
    fn from(b: &sightline_quality::CalibrationBin) -> Self {
        ReliabilityBin {
            lower: b.lower,
            upper: b.upper,
            count: b.count,
            confidence: b.confidence,
            accuracy: b.accuracy,
        }
    }
}

/// Top-5 accuracy when every row stored at least 5 labels.
fn top5_accuracy(pairs: &[(i32, &ResultRow)]) -> Option<f64> {
    pairs.iter().all(|(_, r)| r.labels.len() >= 5).then(|| {
        pairs
            .iter()
            .filter(|(t, r)| r.labels.iter().take(5).any(|l| l.class_id == *t))
            .count() as f64
            / pairs.len() as f64
    })
}

/// The confusion matrix shown: the classes most involved (support + errors), at most 20,
/// by name.
fn shown_confusion(cm: &ConfusionMatrix, classes: &[i32], names: &ClassNames) -> Confusion {
    let m = classes.len();
    let mut involvement: Vec<(u64, usize)> = (0..m)
        .map(|i| (cm.support(i) + cm.predicted(i) - cm.true_positives(i), i))
        .collect();
    involvement.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut shown: Vec<usize> = involvement.iter().take(20).map(|x| x.1).collect();
    shown.sort_by_key(|&i| names.name(classes[i]));
    Confusion {
        labels: shown.iter().map(|&i| names.name(classes[i])).collect(),
        matrix: shown
            .iter()
            .map(|&t| shown.iter().map(|&q| cm.get(t, q)).collect())
            .collect(),
        total_classes: m,
    }
}

/// COCO-style detection metrics of the rows that have ground-truth boxes.
fn detection(
    rows: &[&ResultRow],
    truth: &GroundTruth,
    cfg: &ReportConfig,
) -> Option<DetectionSummary> {
    let mut names = ClassNames::from_rows(
        rows.iter()
            .flat_map(|r| r.detections.iter().map(|d| (d.class_id, d.label.as_str()))),
    );
    let (mut gt, mut dets) = (Vec::new(), Vec::new());
    let mut images = 0;
    for (image, r) in rows.iter().enumerate() {
        let Some(boxes) = truth.boxes_of(&r.key, &cfg.catalog, &cfg.incoming_prefix) else {
            continue;
        };
        let (Some(w), Some(h)) = (r.width, r.height) else {
            continue;
        };
        images += 1;
        for b in boxes {
            let s = if b.relative {
                [w as f64, h as f64]
            } else {
                [1.0, 1.0]
            };
            gt.push(LabeledBox {
                image: image as u64,
                class_id: names.resolve(&b.class),
                bbox: [
                    b.bbox[0] * s[0],
                    b.bbox[1] * s[1],
                    b.bbox[2] * s[0],
                    b.bbox[3] * s[1],
                ],
                score: 1.0,
            });
        }
        dets.extend(
            r.detections
                .iter()
                .map(|d| LabeledBox::from_detection(image as u64, d)),
        );
    }
    if images == 0 {
        return None;
    }
    let m = evaluate_detections(&gt, &dets);
    let mut per_class: Vec<ApRow> = m
        .per_class
        .iter()
        .map(|(id, ap)| ApRow {
            label: names.name(*id),
            ap: *ap,
            ground_truth: m.support.get(id).copied().unwrap_or(0),
        })
        .collect();
    per_class.sort_by(|a, b| {
        b.ground_truth
            .cmp(&a.ground_truth)
            .then(a.label.cmp(&b.label))
    });
    Some(DetectionSummary {
        images,
        map: m.map,
        map50: m.map50,
        per_class,
    })
}

fn window_summary(spec: &str, rows: &[ResultRow], labelled: usize) -> WindowSummary {
    WindowSummary {
        spec: spec.to_string(),
        rows: rows.len(),
        errors: rows.iter().filter(|r| r.error_kind.is_some()).count(),
        labelled,
        first_date: rows.iter().map(|r| r.date).min(),
        last_date: rows.iter().map(|r| r.date).max(),
    }
}

/// The most frequent value of `f` over `rows` ("" when empty).
fn most_common(rows: &[ResultRow], f: impl Fn(&ResultRow) -> &str) -> String {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| !f(r).is_empty()) {
        *count.entry(f(r)).or_default() += 1;
    }
    count
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(v, _)| v.to_string())
        .unwrap_or_default()
}

/// Drift between the windows, or a note saying why it was skipped.
fn window_drift(
    cfg: &ReportConfig,
    reference: &[ResultRow],
    current: &[ResultRow],
    notes: &mut Vec<String>,
) -> Result<(Vec<DriftCheck>, Vec<Histogram>), ReportError> {
    if reference.is_empty() || current.is_empty() {
        let empty = if reference.is_empty() {
            "reference"
        } else {
            "current"
        };
        notes.push(format!("drift skipped: the {empty} window has no rows"));
        return Ok((Vec::new(), Vec::new()));
    }
    let reference_window = Window::parse(&cfg.reference, cfg.as_of)?;
    let current_window = Window::parse(&cfg.current, cfg.as_of)?;
    let windows = (&reference_window, &current_window);
    Ok(drift_checks(reference, current, cfg, windows))
}

/// Analysed rows of `rows` that have ground truth.
fn labelled_rows(rows: &[ResultRow], truth: &GroundTruth, cfg: &ReportConfig) -> usize {
    rows.iter()
        .filter(|r| {
            r.error_kind.is_none()
                && truth
                    .class_of(&r.key, &cfg.catalog, &cfg.incoming_prefix)
                    .is_some()
        })
        .count()
}

/// The configured floors that have a value to check.
fn floor_checks(
    cfg: &ReportConfig,
    classification: Option<&ClassificationSummary>,
    detection: Option<&DetectionSummary>,
) -> Vec<FloorCheck> {
    let checks = [
        (
            "accuracy",
            classification.map(|c| c.accuracy),
            cfg.accuracy_floor,
        ),
        (
            "macro_f1",
            classification.map(|c| c.macro_avg.f1),
            cfg.macro_f1_floor,
        ),
        ("map", detection.map(|d| d.map), cfg.map_floor),
    ];
    checks
        .into_iter()
        .filter_map(|(metric, value, floor)| {
            let (value, floor) = (value?, floor?);
            Some(FloorCheck {
                metric: metric.to_string(),
                value,
                floor,
                passed: value >= floor,
            })
        })
        .collect()
}

/// Computes the report for two windows (rows already selected, one per image).
pub fn compute(
    cfg: &ReportConfig,
    reference: &[ResultRow],
    current: &[ResultRow],
    truth: &GroundTruth,
) -> Result<Report, ReportError> {
    let mut notes = Vec::new();
    let analysed: Vec<&ResultRow> = current.iter().filter(|r| r.error_kind.is_none()).collect();
    let mut names = ClassNames::from_rows(
        reference
            .iter()
            .chain(current)
            .flat_map(|r| r.labels.iter().map(|l| (l.class_id, l.label.as_str()))),
    );
    for (id, name) in &truth.names {
        names.by_id.entry(*id).or_insert_with(|| name.clone());
    }
    let classification = classification(&analysed, truth, cfg, &mut names)?;
    let detection = detection(&analysed, truth, cfg);
    if truth.is_empty() {
        notes.push(format!(
            "no ground truth under labels/{}/: metrics are skipped, drift is label-free",
            cfg.catalog
        ));
    } else if classification.is_none() && detection.is_none() {
        notes
            .push("ground truth exists but matches no analysed image of the current window".into());
    }
    let (drift, histograms) = window_drift(cfg, reference, current, &mut notes)?;
    let floors = floor_checks(cfg, classification.as_ref(), detection.as_ref());
    let failed_floors = floors
        .iter()
        .filter(|f| !f.passed)
        .map(|_| DriftStatus::Alert);
    let status = drift
        .iter()
        .map(|d| d.status)
        .chain(failed_floors)
        .max()
        .unwrap_or(DriftStatus::Ok);
    let labelled = classification.as_ref().map_or(0, |c| c.samples);
    let base = if current.is_empty() {
        reference
    } else {
        current
    };
    Ok(Report {
        catalog: cfg.catalog.clone(),
        generated_at: Utc::now(),
        date: cfg.as_of,
        model: most_common(base, |r| &r.model),
        model_version: most_common(base, |r| &r.model_version),
        reference: window_summary(
            &cfg.reference,
            reference,
            labelled_rows(reference, truth, cfg),
        ),
        current: window_summary(&cfg.current, current, labelled),
        classification,
        detection,
        drift,
        histograms,
        floors,
        status,
        retrain: None,
        versions: [("reference", reference), ("current", current)]
            .into_iter()
            .flat_map(|(w, rows)| version_rows(w, rows, truth, &cfg.catalog, &cfg.incoming_prefix))
            .collect(),
        notes,
    })
}

/// Why a report asks for retraining: failed floors and alerting drift tests, one line each.
pub fn retrain_reasons(report: &Report) -> Vec<String> {
    let floors = report.floors.iter().filter(|f| !f.passed).map(|f| {
        format!(
            "{} {:.4} is below the floor {:.4}",
            f.metric, f.value, f.floor
        )
    });
    let drift = report
        .drift
        .iter()
        .filter(|d| d.status == DriftStatus::Alert)
        .map(|d| {
            format!(
                "{} drift: {} = {:.4} reached alert ({:.4})",
                d.feature, d.method, d.value, d.thresholds.alert
            )
        });
    floors.chain(drift).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::{ImageStats, Label, StageTimings};

    /// A deterministic pseudo-normal value (sum of uniforms) for sample `i` of `seed`.
    fn noise(seed: u64, i: usize) -> f64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9) ^ ((i as u64 + 1) * 0x85EB_CA6B));
        (0..12)
            .map(|_| (rng.next() % 10_000) as f64 / 10_000.0)
            .sum::<f64>()
            - 6.0
    }

    fn row(key: &str, class: i32, brightness: f64) -> ResultRow {
        ResultRow {
            catalog: "c".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            bucket: "b".into(),
            key: format!("incoming/c/{key}"),
            etag: String::new(),
            size_bytes: 1,
            model: "m".into(),
            model_version: "1".into(),
            execution_provider: "cpu".into(),
            processed_at: Utc::now(),
            width: Some(640),
            height: Some(480),
            stats: Some(ImageStats {
                aspect: 4.0 / 3.0,
                brightness: brightness as f32,
                contrast: 50.0,
            }),
            labels: vec![Label {
                class_id: class,
                label: format!("class{class}"),
                score: 0.8,
            }],
            tags: vec![],
            detections: vec![],
            embedding: None,
            redacted_key: None,
            redaction_skipped: None,
            faces_redacted: None,
            error_kind: None,
            error: None,
            timings: StageTimings::default(),
        }
    }

    fn window(prefix: &str, seed: u64, n: usize, shift: f64) -> Vec<ResultRow> {
        (0..n)
            .map(|i| {
                row(
                    &format!("{prefix}{i}.jpg"),
                    (i % 3) as i32,
                    120.0 + 20.0 * (noise(seed, i) + shift),
                )
            })
            .collect()
    }

    fn cfg() -> ReportConfig {
        ReportConfig {
            reference: "prefix=a/".into(),
            current: "prefix=b/".into(),
            ..ReportConfig::new("c", NaiveDate::from_ymd_opt(2026, 11, 27).unwrap())
        }
    }

    fn statuses(report: &Report, feature: &str) -> Vec<DriftStatus> {
        report
            .drift
            .iter()
            .filter(|d| d.feature == feature)
            .map(|d| d.status)
            .collect()
    }

    #[test]
    fn small_windows_from_one_distribution_stay_ok_and_a_shift_alerts() {
        let reference = window("a/", 1, 40, 0.0);
        let truth = GroundTruth::default();
        // 40 fresh draws of the same distribution: effect sizes reach the bare 0.1 levels
        // on noise alone, the permutation floor keeps them at ok.
        let same = compute(&cfg(), &reference, &window("b/", 2, 40, 0.0), &truth).unwrap();
        let raw_ks = same
            .drift
            .iter()
            .find(|d| d.feature == "brightness" && d.method == DriftMethod::KolmogorovSmirnov)
            .unwrap();
        assert!(
            raw_ks.thresholds.warn > 0.1,
            "the floor raised the level: {raw_ks:?}"
        );
        // …where the bare effect-size levels would have flagged noise.
        let bare = same
            .drift
            .iter()
            .filter(|d| d.feature == "brightness")
            .filter(|d| d.value >= d.method.default_thresholds().warn)
            .count();
        assert!(bare >= 1, "{:?}", same.drift);
        assert_eq!(
            statuses(&same, "brightness"),
            vec![DriftStatus::Ok; 3],
            "{:?}",
            same.drift
        );
        assert_eq!(same.status, DriftStatus::Ok);
        assert!(same.notes.iter().any(|n| n.contains("no ground truth")));
        // One standard deviation brighter: every brightness test alerts.
        let shifted = compute(&cfg(), &reference, &window("b/", 2, 40, 1.0), &truth).unwrap();
        assert_eq!(
            statuses(&shifted, "brightness"),
            vec![DriftStatus::Alert; 3],
            "{:?}",
            shifted.drift
        );
        assert_eq!(shifted.status, DriftStatus::Alert);
        assert!(retrain_reasons(&shifted)
            .iter()
            .any(|r| r.starts_with("brightness drift")));
        // Identical windows: every test exactly 0.
        let identical = compute(&cfg(), &reference, &reference, &truth).unwrap();
        assert!(identical
            .drift
            .iter()
            .all(|d| d.value == 0.0 && d.status == DriftStatus::Ok));
    }

    #[test]
    fn a_metric_below_its_floor_alerts_and_asks_for_retraining() {
        let reference = window("a/", 1, 30, 0.0);
        let current = window("b/", 1, 30, 0.0);
        let mut truth = GroundTruth::default();
        // Labels agree with the prediction for one image in three: accuracy 1/3 < 0.7.
        for (i, r) in current.iter().enumerate() {
            let file = r.key.rsplit('/').next().unwrap().to_string();
            let class = if i % 3 == 0 { r.labels[0].class_id } else { 99 };
            truth.classes.insert(file, ClassRef::Index(class));
        }
        let report = compute(&cfg(), &reference, &current, &truth).unwrap();
        let c = report.classification.as_ref().unwrap();
        assert_eq!(c.samples, 30);
        assert!((c.accuracy - 1.0 / 3.0).abs() < 1e-12, "{}", c.accuracy);
        assert_eq!(report.floors[0].metric, "accuracy");
        assert!(!report.floors[0].passed);
        assert_eq!(report.status, DriftStatus::Alert);
        let reasons = retrain_reasons(&report);
        assert!(
            reasons[0].starts_with("accuracy 0.3333 is below the floor 0.7"),
            "{reasons:?}"
        );
        // The class only the labels know is named, not dropped.
        assert!(c
            .per_class
            .iter()
            .any(|k| k.class_id == 99 && k.support == 20));
    }

    #[test]
    fn detections_are_scored_against_yolo_boxes_and_faces_are_not_people() {
        use crate::labels::TruthBox;
        use sightline_core::Detection;
        let det = |class_id: i32, label: &str, b: [f32; 4]| Detection {
            class_id,
            label: label.into(),
            score: 0.9,
            x_min: b[0],
            y_min: b[1],
            x_max: b[2],
            y_max: b[3],
        };
        let mut r = row("a/x.jpg", 0, 100.0);
        // A person where the labels have one, and a face inside it (class 80, after COCO's).
        r.detections = vec![
            det(0, "person", [64.0, 48.0, 320.0, 432.0]),
            det(80, "face", [150.0, 60.0, 230.0, 140.0]),
        ];
        let mut truth = GroundTruth::default();
        // YOLO: class cx cy w h, relative to 640 × 480.
        truth.boxes.insert(
            "x".into(),
            vec![TruthBox {
                class: ClassRef::Index(0),
                bbox: [0.1, 0.1, 0.5, 0.9],
                relative: true,
            }],
        );
        let rows = vec![r];
        let report = compute(&cfg(), &rows, &rows, &truth).unwrap();
        let d = report.detection.expect("detection metrics");
        assert_eq!(d.images, 1);
        assert!((d.map - 1.0).abs() < 1e-9, "{d:?}");
        assert_eq!(
            d.per_class.len(),
            1,
            "only classes with ground truth: {d:?}"
        );
        assert_eq!(
            (d.per_class[0].label.as_str(), d.per_class[0].ground_truth),
            ("person", 1)
        );
        assert!(report.floors.iter().any(|f| f.metric == "map" && f.passed));
    }

    #[test]
    fn windows_are_thinned_evenly() {
        let rows = window("a/", 3, 10, 0.0);
        let kept = thin(&rows, 4);
        let keys: Vec<&str> = kept.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "incoming/c/a/0.jpg",
                "incoming/c/a/2.jpg",
                "incoming/c/a/5.jpg",
                "incoming/c/a/7.jpg"
            ]
        );
        assert_eq!(thin(&rows, 100).len(), 10);
    }
}
