//! The inline SVG charts: horizontal bars (F1 and AP per class), histograms (reference vs
//! current), the confusion-matrix heatmap and the reliability diagram. Every chart sizes
//! itself in pixels and carries its numbers in `<title>` tooltips.

mod bars;
mod confusion;
mod histogram;
mod reliability;

use maud::{html, Markup};

use super::format::n1;

pub(super) use bars::{hbars, Bar};
pub(super) use confusion::confusion;
pub(super) use histogram::histograms;
pub(super) use reliability::reliability;

/// Colours: reference / current series and single-series bars.
const REF_COLOUR: &str = "#4e79a7";
const CUR_COLOUR: &str = "#f28e2b";
const BAR_COLOUR: &str = "#4e79a7";
/// Colour of a chart's zero axis and of its other grid lines.
const AXIS_COLOUR: &str = "#8c959f";
const GRID_COLOUR: &str = "#eaeef2";

/// An `<svg>` element `w` × `h` pixels, described to screen readers as `label`.
fn frame(w: f64, h: f64, label: &str, body: Markup) -> Markup {
    html! {
        svg viewBox={ "0 0 " (n1(w)) " " (n1(h)) } width=(n1(w)) height=(n1(h)) role="img"
            aria-label=(label) { (body) }
    }
}

/// The colour of grid line `i` (the first is the axis).
fn grid_colour(i: u32) -> &'static str {
    if i == 0 {
        AXIS_COLOUR
    } else {
        GRID_COLOUR
    }
}
