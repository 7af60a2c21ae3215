//! The champion/challenger gate: promote a new head only when it is better on the same
//! validation rows and no class pays for it.

use serde::{Deserialize, Serialize};
use sightline_train::ValidationMetrics;

/// What a challenger must show. Defaults in [`GateConfig::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Accuracy gain over the champion required (0.0: not worse). Default: 0.0.
    pub min_accuracy_gain: f64,
    /// Macro-F1 gain over the champion required. Default: 0.0.
    pub min_macro_f1_gain: f64,
    /// Largest fall of any class's recall allowed. Default: 0.10.
    pub max_recall_drop: f64,
    /// A first head (no comparable champion) needs at least this accuracy (`None`: no
    /// floor). Default: 0.7 (the report's accuracy floor).
    pub accuracy_floor: Option<f64>,
    /// ... and at least this macro-F1. Default: none.
    pub macro_f1_floor: Option<f64>,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            min_accuracy_gain: 0.0,
            min_macro_f1_gain: 0.0,
            max_recall_drop: 0.10,
            accuracy_floor: Some(0.7),
            macro_f1_floor: None,
        }
    }
}

/// Scores of one head on the validation rows, with class names for the recalls.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<'a> {
    /// Metrics; `recall[i]` is for `classes[i]`.
    pub metrics: &'a ValidationMetrics,
    /// The class names of the validation set.
    pub classes: &'a [String],
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    /// Whether the challenger may become champion.
    pub promote: bool,
    /// One line per check, passed or failed.
    pub reasons: Vec<String>,
}

impl GateDecision {
    /// The reasons as one line.
    pub fn summary(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Decides on `challenger` against `champion` (`None`: the first head, judged by the
/// floors). Both must be scored on the same rows, with the same class list.
pub fn decide(
    challenger: Scored<'_>,
    champion: Option<Scored<'_>>,
    cfg: &GateConfig,
) -> GateDecision {
    let mut reasons = Vec::new();
    let mut ok = true;
    let mut check = |passed: bool, line: String| {
        ok &= passed;
        reasons.push(format!("{} {line}", if passed { "ok:" } else { "FAIL:" }));
    };
    let c = challenger.metrics;
    let Some(champion) = champion else {
        match cfg.accuracy_floor {
            Some(floor) => check(
                c.accuracy >= floor,
                format!("first head accuracy {:.4} >= floor {floor:.4}", c.accuracy),
            ),
            None => check(
                true,
                format!("first head accuracy {:.4} (no accuracy floor)", c.accuracy),
            ),
        }
        if let Some(floor) = cfg.macro_f1_floor {
            check(
                c.macro_f1 >= floor,
                format!("first head macro-F1 {:.4} >= floor {floor:.4}", c.macro_f1),
            );
        }
        return GateDecision {
            promote: ok,
            reasons,
        };
    };
    let h = champion.metrics;
    let (acc_gain, f1_gain) = (c.accuracy - h.accuracy, c.macro_f1 - h.macro_f1);
    check(
        acc_gain >= cfg.min_accuracy_gain,
        format!(
            "accuracy {:.4} vs champion {:.4} (gain {acc_gain:+.4}, need {:+.4})",
            c.accuracy, h.accuracy, cfg.min_accuracy_gain
        ),
    );
    check(
        f1_gain >= cfg.min_macro_f1_gain,
        format!(
            "macro-F1 {:.4} vs champion {:.4} (gain {f1_gain:+.4}, need {:+.4})",
            c.macro_f1, h.macro_f1, cfg.min_macro_f1_gain
        ),
    );
    check(
        acc_gain > 0.0 || f1_gain > 0.0,
        "better on at least one of accuracy and macro-F1".into(),
    );
    let worst = worst_recall_drop(&challenger, &champion);
    if let Some((class, drop)) = worst {
        check(
            drop <= cfg.max_recall_drop,
            format!(
                "largest recall drop {drop:.4} ({class}) <= {:.4}",
                cfg.max_recall_drop
            ),
        );
    }
    GateDecision {
        promote: ok,
        reasons,
    }
}

/// The class whose recall falls most from champion to challenger.
fn worst_recall_drop(challenger: &Scored<'_>, champion: &Scored<'_>) -> Option<(String, f64)> {
    let mut worst: Option<(String, f64)> = None;
    let pairs = challenger
        .metrics
        .recall
        .iter()
        .zip(&champion.metrics.recall);
    for (i, (new, old)) in pairs.enumerate() {
        let (Some(new), Some(old)) = (new, old) else {
            continue;
        };
        let drop = old - new;
        if worst.as_ref().is_none_or(|(_, w)| drop > *w) {
            worst = Some((challenger.classes[i].clone(), drop));
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(accuracy: f64, macro_f1: f64, recall: &[f64]) -> ValidationMetrics {
        ValidationMetrics {
            rows: 100,
            accuracy,
            macro_f1,
            recall: recall.iter().map(|r| Some(*r)).collect(),
        }
    }

    #[test]
    fn a_better_challenger_is_promoted_and_a_worse_one_refused() {
        let classes = ["a".to_string(), "b".to_string()];
        let (old, new) = (m(0.80, 0.78, &[0.8, 0.8]), m(0.85, 0.84, &[0.85, 0.85]));
        let cfg = GateConfig::default();
        let s = |x| Scored {
            metrics: x,
            classes: &classes,
        };
        assert!(decide(s(&new), Some(s(&old)), &cfg).promote);
        let refused = decide(s(&old), Some(s(&new)), &cfg);
        assert!(!refused.promote);
        assert!(
            refused
                .summary()
                .contains("FAIL: accuracy 0.8000 vs champion 0.8500"),
            "{}",
            refused.summary()
        );
    }

    #[test]
    fn a_class_that_pays_for_the_gain_blocks_promotion() {
        let classes = ["a".to_string(), "b".to_string()];
        let (old, new) = (m(0.80, 0.78, &[0.9, 0.7]), m(0.86, 0.80, &[0.6, 0.99]));
        let s = |x| Scored {
            metrics: x,
            classes: &classes,
        };
        let d = decide(s(&new), Some(s(&old)), &GateConfig::default());
        assert!(!d.promote);
        assert!(d.summary().contains("(a)"), "{}", d.summary());
    }

    #[test]
    fn a_tie_is_not_a_win_and_a_first_head_needs_the_floor() {
        let classes = ["a".to_string(), "b".to_string()];
        let same = m(0.80, 0.78, &[0.8, 0.8]);
        let s = |x| Scored {
            metrics: x,
            classes: &classes,
        };
        assert!(!decide(s(&same), Some(s(&same)), &GateConfig::default()).promote);
        assert!(decide(s(&same), None, &GateConfig::default()).promote);
        let weak = m(0.5, 0.5, &[0.5, 0.5]);
        assert!(!decide(s(&weak), None, &GateConfig::default()).promote);
        let no_floor = GateConfig {
            accuracy_floor: None,
            ..GateConfig::default()
        };
        let d = decide(s(&weak), None, &no_floor);
        assert!(d.promote, "{}", d.summary());
        assert!(d.summary().contains("no accuracy floor"), "{}", d.summary());
    }
}
