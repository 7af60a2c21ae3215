//! YOLO label files: one box per line, `class cx cy w h`, the centre and size relative
//! to the image size; blank lines are ignored. The one parser of the format, used by the
//! report's ground truth ([`crate::labels`]) and by `sightline eval-detect`.

/// One labelled box of a YOLO file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YoloBox {
    /// The detector's class index (non-negative).
    pub class_id: i32,
    /// Centre x and y, relative to the image width and height.
    pub centre: [f64; 2],
    /// Width and height, relative to the image width and height (non-negative).
    pub size: [f64; 2],
}

impl YoloBox {
    /// Corners `[x_min, y_min, x_max, y_max]` relative to the image size.
    pub fn corners(&self) -> [f64; 4] {
        self.corners_in_pixels(1.0, 1.0)
    }

    /// Corners `[x_min, y_min, x_max, y_max]` in pixels of a `width × height` image.
    pub fn corners_in_pixels(&self, width: f64, height: f64) -> [f64; 4] {
        let (cx, cy) = (self.centre[0] * width, self.centre[1] * height);
        let (w, h) = (self.size[0] * width, self.size[1] * height);
        [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
    }
}

/// Why a YOLO file could not be read; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YoloError {
    /// A line without exactly five fields.
    #[error("line {line}: {found} fields, expected 5 (`class cx cy w h`)")]
    FieldCount {
        /// Line number.
        line: usize,
        /// How many whitespace-separated fields it has.
        found: usize,
    },
    /// The class field is not an integer.
    #[error("line {line}: class {value:?} is not an integer class index")]
    ClassNotInteger {
        /// Line number.
        line: usize,
        /// The field as written.
        value: String,
    },
    /// The class is negative or too large for a class index.
    #[error("line {line}: class {value} is out of range (0 to {max})", max = i32::MAX)]
    ClassOutOfRange {
        /// Line number.
        line: usize,
        /// The field as written.
        value: String,
    },
    /// A coordinate is not a finite number, or a size is negative.
    #[error("line {line}: {field} {value:?} is not {expected}")]
    BadNumber {
        /// Line number.
        line: usize,
        /// `cx`, `cy`, `w` or `h`.
        field: &'static str,
        /// The field as written.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
}

/// Parses a YOLO label file.
///
/// # Errors
/// The first malformed line, by number: see [`YoloError`].
pub fn parse_yolo(text: &str) -> Result<Vec<YoloBox>, YoloError> {
    let mut boxes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !fields.is_empty() {
            boxes.push(parse_line(i + 1, &fields)?);
        }
    }
    Ok(boxes)
}

/// One non-blank line's fields.
fn parse_line(line: usize, fields: &[&str]) -> Result<YoloBox, YoloError> {
    let &[class, cx, cy, w, h] = fields else {
        return Err(YoloError::FieldCount {
            line,
            found: fields.len(),
        });
    };
    let number = |field: &'static str, value: &str, min: f64| {
        let expected = if min == 0.0 {
            "a finite non-negative number"
        } else {
            "a finite number"
        };
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= min)
            .ok_or_else(|| YoloError::BadNumber {
                line,
                field,
                value: value.to_string(),
                expected,
            })
    };
    Ok(YoloBox {
        class_id: parse_class(line, class)?,
        centre: [
            number("cx", cx, f64::NEG_INFINITY)?,
            number("cy", cy, f64::NEG_INFINITY)?,
        ],
        size: [number("w", w, 0.0)?, number("h", h, 0.0)?],
    })
}

/// A class index: an integer from 0 to `i32::MAX`.
fn parse_class(line: usize, class: &str) -> Result<i32, YoloError> {
    use std::num::IntErrorKind::{NegOverflow, PosOverflow};
    let value = class.to_string();
    match class.parse::<i32>() {
        Ok(c) if c >= 0 => Ok(c),
        Ok(_) => Err(YoloError::ClassOutOfRange { line, value }),
        Err(e) if matches!(e.kind(), PosOverflow | NegOverflow) => {
            Err(YoloError::ClassOutOfRange { line, value })
        }
        Err(_) => Err(YoloError::ClassNotInteger { line, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_and_blank_lines() {
        let b = parse_yolo("0 0.5 0.5 0.2 0.4\n\n  \n17 0.25 0.75 0.5 0.5\r\n").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].class_id, 0);
        let c = b[0].corners();
        assert!(
            (c[0] - 0.4).abs() < 1e-12 && (c[3] - 0.7).abs() < 1e-12,
            "{c:?}"
        );
        assert_eq!(b[1].class_id, 17);
        assert_eq!(
            b[1].corners_in_pixels(200.0, 100.0),
            [0.0, 50.0, 100.0, 100.0]
        );
        assert_eq!(parse_yolo(""), Ok(Vec::new()));
    }

    #[test]
    fn malformed_lines_are_typed_errors_with_their_line_number() {
        let ok = "0 0.5 0.5 0.1 0.1\n";
        let err = |line: &str| parse_yolo(&format!("{ok}\n{line}\n")).unwrap_err();
        assert_eq!(
            err("3 0.5 0.5"),
            YoloError::FieldCount { line: 3, found: 3 }
        );
        assert_eq!(
            err("3 0.5 0.5 0.1 0.1 0.9"),
            YoloError::FieldCount { line: 3, found: 6 }
        );
        assert_eq!(
            err("person 0.5 0.5 0.1 0.1"),
            YoloError::ClassNotInteger {
                line: 3,
                value: "person".into()
            }
        );
        assert_eq!(
            err("1.5 0.5 0.5 0.1 0.1"),
            YoloError::ClassNotInteger {
                line: 3,
                value: "1.5".into()
            }
        );
        for class in ["-1", "99999999999"] {
            assert_eq!(
                err(&format!("{class} 0.5 0.5 0.1 0.1")),
                YoloError::ClassOutOfRange {
                    line: 3,
                    value: class.into()
                }
            );
        }
        assert_eq!(
            err("2 0.5 abc 0.1 0.1"),
            YoloError::BadNumber {
                line: 3,
                field: "cy",
                value: "abc".into(),
                expected: "a finite number"
            }
        );
        assert_eq!(
            err("2 0.5 0.5 -0.1 0.1"),
            YoloError::BadNumber {
                line: 3,
                field: "w",
                value: "-0.1".into(),
                expected: "a finite non-negative number"
            }
        );
        assert_eq!(
            err("2 0.5 0.5 0.1 NaN").to_string(),
            "line 3: h \"NaN\" is not a finite non-negative number"
        );
        assert_eq!(
            err("3 0.5").to_string(),
            "line 3: 2 fields, expected 5 (`class cx cy w h`)"
        );
    }
}
