//! How numbers, labels and statuses read on the page. Only formatting: escaping is left to
//! the template engine, which escapes every string it inserts.

use sightline_quality::DriftStatus;

/// Labels on chart axes are cut to this many characters (the full name is in a tooltip).
pub(super) const MAX_LABEL_CHARS: usize = 24;
/// Shown for a number that is missing, NaN or infinite.
pub(super) const DASH: &str = "–";

/// `v` with 3 significant digits ("0.0123", "4.56", "1.23e7"); "–" when not finite.
pub(super) fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return DASH.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    // Round in scientific notation first so that 9.996 becomes 10.0, not 10.00.
    let sci = format!("{v:.2e}");
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return sci;
    }
    let rounded: f64 = sci.parse().unwrap_or(v);
    let decimals = (2 - exp).max(0) as usize;
    format!("{rounded:.decimals$}")
}

/// `text`, or "–" when it is empty.
pub(super) fn or_dash(text: &str) -> &str {
    if text.trim().is_empty() {
        DASH
    } else {
        text
    }
}

/// `v` as a percentage with one decimal; "–" when not finite.
pub(super) fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        DASH.to_string()
    }
}

/// `v` with three decimals; "–" when not finite.
pub(super) fn dec3(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        DASH.to_string()
    }
}

/// `v` or "–".
pub(super) fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map_or_else(|| DASH.to_string(), f)
}

/// A count for a small chart cell: "987", "12.3k", "4.5M".
pub(super) fn compact(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.0}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// The first [`MAX_LABEL_CHARS`] characters of `label`, with "…" when cut.
pub(super) fn short(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Approximate width in pixels of `chars` characters of sans-serif text at `size` px.
pub(super) fn text_width(chars: usize, size: f64) -> f64 {
    chars as f64 * size * 0.58
}

/// Width in pixels of the widest of `labels` as cut by [`short`], at `size` px.
pub(super) fn label_width<'a>(labels: impl Iterator<Item = &'a str>, size: f64) -> f64 {
    let max_chars = labels
        .map(|l| l.chars().count().min(MAX_LABEL_CHARS))
        .max()
        .unwrap_or(1);
    text_width(max_chars, size)
}

/// A number for an SVG coordinate (one decimal, 0 for non-finite values).
pub(super) fn n1(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.1}");
        match s.strip_suffix(".0") {
            Some(whole) => whole.to_string(),
            None => s,
        }
    } else {
        "0".to_string()
    }
}

/// `a` and `b` (colours as RGB) mixed, `t` = 0 → `a`, 1 → `b`, as `#rrggbb`.
pub(super) fn mix(a: (u8, u8, u8), b: (u8, u8, u8), t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let ch = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        ch(a.0, b.0),
        ch(a.1, b.1),
        ch(a.2, b.2)
    )
}

/// The CSS class that colours `status`.
pub(super) fn status_class(status: DriftStatus) -> &'static str {
    match status {
        DriftStatus::Ok => "st-ok",
        DriftStatus::Warn => "st-warn",
        DriftStatus::Alert => "st-alert",
    }
}

/// `status` as the page shows it.
pub(super) fn status_word(status: DriftStatus) -> &'static str {
    match status {
        DriftStatus::Ok => "OK",
        DriftStatus::Warn => "WARN",
        DriftStatus::Alert => "ALERT",
    }
}

/// `v`, with NaN sorted below every number.
pub(super) fn nan_last(v: f64) -> f64 {
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig3_formats() {
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(0.123456), "0.123");
        assert_eq!(sig3(1.0), "1.00");
        assert_eq!(sig3(9.996), "10.0");
        assert_eq!(sig3(123.456), "123");
        assert_eq!(sig3(-0.0456), "-0.0456");
        assert_eq!(sig3(0.00001234), "1.23e-5");
        assert_eq!(sig3(f64::NAN), DASH);
        assert_eq!(sig3(f64::INFINITY), DASH);
    }

    #[test]
    fn short_labels() {
        assert_eq!(short("abc"), "abc");
        let long = "x".repeat(40);
        assert_eq!(short(&long).chars().count(), MAX_LABEL_CHARS);
    }

    #[test]
    fn svg_numbers() {
        assert_eq!(n1(316.0), "316");
        assert_eq!(n1(12.34), "12.3");
        assert_eq!(n1(f64::NAN), "0");
    }
}
