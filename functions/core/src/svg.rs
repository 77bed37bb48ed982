//! The page's charts as small inline SVG, drawn here rather than by a charting crate: charts-rs was
//! 0.9 ms and 50 KB of every report.html (half of publish's CPU on a day with history, where 4,000
//! reports are republished), for three shapes that are a few dozen lines each. Values are fen;
//! geometry is integer tenths of a pixel, so no float is ever printed.

use std::fmt::Write;

use crate::money::Fen;
use crate::text::escape;

const RED: &str = "#ff2442";
const BLUE: &str = "#3d7eff";
const INK: &str = "#4e5969";
const GRID: &str = "#e5e6eb";
const FONT: &str = "font-family=\"sans-serif\" font-size=\"11\" fill=\"#4e5969\"";

/// Tenths of a pixel, printed as pixels (`123.4`).
struct Px(i64);

impl std::fmt::Display for Px {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        match a % 10 {
            0 => write!(f, "{sign}{}", a / 10),
            t => write!(f, "{sign}{}.{t}", a / 10),
        }
    }
}

/// Whole yuan, grouped, for axis labels and bar ends (`12,345`; the tables keep the fen).
fn yuan_label(fen: i64) -> String {
    let s = crate::money::yuan_grouped(Fen(fen / 100 * 100));
    s.strip_suffix(".00").unwrap_or(&s).to_string()
}

/// A value axis from `lo` to `hi` fen with gridlines every `step`: the range of the values and zero,
/// widened to round steps (1, 2 or 5 times a power of ten yuan), about four of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Axis {
    pub lo: i64,
    pub hi: i64,
    pub step: i64,
}

impl Axis {
    pub(crate) fn of(values: impl IntoIterator<Item = i64>) -> Axis {
        let (mut min, mut max) = (0i64, 0i64);
        for v in values {
            min = min.min(v);
            max = max.max(v);
        }
        let span = max.saturating_sub(min).max(100);
        let rough = span / 4 + i64::from(span % 4 != 0);
        let mut unit = 100i64;
        let step = loop {
            let mut round = [1, 2, 5].into_iter().map(|m| unit.saturating_mul(m));
            if let Some(s) = round.find(|s| *s >= rough) {
                break s;
            }
            unit = unit.saturating_mul(10);
        };
        let lo = min.div_euclid(step).saturating_mul(step);
        let hi = max
            .div_euclid(step)
            .saturating_add(i64::from(max % step != 0))
            .saturating_mul(step);
        Axis {
            lo,
            hi: if hi > lo { hi } else { lo.saturating_add(step) },
            step,
        }
    }

    /// Where `v` falls on an axis drawn over `len` tenths of a pixel, from the low end.
    fn at(&self, v: i64, len: i64) -> i64 {
        let span = i128::from((self.hi - self.lo).max(1));
        (i128::from(v - self.lo) * i128::from(len) / span) as i64
    }

    fn ticks(&self) -> impl Iterator<Item = i64> + '_ {
        (0..)
            .map(move |i| self.lo + i * self.step)
            .take_while(|t| *t <= self.hi)
    }
}

/// A chart's opening tag, `width` by `height` tenths of a pixel, named for screen readers.
fn open(capacity: usize, width: i64, height: i64, title: &str) -> String {
    let mut s = String::with_capacity(capacity);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
        Px(width),
        Px(height),
        escape(title)
    );
    s
}

