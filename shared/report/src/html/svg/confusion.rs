//! The confusion-matrix heatmap: rows are the true class, columns the prediction, shade the
//! share of the true class's images (green diagonal, red confusions).

use maud::{html, Markup};

use super::frame;
use crate::html::format::{compact, label_width, mix, n1, pct, short};
use crate::summary::Confusion;

/// Largest confusion matrix (per side) whose cells carry their counts.
const MAX_COUNTED_CELLS: usize = 20;
/// Larger confusion matrices (per side) give empty cells no tooltip, to keep the page small.
const MAX_TITLED_EMPTY_CELLS: usize = 30;
/// Space above the grid.
const TOP: f64 = 8.0;

/// Sizes of the heatmap for `n` classes.
struct Layout {
    n: usize,
    /// Side of one cell.
    cell: f64,
    /// Font size of the class labels.
    label_font: f64,
    /// Left edge of the grid (row labels and the axis title are left of it).
    left: f64,
    /// Side of the grid.
    grid: f64,
    /// Whether cells carry their counts.
    counted: bool,
}

impl Layout {
    fn new(c: &Confusion) -> (Layout, f64, f64) {
        let n = c.labels.len();
        let cell: f64 = match n {
            0..=10 => 40.0,
            11..=20 => 32.0,
            _ => (640.0 / n as f64).clamp(6.0, 24.0),
        };
        let label_font = if n > 40 { 8.0 } else { 11.0 };
        let label_w = label_width(c.labels.iter().map(String::as_str), label_font);
        // Row labels left (plus the rotated axis title), column labels rotated 45° below.
        let left = label_w + 30.0;
        let grid = cell * n as f64;
        let w = left + grid + 16.0;
        let h = TOP + grid + label_w * 0.62 + 34.0;
        let counted = n <= MAX_COUNTED_CELLS;
        let layout = Layout {
            n,
            cell,
            label_font,
            left,
            grid,
            counted,
        };
        (layout, w, h)
    }
}

/// The heatmap with its caption; "No confusion matrix." when it has no classes.
pub(in crate::html) fn confusion(c: &Confusion) -> Markup {
    if c.labels.is_empty() {
        return html! { p.empty { "No confusion matrix." } };
    }
    let (l, w, h) = Layout::new(c);
    let mid = n1(TOP + l.grid / 2.0);
    let body = html! {
        @for (i, true_label) in c.labels.iter().enumerate() {
            @let row = c.matrix.get(i).map_or(&[][..], Vec::as_slice);
            @let total: u64 = row.iter().take(l.n).sum();
            @for (j, pred_label) in c.labels.iter().enumerate() {
                (cell(&l, (i, true_label), (j, pred_label), row.get(j).copied().unwrap_or(0), total))
            }
            text x=(n1(l.left - 5.0)) y=(n1(TOP + l.cell * i as f64 + l.cell / 2.0 + l.label_font * 0.35))
                font-size=(l.label_font) text-anchor="end" { (short(true_label)) }
        }
        @for (j, label) in c.labels.iter().enumerate() {
            @let x = n1(l.left + l.cell * j as f64 + l.cell / 2.0 + l.label_font * 0.3);
            @let y = n1(TOP + l.grid + 8.0);
            text x=(x) y=(y) font-size=(l.label_font) text-anchor="end"
                transform={ "rotate(-45 " (x) " " (y) ")" } { (short(label)) }
        }
        text x=(n1(l.left + l.grid / 2.0)) y=(n1(h - 6.0)) font-size="12" font-weight="600"
            text-anchor="middle" { "Predicted class" }
        text x="12" y=(mid) font-size="12" font-weight="600" text-anchor="middle"
            transform={ "rotate(-90 12 " (mid) ")" } { "True class" }
    };
    html! {
        div.wide { (frame(w, h, "Confusion matrix", body)) }
        figcaption {
            "Rows are the true class, columns the prediction. Shade = share of the true \
             class's images: the green diagonal is correct, red cells are confusions"
            @if l.counted { "; numbers are image counts" } @else { " (hover a cell for its count)" }
            "."
            @if c.total_classes > l.n {
                " Showing " (l.n) " of " (c.total_classes)
                " classes (those with the most images and errors)."
            }
        }
    }
}

/// The fill of a cell and whether it is dark enough for white text.
fn shade(diagonal: bool, count: u64, share: f64) -> (String, bool) {
    if count == 0 {
        let fill = if diagonal { "#f0f6f0" } else { "#ffffff" };
        return (fill.to_string(), false);
    }
    if diagonal {
        // White → green: correct.
        let t = 0.15 + 0.85 * share;
        (mix((0xe6, 0xf4, 0xea), (0x1a, 0x7f, 0x37), t), t > 0.5)
    } else {
        // White → red: confused.
        let t = 0.12 + 0.88 * share.sqrt();
        (mix((0xff, 0xf0, 0xee), (0xc6, 0x1f, 0x2b), t), t > 0.55)
    }
}

/// Cell (`i`, `j`): `count` of the row's `total` images of true class `i` predicted as `j`.
fn cell(
    l: &Layout,
    (i, truth): (usize, &str),
    (j, pred): (usize, &str),
    count: u64,
    total: u64,
) -> Markup {
    let share = if total > 0 {
        count as f64 / total as f64
    } else {
        0.0
    };
    let diagonal = i == j;
    let (fill, dark) = shade(diagonal, count, share);
    let (x, y) = (l.left + l.cell * j as f64, TOP + l.cell * i as f64);
    html! {
        g {
            @if count > 0 || l.n <= MAX_TITLED_EMPTY_CELLS {
                title { "true " (truth) " → predicted " (pred) ": " (count) " (" (pct(share)) " of the true class)" }
            }
            rect x=(n1(x)) y=(n1(y)) width=(n1(l.cell)) height=(n1(l.cell)) fill=(fill)
                stroke=(if diagonal { "#1a7f37" } else { "#d0d7de" })
                stroke-width=(if diagonal { "1.5" } else { "0.5" }) {}
            @if l.counted && count > 0 {
                text x=(n1(x + l.cell / 2.0)) y=(n1(y + l.cell / 2.0 + 4.0))
                    font-size=(if l.cell >= 36.0 { 12 } else { 10 }) text-anchor="middle"
                    style=[dark.then_some("fill:#fff;font-weight:600")] { (compact(count)) }
            }
        }
    }
}
