//! COCO-style detection AP, computed as pycocotools' `COCOeval` does for boxes (area range
//! "all", at most 100 detections per image and class, no crowd regions): IoU thresholds
//! 0.50:0.05:0.95, 101-point interpolated precision, mean over classes that have ground
//! truth. Checked against pycocotools on a committed fixture (`tests/coco_parity.rs`).

use std::collections::{BTreeMap, BTreeSet};

/// One box: an image, a class, corners in pixels, and (for detections) a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabeledBox {
    /// Image identifier.
    pub image: u64,
    /// Class identifier.
    pub class_id: i32,
    /// `x_min, y_min, x_max, y_max`.
    pub bbox: [f64; 4],
    /// Detection score (ignored for ground truth).
    pub score: f64,
}

impl LabeledBox {
    /// A detection of image `image` as a scored box.
    pub fn from_detection(image: u64, d: &sightline_core::Detection) -> LabeledBox {
        LabeledBox {
            image,
            class_id: d.class_id,
            bbox: [
                d.x_min as f64,
                d.y_min as f64,
                d.x_max as f64,
                d.y_max as f64,
            ],
            score: d.score as f64,
        }
    }
}

/// Results of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionMetrics {
    /// mAP@0.5:0.95.
    pub map: f64,
    /// mAP@0.5.
    pub map50: f64,
    /// mAP@0.75.
    pub map75: f64,
    /// AP@0.5:0.95 per class (classes with ground truth).
    pub per_class: BTreeMap<i32, f64>,
    /// Ground-truth boxes per class.
    pub support: BTreeMap<i32, usize>,
}

/// Detections kept per image and class, as pycocotools' `maxDets[-1]`.
pub const MAX_DETS: usize = 100;

fn iou_thresholds() -> [f64; 10] {
    let step = (0.95 - 0.5) / 9.0;
    std::array::from_fn(|i| 0.5 + step * i as f64)
}

fn iou(d: &[f64; 4], g: &[f64; 4]) -> f64 {
    let w = d[2].min(g[2]) - d[0].max(g[0]);
    let h = d[3].min(g[3]) - d[1].max(g[1]);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let area = |b: &[f64; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    i / (area(d) + area(g) - i)
}

/// Evaluates `detections` against `ground_truth`.
pub fn evaluate(ground_truth: &[LabeledBox], detections: &[LabeledBox]) -> DetectionMetrics {
    let classes: BTreeSet<i32> = ground_truth.iter().map(|g| g.class_id).collect();
    let images: BTreeSet<u64> = ground_truth
        .iter()
        .chain(detections)
        .map(|b| b.image)
        .collect();
    let mut per_class = BTreeMap::new();
    let mut support = BTreeMap::new();
    let mut ap50 = Vec::new();
    let mut ap75 = Vec::new();
    for &c in &classes {
        let (scored, npig) = match_class(ground_truth, detections, &images, c);
        support.insert(c, npig);
        let aps = class_aps(&scored, npig);
        per_class.insert(c, aps.iter().sum::<f64>() / 10.0);
        ap50.push(aps[0]);
        ap75.push(aps[5]);
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    DetectionMetrics {
        map: mean(&per_class.values().copied().collect::<Vec<_>>()),
        map50: mean(&ap50),
        map75: mean(&ap75),
        per_class,
        support,
    }
}

/// A detection's score and whether it matched a ground-truth box, per IoU threshold.
type Scored = (f64, [bool; 10]);

/// Greedy matching of class `c`'s detections to its ground truth, image by image (in
/// image order), as pycocotools does; returns the scored detections and the number of
/// ground-truth boxes.
fn match_class(
    ground_truth: &[LabeledBox],
    detections: &[LabeledBox],
    images: &BTreeSet<u64>,
    c: i32,
) -> (Vec<Scored>, usize) {
    let thresholds = iou_thresholds();
    let mut scored: Vec<Scored> = Vec::new();
    let mut npig = 0usize;
    for &img in images {
        let gts: Vec<&LabeledBox> = ground_truth
            .iter()
            .filter(|g| g.image == img && g.class_id == c)
            .collect();
        let mut dts: Vec<&LabeledBox> = detections
            .iter()
            .filter(|d| d.image == img && d.class_id == c)
            .collect();
        dts.sort_by(|a, b| b.score.total_cmp(&a.score)); // stable, as numpy's mergesort
        dts.truncate(MAX_DETS);
        npig += gts.len();
        let mut gt_matched = vec![[false; 10]; gts.len()];
        for d in &dts {
            let mut matched = [false; 10];
            for (t, &thr) in thresholds.iter().enumerate() {
                let mut best = thr.min(1.0 - 1e-10);
                let mut m = None;
                for (gi, g) in gts.iter().enumerate() {
                    if gt_matched[gi][t] {
                        continue;
                    }
                    let o = iou(&d.bbox, &g.bbox);
                    if o < best {
                        continue;
                    }
                    best = o;
                    m = Some(gi);
                }
                if let Some(gi) = m {
                    gt_matched[gi][t] = true;
                    matched[t] = true;
                }
            }
            scored.push((d.score, matched));
        }
    }
    (scored, npig)
}

/// 101-point interpolated AP per IoU threshold from one class's scored detections.
fn class_aps(scored: &[Scored], npig: usize) -> [f64; 10] {
    // Stable sort by descending score across images.
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| scored[b].0.total_cmp(&scored[a].0));
    let mut aps = [0f64; 10];
    for (t, ap) in aps.iter_mut().enumerate() {
        let (mut tp, mut fp) = (0f64, 0f64);
        let mut rc = Vec::with_capacity(order.len());
        let mut pr = Vec::with_capacity(order.len());
        for &i in &order {
            if scored[i].1[t] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            rc.push(tp / npig as f64);
            pr.push(tp / (fp + tp + f64::EPSILON));
        }
        for i in (1..pr.len()).rev() {
            if pr[i] > pr[i - 1] {
                pr[i - 1] = pr[i];
            }
        }
        let mut sum = 0.0;
        for r in 0..=100 {
            let x = r as f64 * 0.01;
            let idx = rc.partition_point(|&v| v < x);
            if idx < pr.len() {
                sum += pr[idx];
            }
        }
        *ap = sum / 101.0;
    }
    aps
}