/// Columns over categories (net GMV by day): `points` are (label, fen), in drawing order; every
/// column carries a tooltip with its exact amount.
pub fn columns(title: &str, points: &[(String, i64)]) -> String {
    const W: i64 = 7600;
    const H: i64 = 3000;
    const LEFT: i64 = 700;
    const RIGHT: i64 = 100;
    const TOP: i64 = 150;
    const BOTTOM: i64 = 350;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let axis = Axis::of(points.iter().map(|p| p.1));
    let mut s = open(600 + points.len() * 160, W, H, title);
    for t in axis.ticks() {
        let y = TOP + ph - axis.at(t, ph);
        let _ = write!(
            s,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{GRID}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{}</text>",
            Px(LEFT),
            Px(W - RIGHT),
            Px(y),
            Px(y),
            Px(LEFT - 60),
            Px(y + 35),
            yuan_label(t)
        );
    }
    let n = points.len().max(1) as i64;
    let slot = pw / n;
    let bar = (slot * 7 / 10).max(10);
    let zero = TOP + ph - axis.at(0, ph);
    let every = points.len().div_ceil(12).max(1) as i64;
    for (i, (label, v)) in points.iter().enumerate() {
        let i = i as i64;
        let x = LEFT + i * slot + (slot - bar) / 2;
        let y = TOP + ph - axis.at(*v, ph);
        let (top, height) = (y.min(zero), (y - zero).abs());
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{RED}\"><title>{} {}</title></rect>",
            Px(x),
            Px(top),
            Px(bar),
            Px(height),
            escape(label),
            crate::money::yuan_grouped(Fen(*v))
        );
        if i % every == 0 {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>",
                Px(x + bar / 2),
                Px(TOP + ph + 200),
                escape(label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one per labelled value (net GMV by note), the amount at the end of each.
pub fn bars(title: &str, points: &[(String, i64)]) -> String {
    bars_labelled(title, points, |v| crate::money::yuan_grouped(Fen(v)))
}

/// `name` cut to what the label column holds (a CJK character is two units wide, ASCII one), with
/// an ellipsis when cut; the bar's tooltip has it whole.
fn fit(name: &str, units: usize) -> String {
    let width = |c: char| if c.is_ascii() { 1 } else { 2 };
    if name.chars().map(width).sum::<usize>() <= units {
        return name.to_string();
    }
    let mut used = 0;
    let mut out = String::new();
    for c in name.chars() {
        if used + width(c) > units - 1 {
            break;
        }
        used += width(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Horizontal bars of counts (a campaign's funnel), the count at the end of each.
pub fn count_bars(title: &str, points: &[(String, i64)]) -> String {
    bars_labelled(title, points, |n| {
        let g = crate::money::grouped(n.unsigned_abs());
        if n < 0 {
            format!("-{g}")
        } else {
            g
        }
    })
}

fn bars_labelled(title: &str, points: &[(String, i64)], label: fn(i64) -> String) -> String {
    const W: i64 = 7600;
    const LEFT: i64 = 1900;
    const RIGHT: i64 = 1100;
    const ROW: i64 = 300;
    const TOP: i64 = 100;
    let pw = W - LEFT - RIGHT;
    let h = TOP * 2 + ROW * points.len() as i64;
    let axis = Axis::of(points.iter().map(|p| p.1));
    let zero = LEFT + axis.at(0, pw);
    let mut s = open(400 + points.len() * 260, W, h, title);
    for (i, (name, v)) in points.iter().enumerate() {
        let y = TOP + i as i64 * ROW;
        let x = LEFT + axis.at(*v, pw);
        let (left, width) = (x.min(zero), (x - zero).abs());
        let shown = fit(name, 32);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{}</text><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{BLUE}\"><title>{} {}</title></rect><text x=\"{}\" y=\"{}\" {FONT}>{}</text>",
            Px(LEFT - 80),
            Px(y + 190),
            escape(&shown),
            Px(left),
            Px(y + 40),
            Px(width),
            Px(ROW - 80),
            escape(name),
            label(*v),
            Px(left + width + 60),
            Px(y + 190),
            label(*v)
        );
    }
    s.push_str("</svg>");
    s
}

/// A ring of a few named parts (direct against halo): each part's arc is its share of the total of
/// the positive parts; a part at or below zero draws nothing (the legend beside it has the figure).
pub fn ring(title: &str, parts: &[(&str, i64)]) -> String {
    const COLOURS: [&str; 4] = [RED, BLUE, "#14c9c9", "#f7ba1e"];
    // Circumference in tenths of a pixel of a ring of radius 70 px: 2π × 700.
    const R: i64 = 700;
    const C: i64 = 4398;
    let total: i64 = parts.iter().map(|(_, v)| (*v).max(0)).sum();
    let mut s = open(900, 5600, 2000, title);
    let _ = write!(
        s,
        "<circle cx=\"100\" cy=\"100\" r=\"{}\" fill=\"none\" stroke=\"{GRID}\" stroke-width=\"28\"/>",
        Px(R)
    );
    let mut done = 0i64;
    for (i, (name, v)) in parts.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if *v > 0 && total > 0 {
            let len = (i128::from(*v) * i128::from(C) / i128::from(total)) as i64;
            let _ = write!(
                s,
                "<circle cx=\"100\" cy=\"100\" r=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"28\" stroke-dasharray=\"{} {}\" stroke-dashoffset=\"{}\" transform=\"rotate(-90 100 100)\"><title>{} {}</title></circle>",
                Px(R),
                Px(len),
                Px(C - len),
                Px(-done),
                escape(name),
                crate::money::yuan_grouped(Fen(*v))
            );
            done += len;
        }
        let y = 70 + 30 * i as i64;
        let share = if total > 0 {
            // Rounded half up: the legend beside the ring has the exact amounts.
            ((i128::from((*v).max(0)) * 200 + i128::from(total)) / (2 * i128::from(total))) as i64
        } else {
            0
        };
        let _ = write!(
            s,
            "<rect x=\"220\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\"/><text x=\"242\" y=\"{}\" font-family=\"sans-serif\" font-size=\"13\" fill=\"{INK}\">{} {}%</text>",
            y,
            y + 12,
            escape(name),
            share
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(tag: &str, name: &str) -> Vec<f64> {
        let mut out = Vec::new();
        for part in tag.split(&format!(" {name}=\"")).skip(1) {
            out.push(part.split('"').next().unwrap().parse().unwrap());
        }
        out
    }

    /// The `<rect …>` tags of bars (those with a tooltip).
    fn bars_of(svg: &str) -> Vec<String> {
        svg.split("<rect")
            .skip(1)
            .filter(|r| r.contains("<title>"))
            .map(|r| r.split('>').next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn axes_take_in_zero_and_every_value_in_round_steps() {
        assert_eq!(
            Axis::of([0, 1_234_500]),
            Axis {
                lo: 0,
                hi: 1_500_000,
                step: 500_000
            }
        );
        assert_eq!(
            Axis::of([]),
            Axis {
                lo: 0,
                hi: 100,
                step: 100
            }
        );
        assert_eq!(
            Axis::of([-30_000, 70_000]),
            Axis {
                lo: -50_000,
                hi: 100_000,
                step: 50_000
            }
        );
        let big = Axis::of([i64::MAX / 4]);
        assert!(big.hi >= i64::MAX / 4 && big.step > 0);
        for a in [Axis::of([3, 999_999_999]), Axis::of([-5, -77_777])] {
            assert_eq!((a.hi - a.lo) % a.step, 0);
            assert!((2..=8).contains(&((a.hi - a.lo) / a.step)), "{a:?}");
        }
    }

    #[test]
    fn pixels_print_tenths_without_floats() {
        assert_eq!(Px(1234).to_string(), "123.4");
        assert_eq!(Px(1230).to_string(), "123");
        assert_eq!(Px(-5).to_string(), "-0.5");
    }

    #[test]
    fn columns_are_as_tall_as_their_values_and_tell_them() {
        let points: Vec<(String, i64)> = vec![
            ("06-01".into(), 100_000),
            ("06-02".into(), 0),
            ("06-03".into(), 50_000),
            ("06-04".into(), 200_000),
        ];
        let svg = columns("Net GMV", &points);
        let rects = bars_of(&svg);
        assert_eq!(rects.len(), 4, "one column per point");
        let heights: Vec<f64> = rects.iter().map(|r| attr(r, "height")[0]).collect();
        assert_eq!(heights[1], 0.0);
        assert!((heights[0] - 2.0 * heights[2]).abs() <= 0.2, "{heights:?}");
        assert!((heights[3] - 2.0 * heights[0]).abs() <= 0.2, "{heights:?}");
        // Columns stand on one baseline.
        let bottoms: Vec<f64> = rects
            .iter()
            .map(|r| attr(r, "y")[0] + attr(r, "height")[0])
            .collect();
        assert!(bottoms.windows(2).all(|w| (w[0] - w[1]).abs() <= 0.1));
        assert!(svg.contains("<title>06-04 ¥2,000.00</title>"));
        assert!(
            svg.contains(">¥2,000</text>"),
            "the axis reaches the top value"
        );
    }

    #[test]
    fn a_negative_column_hangs_below_the_baseline() {
        let svg = columns("x", &[("a".into(), 10_000), ("b".into(), -10_000)]);
        let rects = bars_of(&svg);
        let (ya, ha) = (attr(&rects[0], "y")[0], attr(&rects[0], "height")[0]);
        let (yb, hb) = (attr(&rects[1], "y")[0], attr(&rects[1], "height")[0]);
        assert!((ha - hb).abs() <= 0.1 && ha > 0.0);
        assert!(
            (ya + ha - yb).abs() <= 0.1,
            "b starts where a ends: at zero"
        );
    }

    #[test]
    fn ninety_days_label_every_eighth_day() {
        let points: Vec<(String, i64)> = (0..90).map(|i| (format!("d{i}"), i * 100)).collect();
        let svg = columns("x", &points);
        assert_eq!(bars_of(&svg).len(), 90);
        assert!(svg.contains(">d0</text>") && svg.contains(">d8</text>"));
        assert!(!svg.contains(">d1</text>"));
    }

    #[test]
    fn bars_are_as_long_as_their_values_and_labels_are_escaped() {
        let points: Vec<(String, i64)> = vec![
            ("<script>alert(1)</script>".into(), 30_000),
            ("note-b".into(), 10_000),
        ];
        let svg = bars("by note", &points);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        let widths: Vec<f64> = bars_of(&svg).iter().map(|r| attr(r, "width")[0]).collect();
        assert!((widths[0] - 3.0 * widths[1]).abs() <= 0.3, "{widths:?}");
    }

    #[test]
    fn bar_labels_keep_the_fen_and_long_names_are_cut_to_fit() {
        let long = "一盘搞定全脸！618 必入眼影腮红高光 超长标题".to_string();
        let svg = bars("by note", &[(long.clone(), 123_456), ("n2".into(), 5)]);
        assert!(svg.contains(">¥1,234.56</text>"), "{svg}");
        assert!(svg.contains(">¥0.05</text>"), "{svg}");
        assert!(
            svg.contains(&format!("<title>{long} ¥1,234.56</title>")),
            "whole in the tooltip"
        );
        assert!(
            svg.contains(">一盘搞定全脸！618 必入眼影腮红…</text>"),
            "{svg}"
        );
        assert_eq!(fit("n2", 32), "n2");
        assert_eq!(fit(&"a".repeat(33), 32), format!("{}…", "a".repeat(31)));
    }

    #[test]
    fn ring_arcs_share_the_circle_by_value() {
        let svg = ring(
            "direct against halo",
            &[("direct", 30_000), ("halo", 10_000)],
        );
        let dashes: Vec<f64> = svg
            .split("stroke-dasharray=\"")
            .skip(1)
            .map(|p| p.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(dashes.len(), 2);
        assert!((dashes[0] - 3.0 * dashes[1]).abs() <= 0.3, "{dashes:?}");
        assert!((dashes[0] + dashes[1] - 439.8).abs() <= 0.3);
        assert!(svg.contains(">direct 75%</text>") && svg.contains(">halo 25%</text>"));
        let none = ring("x", &[("a", 0), ("b", -5)]);
        assert!(!none.contains("stroke-dasharray"), "nothing to draw");
    }
}
