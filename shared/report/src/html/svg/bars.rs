//! A horizontal bar chart of per-class values 0–1 (F1, AP).

use maud::{html, Markup};

use super::{frame, grid_colour, BAR_COLOUR};
use crate::html::format::{dec3, label_width, n1, short};

/// One bar of a horizontal bar chart with values 0–1.
pub(in crate::html) struct Bar<'a> {
    /// The class, cut on the axis, whole in the tooltip.
    pub label: &'a str,
    /// The value, 0–1 (drawn as 0 when not finite).
    pub value: f64,
    /// More about the bar, for its tooltip.
    pub tip: String,
}

/// Font size of the class labels.
const FONT: f64 = 11.0;
/// Width of the plot.
const PLOT_W: f64 = 300.0;
/// Space right of the plot, for the values.
const RIGHT: f64 = 44.0;
/// Space above the plot, for the scale.
const TOP: f64 = 22.0;
/// Height of one bar's row.
const ROW: f64 = 18.0;

/// One bar per class with a 0–1 scale on top; "No classes." when there are none. `what` names
/// the value ("F1", "AP").
pub(in crate::html) fn hbars(bars: &[Bar], what: &str) -> Markup {
    if bars.is_empty() {
        return html! { p.empty { "No classes." } };
    }
    let left = label_width(bars.iter().map(|b| b.label), FONT) + 12.0;
    let w = left + PLOT_W + RIGHT;
    let h = TOP + ROW * bars.len() as f64 + 6.0;
    let body = html! {
        @for i in 0..=4u32 {
            @let x = n1(left + PLOT_W * f64::from(i) / 4.0);
            line x1=(x) x2=(x) y1=(n1(TOP - 4.0)) y2=(n1(h - 6.0)) stroke=(grid_colour(i)) {}
            text x=(x) y=(n1(TOP - 8.0)) font-size="10" text-anchor="middle" {
                (["0", "0.25", "0.5", "0.75", "1"][i as usize])
            }
        }
        @for (i, b) in bars.iter().enumerate() {
            (bar(b, what, left, TOP + ROW * i as f64))
        }
    };
    frame(w, h, &format!("{what} per class"), body)
}

/// Bar `b` with its label, at `y`, the plot starting at `left`.
fn bar(b: &Bar, what: &str, left: f64, y: f64) -> Markup {
    let v = if b.value.is_finite() {
        b.value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    html! {
        g {
            title { (b.label) ": " (what) " " (dec3(b.value)) " (" (b.tip) ")" }
            text x=(n1(left - 6.0)) y=(n1(y + ROW / 2.0 + 4.0)) font-size=(FONT)
                text-anchor="end" { (short(b.label)) }
            rect x=(left) y=(n1(y + 3.0)) width=(n1(PLOT_W * v)) height=(n1(ROW - 6.0))
                fill=(BAR_COLOUR) {}
            text x=(n1(left + PLOT_W * v + 4.0)) y=(n1(y + ROW / 2.0 + 3.5)) font-size="10" {
                (dec3(b.value))
            }
        }
    }
}
