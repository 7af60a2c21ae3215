//! The distributions section: one card per histogram, reference and current bars side by
//! side per bin, with the worst drift status of the feature as a badge.

use maud::{html, Markup};

use super::{frame, grid_colour, AXIS_COLOUR, CUR_COLOUR, REF_COLOUR};
use crate::html::format::{n1, pct, short, sig3, status_class, status_word};
use crate::summary::{Histogram, Report};

/// Size of a chart and its margins.
const W: f64 = 360.0;
const H: f64 = 214.0;
const LEFT: f64 = 42.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 34.0;
/// Size of the plot inside the margins.
const PW: f64 = W - LEFT - RIGHT;
const PH: f64 = H - TOP - BOTTOM;

/// The distributions section; nothing when the report carries no histogram.
pub(in crate::html) fn histograms(r: &Report) -> Markup {
    if r.histograms.is_empty() {
        return html! {};
    }
    html! {
        section #histograms {
            h2 { "Distributions: reference vs current" }
            p.hint {
                "Share of each window's images per bin, over bins shared by both windows."
            }
            div.grid {
                @for h in &r.histograms {
                    @let worst = r.drift.iter().filter(|d| d.feature == h.feature).map(|d| d.status).max();
                    div.card {
                        h3 {
                            span { (h.feature) }
                            @if let Some(s) = worst {
                                span.badge.(status_class(s)) { (status_word(s)) }
                            }
                        }
                        (chart(h))
                    }
                }
            }
        }
    }
}

/// The smallest "nice" axis maximum at or above `v` (a fraction, 0–1), with the number of
/// grid steps that gives round tick labels.
fn nice_axis(v: f64) -> (f64, u32) {
    const AXES: [(f64, u32); 11] = [
        (0.02, 4),
        (0.05, 5),
        (0.1, 5),
        (0.2, 4),
        (0.25, 5),
        (0.3, 3),
        (0.4, 4),
        (0.5, 5),
        (0.6, 3),
        (0.8, 4),
        (1.0, 5),
    ];
    AXES.into_iter()
        .find(|(max, _)| *max >= v - 1e-12)
        .unwrap_or((1.0, 5))
}

/// `v` as a bar height: 0 when negative or not finite.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v.max(0.0)
    } else {
        0.0
    }
}

/// One histogram's chart; "No values." when it has no bins.
fn chart(h: &Histogram) -> Markup {
    let bins = h.reference.len().min(h.current.len());
    if bins == 0 {
        return html! { p.empty { "No values." } };
    }
    let top_value = h.reference[..bins]
        .iter()
        .chain(&h.current[..bins])
        .copied()
        .map(finite)
        .fold(0.0, f64::max);
    let (ymax, steps) = nice_axis(top_value);
    let body = html! {
        rect x=(LEFT) y="6" width="10" height="10" fill=(REF_COLOUR) {}
        text x=(LEFT + 14.0) y="15" font-size="11" { "reference" }
        rect x=(LEFT + 84.0) y="6" width="10" height="10" fill=(CUR_COLOUR) {}
        text x=(LEFT + 98.0) y="15" font-size="11" { "current" }
        (y_axis(ymax, steps))
        (bars(h, bins, ymax))
        (x_axis(h, bins))
        text x=(n1(LEFT + PW / 2.0)) y=(n1(H - 4.0)) font-size="10" text-anchor="middle"
            fill="#57606a" { (short(&h.feature)) }
    };
    frame(W, H, &format!("Histogram of {}", h.feature), body)
}

/// Horizontal grid lines with percentage labels, 0 to `ymax` in `steps` steps.
fn y_axis(ymax: f64, steps: u32) -> Markup {
    html! {
        @for i in 0..=steps {
            @let frac = ymax * f64::from(i) / f64::from(steps);
            @let y = TOP + PH - PH * f64::from(i) / f64::from(steps);
            @let label = if ymax < 0.05 { format!("{:.1}%", frac * 100.0) } else { format!("{:.0}%", frac * 100.0) };
            line x1=(LEFT) x2=(n1(LEFT + PW)) y1=(n1(y)) y2=(n1(y)) stroke=(grid_colour(i)) {}
            text x=(n1(LEFT - 4.0)) y=(n1(y + 3.5)) font-size="10" text-anchor="end" { (label) }
        }
    }
}

/// A reference and a current bar per bin, each with its range and share as a tooltip.
fn bars(h: &Histogram, bins: usize, ymax: f64) -> Markup {
    let edges_ok = edges_ok(h, bins);
    let slot = PW / bins as f64;
    let gap = (slot * 0.12).min(4.0);
    let bw = (slot - gap) / 2.0;
    let series = [
        (&h.reference, REF_COLOUR, "reference"),
        (&h.current, CUR_COLOUR, "current"),
    ];
    html! {
        @for i in 0..bins {
            @let range = if edges_ok { format!("{} to {}", sig3(h.edges[i]), sig3(h.edges[i + 1])) } else { format!("bin {}", i + 1) };
            @for (k, (values, colour, name)) in series.iter().enumerate() {
                @let bh = PH * (finite(values[i]) / ymax).min(1.0);
                rect x=(n1(LEFT + slot * i as f64 + gap / 2.0 + bw * k as f64)) y=(n1(TOP + PH - bh))
                    width=(n1(bw.max(0.5))) height=(n1(bh)) fill=(colour) {
                    title { (name) ", " (range) ": " (pct(values[i])) }
                }
            }
        }
    }
}

/// Whether `h` has `bins + 1` finite bin edges to label the x axis with.
fn edges_ok(h: &Histogram, bins: usize) -> bool {
    h.edges.len() == bins + 1 && h.edges.iter().all(|e| e.is_finite())
}

/// Ticks and labels for a few bin edges (first and last always); nothing without edges.
fn x_axis(h: &Histogram, bins: usize) -> Markup {
    if !edges_ok(h, bins) {
        return html! {};
    }
    let step = bins.div_ceil(4).max(1);
    let mut picks: Vec<usize> = (0..=bins).step_by(step).collect();
    if picks.last() != Some(&bins) {
        // Replace a last pick that would crowd the final edge.
        if picks.len() > 1 && picks.last().is_some_and(|&p| bins - p < step.div_ceil(2)) {
            picks.pop();
        }
        picks.push(bins);
    }
    let slot = PW / bins as f64;
    html! {
        @for i in picks {
            @let x = n1(LEFT + slot * i as f64);
            @let anchor = if i == 0 { "start" } else if i == bins { "end" } else { "middle" };
            line x1=(x) x2=(x) y1=(n1(TOP + PH)) y2=(n1(TOP + PH + 4.0)) stroke=(AXIS_COLOUR) {}
            text x=(x) y=(n1(TOP + PH + 15.0)) font-size="10" text-anchor=(anchor) {
                (sig3(h.edges[i]))
            }
        }
    }
}
