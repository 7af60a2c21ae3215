//! The reliability diagram: share correct per confidence bin, the diagonal of perfect
//! calibration, and a dot per bin sized by its images.

use maud::{html, Markup};

use super::{frame, grid_colour, BAR_COLOUR, CUR_COLOUR};
use crate::html::format::{dec3, n1, pct};
use crate::summary::ReliabilityBin;

/// Margins and the side of the (square) plot.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 40.0;
const P: f64 = 260.0;
const W: f64 = LEFT + P + RIGHT;
const H: f64 = TOP + P + BOTTOM;

/// x of confidence `v`.
fn px(v: f64) -> f64 {
    LEFT + P * v.clamp(0.0, 1.0)
}

/// y of share correct `v`.
fn py(v: f64) -> f64 {
    TOP + P * (1.0 - v.clamp(0.0, 1.0))
}

/// The diagram for `bins`, with the expected calibration error `ece` in a corner.
pub(in crate::html) fn reliability(bins: &[ReliabilityBin], ece: f64) -> Markup {
    let usable: Vec<&ReliabilityBin> = bins
        .iter()
        .filter(|b| {
            b.count > 0
                && [b.lower, b.upper, b.accuracy, b.confidence]
                    .iter()
                    .all(|v| v.is_finite())
        })
        .collect();
    let max_count = usable.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let mid = n1(TOP + P / 2.0);
    let body = html! {
        (grid())
        @for b in &usable {
            rect x=(n1(px(b.lower))) y=(n1(py(b.accuracy))) width=(n1((px(b.upper) - px(b.lower)).max(0.5)))
                height=(n1(py(0.0) - py(b.accuracy))) fill=(BAR_COLOUR) fill-opacity="0.35"
                stroke=(BAR_COLOUR) stroke-width="0.8" {}
        }
        line x1=(n1(px(0.0))) y1=(n1(py(0.0))) x2=(n1(px(1.0))) y2=(n1(py(1.0))) stroke="#57606a"
            stroke-dasharray="5 4" stroke-width="1.2" {}
        @for b in &usable {
            circle cx=(n1(px(b.confidence))) cy=(n1(py(b.accuracy)))
                r=(n1(2.5 + 6.5 * (b.count as f64 / max_count).sqrt())) fill=(CUR_COLOUR)
                fill-opacity="0.85" stroke="#8a4a00" stroke-width="0.8" {
                title {
                    "confidence " (dec3(b.lower)) "–" (dec3(b.upper)) ": " (b.count)
                    " images, mean confidence " (dec3(b.confidence)) ", " (pct(b.accuracy)) " correct"
                }
            }
        }
        @if usable.is_empty() {
            text x=(n1(LEFT + P / 2.0)) y=(mid) font-size="12" text-anchor="middle"
                fill="#57606a" { "no predictions" }
        }
        text x=(n1(LEFT + P / 2.0)) y=(n1(H - 6.0)) font-size="11" text-anchor="middle" {
            "Confidence (top-1 score)"
        }
        text x="12" y=(mid) font-size="11" text-anchor="middle"
            transform={ "rotate(-90 12 " (mid) ")" } { "Share correct" }
        text x=(n1(LEFT + 8.0)) y=(n1(TOP + 16.0)) font-size="11" { "ECE " (dec3(ece)) }
    };
    frame(
        W,
        H,
        &format!("Reliability diagram, ECE {}", dec3(ece)),
        body,
    )
}

/// Grid lines and labels every 0.2 on both axes.
fn grid() -> Markup {
    html! {
        @for i in 0..=5u32 {
            @let v = f64::from(i) / 5.0;
            @let label = format!("{v:.1}");
            @let (x, y) = (n1(px(v)), n1(py(v)));
            line x1=(LEFT) x2=(n1(LEFT + P)) y1=(y) y2=(y) stroke=(grid_colour(i)) {}
            line x1=(x) x2=(x) y1=(TOP) y2=(n1(TOP + P)) stroke=(grid_colour(i)) {}
            text x=(n1(LEFT - 4.0)) y=(n1(py(v) + 3.5)) font-size="10" text-anchor="end" { (label) }
            text x=(x) y=(n1(TOP + P + 14.0)) font-size="10" text-anchor="middle" { (label) }
        }
    }
}
