//! Detection post-processing, in one place: decode detector rows to boxes in original
//! image pixels, then per-class score thresholds, class-aware non-maximum suppression
//! and a cap on the number of detections.

use std::collections::HashMap;

use sightline_core::{Detection, DetectorConfig, FaceConfig};

use crate::preprocess::LetterboxGeometry;

/// Decodes rows of `[x1, y1, x2, y2, score, class]` in model-input pixels (CenterNet's
/// in-graph decoding) to detections in the pixels of the `width` × `height` image that
/// was letterboxed with `geometry`, clipped to the image. Rows keep their order.
pub fn decode_rows(
    rows: &[f32],
    geometry: LetterboxGeometry,
    (width, height): (u32, u32),
    labels: &[String],
) -> Vec<Detection> {
    let (w, h) = (width as f32, height as f32);
    rows.chunks_exact(6)
        .map(|r| {
            let (x1, y1) = geometry.to_image(r[0], r[1]);
            let (x2, y2) = geometry.to_image(r[2], r[3]);
            let class_id = r[5].round() as i32;
            Detection {
                class_id,
                label: labels
                    .get(class_id as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("class_{class_id}")),
                score: r[4],
                x_min: x1.clamp(0.0, w),
                y_min: y1.clamp(0.0, h),
                x_max: x2.clamp(0.0, w),
                y_max: y2.clamp(0.0, h),
            }
        })
        .collect()
}

/// Which detections to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionFilter {
    /// Minimum score for classes without their own threshold.
    pub min_score: f32,
    /// Per-class minimum score, by label.
    pub class_min_score: HashMap<String, f32>,
    /// Only these labels are kept (`None`: all).
    pub classes: Option<Vec<String>>,
    /// Two boxes of the same class overlapping more than this IoU: the lower score goes.
    pub nms_iou: f32,
    /// At most this many detections per image, highest scores first.
    pub max_detections: usize,
}

impl Default for DetectionFilter {
    /// No threshold, no NMS, no cap: every row (what COCO mAP evaluation wants).
    fn default() -> Self {
        DetectionFilter {
            min_score: 0.0,
            class_min_score: HashMap::new(),
            classes: None,
            nms_iou: 1.0,
            max_detections: usize::MAX,
        }
    }
}

impl From<&DetectorConfig> for DetectionFilter {
    /// A catalog's detector settings: thresholds, classes, NMS and cap.
    fn from(cfg: &DetectorConfig) -> Self {
        DetectionFilter {
            min_score: cfg.min_score,
            class_min_score: cfg
                .class_min_score
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            classes: cfg.classes.clone(),
            nms_iou: cfg.nms_iou,
            max_detections: cfg.max_detections,
        }
    }
}

impl From<&FaceConfig> for DetectionFilter {
    /// A catalog's face settings: one score threshold, NMS and cap.
    fn from(cfg: &FaceConfig) -> Self {
        DetectionFilter {
            min_score: cfg.min_score,
            nms_iou: cfg.nms_iou,
            max_detections: cfg.max_faces,
            ..DetectionFilter::default()
        }
    }
}

/// Intersection over union of two boxes.
pub fn iou(a: &Detection, b: &Detection) -> f32 {
    let iw = (a.x_max.min(b.x_max) - a.x_min.max(b.x_min)).max(0.0);
    let ih = (a.y_max.min(b.y_max) - a.y_min.max(b.y_min)).max(0.0);
    let inter = iw * ih;
    let area = |d: &Detection| (d.x_max - d.x_min).max(0.0) * (d.y_max - d.y_min).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

impl DetectionFilter {
    /// The same filter without its cap: what a redaction hides (the cap bounds what a
    /// row reports, not what is hidden).
    pub fn uncapped(&self) -> Self {
        DetectionFilter {
            max_detections: usize::MAX,
            ..self.clone()
        }
    }

    /// Applies thresholds, class-aware NMS and the cap; returns detections by score,
    /// descending.
    pub fn apply(&self, mut detections: Vec<Detection>) -> Vec<Detection> {
        detections.retain(|d| {
            let min = self
                .class_min_score
                .get(&d.label)
                .copied()
                .unwrap_or(self.min_score);
            d.score >= min && self.classes.as_ref().is_none_or(|c| c.contains(&d.label))
        });
        detections.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
        for d in detections {
            if kept.len() >= self.max_detections {
                break;
            }
            if self.nms_iou < 1.0
                && kept
                    .iter()
                    .any(|k| k.class_id == d.class_id && iou(k, &d) > self.nms_iou)
            {
                continue;
            }
            kept.push(d);
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: i32, label: &str, score: f32, x: f32) -> Detection {
        Detection {
            class_id,
            label: label.into(),
            score,
            x_min: x,
            y_min: 0.0,
            x_max: x + 10.0,
            y_max: 10.0,
        }
    }

    #[test]
    fn decode_maps_back_and_clips() {
        let g = LetterboxGeometry {
            scale: 0.8,
            dx: 0.0,
            dy: 85.0,
        };
        let labels: Vec<String> = (0..80).map(|i| format!("c{i}")).collect();
        let d = decode_rows(
            &[-8.0, 85.0, 512.0, 300.0, 0.7, 23.0],
            g,
            (640, 426),
            &labels,
        );
        assert_eq!(d[0].label, "c23");
        assert_eq!((d[0].x_min, d[0].y_min), (0.0, 0.0));
        assert_eq!((d[0].x_max, d[0].y_max), (640.0, 268.75));
    }

    #[test]
    fn thresholds_nms_and_cap() {
        let dets = vec![
            det(0, "person", 0.9, 0.0),
            det(0, "person", 0.8, 1.0),   // overlaps the first: suppressed
            det(1, "bicycle", 0.85, 1.0), // other class: kept
            det(0, "person", 0.5, 100.0),
            det(2, "car", 0.35, 200.0), // below its class threshold
        ];
        let f = DetectionFilter {
            min_score: 0.3,
            class_min_score: HashMap::from([("car".to_string(), 0.4)]),
            classes: None,
            nms_iou: 0.5,
            max_detections: 10,
        };
        let kept = f.apply(dets.clone());
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.85, 0.5]);
        let capped = DetectionFilter {
            max_detections: 1,
            ..f.clone()
        }
        .apply(dets.clone());
        assert_eq!(capped.len(), 1);
        let only = DetectionFilter {
            classes: Some(vec!["bicycle".into()]),
            ..f
        }
        .apply(dets.clone());
        assert_eq!(only.len(), 1);
        assert_eq!(DetectionFilter::default().apply(dets).len(), 5);
    }
}
