//! Ultralytics YOLO detect exports: their raw output tensors become detector rows
//! (`x1, y1, x2, y2, score, class` in model-input pixels), which [`crate::detect`] maps
//! back to the image and filters (thresholds, class-aware NMS, cap) as for every detector.
//!
//! The reading follows Ultralytics' `non_max_suppression` with `multi_label=False`: each
//! anchor's box `cx, cy, w, h` becomes corners, its score is its best class score (YOLOv5:
//! objectness × class score) and its class that class. What Ultralytics' NMS does after
//! that is the catalog's [`crate::DetectionFilter`].

use serde::Deserialize;

/// How a detector's `outputs.detections` tensor is laid out (manifest
/// `outputs.detection_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionFormat {
    /// `[N, rows, 6]`: `x1, y1, x2, y2, score, class` in input pixels, decoded inside the
    /// graph (the shipped CenterNet; Ultralytics exports made with `nms=True`).
    #[default]
    Rows,
    /// Ultralytics YOLOv8 / YOLO11 detect: `[N, 4 + classes, anchors]`, one column per
    /// anchor: `cx, cy, w, h` in input pixels, then the class scores (sigmoid applied).
    Yolov8,
    /// Ultralytics YOLOv5 detect: `[N, anchors, 5 + classes]`, one row per anchor:
    /// `cx, cy, w, h`, objectness, class scores.
    Yolov5,
}

/// Most candidates kept per image, best first, before the catalog's NMS (Ultralytics keeps
/// 30,000 before its NMS and 300 after; no catalog reports more than a few dozen).
pub const MAX_CANDIDATES: usize = 1000;

/// Candidates scoring below are dropped before NMS (Ultralytics' threshold for mAP).
pub const MIN_CANDIDATE_SCORE: f32 = 0.001;

/// Values per detector row.
pub const ROW: usize = 6;

impl DetectionFormat {
    /// One image's detector rows from its slice of the output tensor, whose dimensions
    /// without the batch axis are `dims`, for a model with `classes` labels: at most
    /// [`MAX_CANDIDATES`] rows of at least [`MIN_CANDIDATE_SCORE`], best first (`Rows`:
    /// the rows as they are). Errors say what shape was expected.
    pub fn rows(self, values: &[f32], dims: &[usize], classes: usize) -> Result<Vec<f32>, String> {
        let (anchors, at): (usize, Box<dyn Fn(usize, usize) -> f32 + '_>) = match self {
            DetectionFormat::Rows => {
                return match dims {
                    [_, ROW] => Ok(values.to_vec()),
                    _ => Err(format!("expected [N, rows, 6], got [N, {}]", join(dims))),
                };
            }
            DetectionFormat::Yolov8 => match dims {
                [c, a] if *c == 4 + classes => (*a, Box::new(move |i, k| values[k * a + i])),
                _ => {
                    return Err(format!(
                        "expected [N, 4 + {classes} classes, anchors] (YOLOv8), got [N, {}]",
                        join(dims)
                    ))
                }
            },
            DetectionFormat::Yolov5 => match dims {
                [a, c] if *c == 5 + classes => (*a, Box::new(move |i, k| values[i * c + k])),
                _ => {
                    return Err(format!(
                        "expected [N, anchors, 5 + {classes} classes] (YOLOv5), got [N, {}]",
                        join(dims)
                    ))
                }
            },
        };
        let first_class = if self == DetectionFormat::Yolov5 {
            5
        } else {
            4
        };
        let mut found: Vec<[f32; ROW]> = (0..anchors)
            .filter_map(|i| {
                let objectness = if first_class == 5 { at(i, 4) } else { 1.0 };
                let (class, best) = (0..classes)
                    .map(|c| (c, at(i, first_class + c)))
                    .fold((0, f32::NEG_INFINITY), |b, s| if s.1 > b.1 { s } else { b });
                let score = objectness * best;
                // NaN scores are dropped too.
                if score.is_nan() || score < MIN_CANDIDATE_SCORE {
                    return None;
                }
                let (cx, cy, w, h) = (at(i, 0), at(i, 1), at(i, 2), at(i, 3));
                let corners = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
                Some([
                    corners[0],
                    corners[1],
                    corners[2],
                    corners[3],
                    score,
                    class as f32,
                ])
            })
            .collect();
        found.sort_by(|a, b| b[4].total_cmp(&a[4]));
        found.truncate(MAX_CANDIDATES);
        Ok(found.concat())
    }
}

/// Rows of several images padded to the same count with rows that no threshold keeps
/// (score −∞), so a batch keeps one row count per image.
pub fn pad_rows(images: Vec<Vec<f32>>) -> (Vec<f32>, usize) {
    let rows = images.iter().map(|r| r.len() / ROW).max().unwrap_or(0);
    let mut out = Vec::with_capacity(images.len() * rows * ROW);
    for mut r in images {
        let missing = rows - r.len() / ROW;
        for _ in 0..missing {
            r.extend_from_slice(&[0.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY, 0.0]);
        }
        out.extend(r);
    }
    (out, rows)
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolov8_columns_become_rows_best_first() {
        // 2 classes, 3 anchors: [4 + 2, 3], anchor-major columns.
        let (cx, cy, w, h) = (
            [100.0, 50.0, 10.0],
            [80.0, 40.0, 10.0],
            [20.0, 10.0, 4.0],
            [40.0, 10.0, 4.0],
        );
        let (c0, c1) = ([0.2, 0.9, 0.0001], [0.7, 0.1, 0.0002]);
        let values: Vec<f32> = [cx, cy, w, h, c0, c1].concat();
        let rows = DetectionFormat::Yolov8.rows(&values, &[6, 3], 2).unwrap();
        assert_eq!(
            rows,
            vec![45.0, 35.0, 55.0, 45.0, 0.9, 0.0, 90.0, 60.0, 110.0, 100.0, 0.7, 1.0]
        );
        let e = DetectionFormat::Yolov8
            .rows(&values, &[6, 3], 80)
            .unwrap_err();
        assert!(e.contains("4 + 80 classes"), "{e}");
    }

    #[test]
    fn yolov5_scores_are_objectness_times_the_best_class() {
        let values = [
            10.0,
            10.0,
            4.0,
            4.0,
            0.5,
            0.2,
            0.8, // 0.4, class 1
            20.0,
            20.0,
            2.0,
            2.0,
            0.0005,
            1.0,
            0.0, // 0.0005: dropped
            30.0,
            30.0,
            2.0,
            2.0,
            f32::NAN,
            1.0,
            0.0, // NaN: dropped
        ];
        let rows = DetectionFormat::Yolov5.rows(&values, &[3, 7], 2).unwrap();
        assert_eq!(rows, vec![8.0, 8.0, 12.0, 12.0, 0.4, 1.0]);
        assert!(DetectionFormat::Yolov5.rows(&values, &[7, 3], 2).is_err());
        assert!(DetectionFormat::Rows.rows(&values, &[3, 7], 2).is_err());
    }

    #[test]
    fn padding_rows_are_below_every_threshold() {
        let (rows, n) = pad_rows(vec![vec![1.0; 12], vec![2.0; 6], Vec::new()]);
        assert_eq!((rows.len(), n), (36, 2));
        assert_eq!((rows[16], rows[22]), (2.0, f32::NEG_INFINITY));
        assert!(rows[24..].chunks(6).all(|r| r[4] == f32::NEG_INFINITY));
    }
}
