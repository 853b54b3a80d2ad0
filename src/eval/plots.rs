//! PNG charts of a [`Report`]: confusion matrix, reliability diagram, threshold sweep.
//!
//! Kept in its own file so the crate can put plotters behind a cargo feature: the metrics
//! and the Markdown report need none of it.
//!
//! Text is drawn with plotters' `ab_glyph` renderer and a font compiled into the binary
//! (DejaVu Sans), not with the system's fonts: that way the build needs no system library
//! (fontconfig, freetype) and the PNGs look the same on every machine.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle, FontTransform};

use super::{ConfusedPair, Report, FALLBACK_LABEL};

/// DejaVu Sans (Debian's `fonts-dejavu-core`). Licence: the Bitstream Vera licence for the
/// glyphs, public domain for DejaVu's changes; it allows bundling and redistribution as long
/// as the notice travels with the font, which `LICENSE-DejaVu.txt` beside this file does.
static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Registered under the family plotters uses by default (axis labels, legends), so every
/// piece of text finds the bundled font.
const FONT_FAMILY: &str = "sans-serif";

/// Above this many labels (intents + fallback) the confusion matrix shows only the
/// `MAX_CONFUSION_LABELS` labels of the largest confusions (see [`confusion_labels`]):
/// 151 x 151 cells (CLINC150) would be 5-pixel squares with unreadable axis labels, and the
/// point of the picture is to see which intents get mixed up. The full matrix stays in the
/// JSON (`intent.confusion`).
pub const MAX_CONFUSION_LABELS: usize = 30;

/// File names written by [`write_plots`], in order.
pub const PLOT_FILES: [&str; 3] = ["confusion.png", "reliability.png", "threshold.png"];

/// Colour of a cell holding the whole row (the end of matplotlib's "Blues" map, which
/// readers know from scikit-learn's confusion plots).
const DARK: (u8, u8, u8) = (8, 48, 107);

/// Turns any displayable plotting error into the `String` this module returns, saying which
/// chart failed.
trait OrFail<T> {
    /// Maps the error to "cannot draw CHART: ERROR".
    fn or_fail(self, chart: &str) -> Result<T, String>;
}

impl<T, E: Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, chart: &str) -> Result<T, String> {
        self.map_err(|e| format!("cannot draw {chart}: {e}"))
    }
}

/// Registers the bundled font once per process; later calls return the first outcome.
fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT_FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the bundled DejaVu Sans font could not be parsed".to_owned())
        })
        .clone()
}

/// Writes `confusion.png`, `reliability.png` and `threshold.png` into `dir` (created if
/// missing) and returns their paths. Existing files of those names are overwritten.
pub fn write_plots(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, String> {
    ensure_font()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create plot folder {}: {e}", dir.display()))?;
    let paths: Vec<PathBuf> = PLOT_FILES.iter().map(|name| dir.join(name)).collect();
    if let [confusion, reliability, threshold] = paths.as_slice() {
        confusion_plot(report, confusion)?;
        reliability_plot(report, reliability)?;
        threshold_plot(report, threshold)?;
    }
    Ok(paths)
}

/// Blends white into [`DARK`]; `share` is the fraction of the gold row in the cell. The
/// square root makes a 5% confusion visibly tinted instead of near-white.
fn heat(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0).sqrt();
    let mix = |dark: u8| (255.0 - (255.0 - f64::from(dark)) * s).round() as u8;
    RGBColor(mix(DARK.0), mix(DARK.1), mix(DARK.2))
}

/// Shortens long intent names so the margins stay reasonable. The middle is cut, not the
/// end: intents often share a prefix (`lost_card_...`) and differ at the end.
fn short(label: &str) -> String {
    const MAX_CHARS: usize = 36;
    const HEAD: usize = 16;
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= MAX_CHARS {
        return label.to_owned();
    }
    let tail = MAX_CHARS - HEAD - 1;
    let mut s: String = chars.iter().take(HEAD).collect();
    s.push('…');
    s.extend(chars.iter().skip(chars.len() - tail));
    s
}

/// The labels the confusion plot shows, in display order, and how many labels exist.
///
/// Up to [`MAX_CONFUSION_LABELS`]: all of them, alphabetically, fallback last. Beyond: the
/// labels of the largest off-diagonal cells, walking them from the largest down until
/// [`MAX_CONFUSION_LABELS`] labels are taken, in that order (fallback last). Both sides of every big
/// confusion are then on the plot (a ranking of labels by total errors could keep one side
/// and drop the other), and each lands next to its partner, near the diagonal.
pub fn confusion_labels(cells: &[ConfusedPair]) -> (Vec<String>, usize) {
    let all: BTreeSet<&str> = cells.iter().flat_map(|c| [c.gold.as_str(), c.predicted.as_str()]).collect();
    let total = all.len();
    if total <= MAX_CONFUSION_LABELS {
        let mut labels: Vec<String> = all.iter().filter(|l| **l != FALLBACK_LABEL).map(|l| (*l).to_owned()).collect();
        if all.contains(FALLBACK_LABEL) {
            labels.push(FALLBACK_LABEL.to_owned());
        }
        return (labels, total);
    }
    let mut pairs: Vec<&ConfusedPair> = cells.iter().filter(|c| c.gold != c.predicted).collect();
    pairs.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| a.gold.cmp(&b.gold)).then_with(|| a.predicted.cmp(&b.predicted))
    });
    let mut ordered: Vec<String> = Vec::new();
    for label in pairs.iter().flat_map(|c| [c.gold.as_str(), c.predicted.as_str()]) {
        if ordered.len() == MAX_CONFUSION_LABELS {
            break;
        }
        if !ordered.iter().any(|l| l == label) {
            ordered.push(label.to_owned());
        }
    }
    // The fallback goes last, where readers look for it, as in the full matrix.
    if let Some(at) = ordered.iter().position(|l| l == FALLBACK_LABEL) {
        let fallback = ordered.remove(at);
        ordered.push(fallback);
    }
    (ordered, total)
}

/// Draws the confusion matrix as a heat map: rows gold, columns predicted, colour the share
/// of the gold row (so rare intents are as visible as frequent ones), counts in the cells.
fn confusion_plot(report: &Report, path: &Path) -> Result<(), String> {
    const NAME: &str = "confusion.png";
    let cells = &report.intent.confusion;
    let (labels, total) = confusion_labels(cells);
    let n = labels.len();
    let index: BTreeMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let mut row_totals: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cells {
        *row_totals.entry(&c.gold).or_default() += c.count;
    }

    let label_font = (FONT_FAMILY, 13).into_font();
    let shown: Vec<String> = labels.iter().map(|l| short(l)).collect();
    let mut label_width = 0u32;
    for l in &shown {
        label_width = label_width.max(label_font.box_size(l).or_fail(NAME)?.0);
    }
    let cell = (900 / n.max(1)).clamp(20, 48) as i32;
    let side = cell * n as i32;
    let left = label_width as i32 + 44;
    let top = 64;
    let bottom = label_width as i32 + 44;
    let right = 110;
    let width = (left + side + right).max(480) as u32;
    let height = (top + side + bottom).max(240) as u32;

    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).or_fail(NAME)?;
    let title = if n == 0 {
        "Confusion matrix: no intent examples".to_owned()
    } else if n < total {
        format!("Confusion matrix: the {n} most-confused of {total} labels (rows: gold)")
    } else {
        format!("Confusion matrix, {n} labels (rows: gold)")
    };
    root.draw(&Text::new(title, (16, 14), (FONT_FAMILY, 20).into_font())).or_fail(NAME)?;
    if n == 0 {
        return root.present().or_fail(NAME);
    }
    root.draw(&Text::new(
        "colour = share of the gold row, numbers = examples",
        (16, 40),
        (FONT_FAMILY, 13).into_font().color(&RGBColor(90, 90, 90)),
    ))
    .or_fail(NAME)?;

    for c in cells {
        let (Some(&row), Some(&col)) = (index.get(c.gold.as_str()), index.get(c.predicted.as_str())) else {
            continue;
        };
        let row_total = row_totals.get(c.gold.as_str()).copied().unwrap_or(0).max(1);
        let share = c.count as f64 / row_total as f64;
        let x0 = left + col as i32 * cell;
        let y0 = top + row as i32 * cell;
        root.draw(&Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], heat(share).filled())).or_fail(NAME)?;
        let size = (f64::from(cell) * 0.42).min(14.0);
        let colour = if share > 0.35 { WHITE } else { BLACK };
        root.draw(&Text::new(
            c.count.to_string(),
            (x0 + cell / 2, y0 + cell / 2),
            (FONT_FAMILY, size).into_font().color(&colour).pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .or_fail(NAME)?;
    }
    // Grid and frame, drawn over the cells so empty cells are delimited too.
    let grid = RGBColor(215, 215, 215);
    for i in 0..=n as i32 {
        let at = i * cell;
        root.draw(&PathElement::new(vec![(left, top + at), (left + side, top + at)], grid)).or_fail(NAME)?;
        root.draw(&PathElement::new(vec![(left + at, top), (left + at, top + side)], grid)).or_fail(NAME)?;
    }
    // The diagonal outlined: where the correct decisions are.
    for i in 0..n as i32 {
        let at = i * cell;
        root.draw(&Rectangle::new(
            [(left + at, top + at), (left + at + cell, top + at + cell)],
            RGBColor(200, 120, 0).stroke_width(1),
        ))
        .or_fail(NAME)?;
    }
    let row_style = label_font.color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    let col_style = label_font.transform(FontTransform::Rotate90).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, l) in shown.iter().enumerate() {
        let middle = i as i32 * cell + cell / 2;
        root.draw(&Text::new(l.clone(), (left - 6, top + middle), row_style.clone())).or_fail(NAME)?;
        root.draw(&Text::new(l.clone(), (left + middle, top + side + 6), col_style.clone())).or_fail(NAME)?;
    }
    let axis = (FONT_FAMILY, 15).into_font().color(&BLACK);
    root.draw(&Text::new(
        "gold",
        (14, top + side / 2),
        axis.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .or_fail(NAME)?;
    root.draw(&Text::new(
        "predicted",
        (left + side / 2, height as i32 - 22),
        axis.pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .or_fail(NAME)?;

    // Colour scale, so the square-root mapping of `heat` can be read off.
    {
        let x0 = left + side + 30;
        let bar = side.max(100);
        for step in 0..bar {
            let share = 1.0 - f64::from(step) / f64::from(bar);
            root.draw(&Rectangle::new([(x0, top + step), (x0 + 16, top + step + 1)], heat(share).filled()))
                .or_fail(NAME)?;
        }
        root.draw(&Rectangle::new([(x0, top), (x0 + 16, top + bar)], RGBColor(150, 150, 150).stroke_width(1)))
            .or_fail(NAME)?;
        for share in [1.0, 0.5, 0.2, 0.05, 0.0] {
            let y = top + ((1.0 - share) * f64::from(bar)).round() as i32;
            root.draw(&Text::new(
                format!("{:.0}%", share * 100.0),
                (x0 + 22, y),
                (FONT_FAMILY, 12).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .or_fail(NAME)?;
        }
    }
    root.present().or_fail(NAME)
}

/// Draws the reliability diagram: accuracy per confidence bin as bars, mean confidence per
/// bin as points, the diagonal of perfect calibration, and the number of examples per bin
/// underneath (a bin of 3 examples should not be read like one of 3,000).
fn reliability_plot(report: &Report, path: &Path) -> Result<(), String> {
    const NAME: &str = "reliability.png";
    let bins = &report.intent.reliability;
    let total: usize = bins.iter().map(|b| b.count).sum();
    let root = BitMapBackend::new(path, (720, 800)).into_drawing_area();
    root.fill(&WHITE).or_fail(NAME)?;
    let (upper, lower) = root.split_vertically(590);

    let ece = report.intent.ece.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"));
    let mut chart = ChartBuilder::on(&upper)
        .caption(format!("Reliability of the top-1 intent (ECE {ece}, n = {total})"), (FONT_FAMILY, 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .or_fail(NAME)?;
    chart
        .configure_mesh()
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .y_desc("accuracy")
        .light_line_style(WHITE)
        .draw()
        .or_fail(NAME)?;
    let bar = RGBColor(70, 130, 180);
    chart
        .draw_series(bins.iter().filter_map(|b| {
            b.accuracy
                .map(|acc| Rectangle::new([(b.lower + 0.004, 0.0), (b.upper - 0.004, acc)], bar.mix(0.75).filled()))
        }))
        .or_fail(NAME)?
        .label("accuracy in bin")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], bar.mix(0.75).filled()));
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], RGBColor(120, 120, 120).stroke_width(2)))
        .or_fail(NAME)?
        .label("perfect calibration")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(120, 120, 120).stroke_width(2)));
    chart
        .draw_series(bins.iter().filter_map(|b| {
            let (conf, acc) = (b.mean_confidence?, b.accuracy?);
            Some(Circle::new((conf, acc), 4, RED.filled()))
        }))
        .or_fail(NAME)?
        .label("(mean confidence, accuracy)")
        .legend(|(x, y)| Circle::new((x + 8, y), 4, RED.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT_FAMILY, 14))
        .draw()
        .or_fail(NAME)?;

    let highest = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let mut counts = ChartBuilder::on(&lower)
        .margin(16)
        .margin_top(0)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1f64, 0f64..(highest as f64 * 1.1))
        .or_fail(NAME)?;
    counts
        .configure_mesh()
        .x_labels(11)
        .y_labels(4)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("confidence (top-1 probability)")
        .y_desc("examples")
        .light_line_style(WHITE)
        .draw()
        .or_fail(NAME)?;
    counts
        .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
            Rectangle::new(
                [(b.lower + 0.004, 0.0), (b.upper - 0.004, b.count as f64)],
                RGBColor(150, 150, 150).filled(),
            )
        }))
        .or_fail(NAME)?;
    root.present().or_fail(NAME)
}

/// Draws in-scope accuracy, in-scope retention and OOS recall against the threshold, with
/// the model's threshold as a vertical dashed line: the trade-off a threshold choice makes.
fn threshold_plot(report: &Report, path: &Path) -> Result<(), String> {
    const NAME: &str = "threshold.png";
    let curve = &report.intent.threshold_curve;
    let root = BitMapBackend::new(path, (860, 540)).into_drawing_area();
    root.fill(&WHITE).or_fail(NAME)?;
    let caption = if curve.is_empty() {
        "Threshold sweep: no intent examples"
    } else if report.intent.oos_count == 0 {
        "Threshold sweep (no out-of-scope examples: no OOS recall)"
    } else {
        "Threshold sweep: top-1 kept if its probability >= threshold"
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (FONT_FAMILY, 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
        .or_fail(NAME)?;
    chart
        .configure_mesh()
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .x_desc("threshold")
        .y_desc("fraction")
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .or_fail(NAME)?;

    type Getter = fn(&super::ThresholdPoint) -> Option<f64>;
    let series: [(&str, RGBColor, u32, Getter); 3] = [
        ("in-scope accuracy", RGBColor(31, 119, 180), 3, |p| p.in_scope_accuracy),
        ("OOS recall", RGBColor(214, 39, 40), 3, |p| p.oos_recall),
        ("in-scope retention", RGBColor(44, 160, 44), 2, |p| p.in_scope_retention),
    ];
    let mut labelled = false;
    for (name, colour, width, get) in series {
        let points: Vec<(f64, f64)> = curve.iter().filter_map(|p| get(p).map(|v| (p.threshold, v))).collect();
        if points.is_empty() {
            continue;
        }
        labelled = true;
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(width)))
            .or_fail(NAME)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3)));
    }
    if let (Some(t), true) = (report.model_threshold, labelled) {
        let t = f64::from(t).clamp(0.0, 1.0);
        let grey = RGBColor(60, 60, 60);
        chart
            .draw_series(DashedLineSeries::new([(t, 0.0), (t, 1.02)], 8, 5, grey.stroke_width(2)))
            .or_fail(NAME)?
            .label(format!("model threshold {t:.2}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(2)));
    }
    if !labelled {
        return root.present().or_fail(NAME);
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT_FAMILY, 14))
        .draw()
        .or_fail(NAME)?;
    root.present().or_fail(NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, EvalInput, IntentOutcome};

    const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// A fresh folder per test (and per process) so parallel runs cannot collide.
    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("entendu-eval-{name}-{}", std::process::id()))
    }

    fn outcome(gold: Option<&str>, predicted: Option<&str>, p: f32) -> IntentOutcome {
        IntentOutcome {
            gold: gold.map(str::to_owned),
            predicted: predicted.map(str::to_owned),
            ranking: vec![(predicted.or(gold).unwrap_or("x").to_owned(), p)],
            language: None,
        }
    }

    /// `n` intents, each right 8 times and confused with the next one `k % 4` times, plus
    /// some out-of-scope examples.
    fn input(n: usize) -> EvalInput {
        let mut intents = Vec::new();
        for k in 0..n {
            let gold = format!("intent_{k:03}");
            let next = format!("intent_{:03}", (k + 1) % n);
            for j in 0..8 {
                intents.push(outcome(Some(&gold), Some(&gold), 0.5 + 0.06 * j as f32));
            }
            for _ in 0..k % 4 {
                intents.push(outcome(Some(&gold), Some(&next), 0.55));
            }
            intents.push(outcome(Some(&gold), None, 0.3));
            intents.push(outcome(None, None, 0.2));
        }
        intents.push(outcome(None, Some("intent_000"), 0.9));
        EvalInput { intents, model_threshold: Some(0.45), ..EvalInput::default() }
    }

    fn assert_pngs(paths: &[PathBuf]) {
        assert_eq!(paths.len(), PLOT_FILES.len());
        for path in paths {
            let bytes = std::fs::read(path).unwrap();
            assert!(bytes.len() > 1000, "{} is tiny", path.display());
            assert_eq!(bytes[..8], PNG_MAGIC, "{} is not a PNG", path.display());
        }
    }

    #[test]
    fn writes_three_pngs() {
        let dir = temp_dir("small");
        let paths = write_plots(&evaluate(&input(6)), &dir).unwrap();
        assert_pngs(&paths);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writes_pngs_for_many_labels_and_for_nothing() {
        let dir = temp_dir("many");
        assert_pngs(&write_plots(&evaluate(&input(150)), &dir).unwrap());
        let empty = temp_dir("empty");
        assert_pngs(&write_plots(&evaluate(&EvalInput::default()), &empty).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn confusion_labels_keep_the_most_confused() {
        let report = evaluate(&input(6));
        let (labels, total) = confusion_labels(&report.intent.confusion);
        assert_eq!(total, 7);
        assert_eq!(labels.last().map(String::as_str), Some(FALLBACK_LABEL));
        assert_eq!(labels[0], "intent_000");

        let report = evaluate(&input(150));
        let (labels, total) = confusion_labels(&report.intent.confusion);
        assert_eq!(total, 151);
        assert_eq!(labels.len(), MAX_CONFUSION_LABELS);
        // The fallback column collects an error from every intent: it must be there.
        // Ordered by the largest confusions: intent_003 -> intent_004 (3 examples) first,
        // both sides of each pair kept.
        assert_eq!(labels[..4], ["intent_003", "intent_004", "intent_007", "intent_008"]);
    }

    #[test]
    fn long_labels_are_cut_in_the_middle() {
        assert_eq!(short("balance"), "balance");
        let cut = short("lost_card_report_and_replace_very_long_name_5");
        assert_eq!(cut, "lost_card_report…ce_very_long_name_5");
        assert_eq!(cut.chars().count(), 36);
    }

    #[test]
    fn heat_goes_from_white_to_dark() {
        assert_eq!(heat(0.0), WHITE);
        assert_eq!(heat(1.0), RGBColor(DARK.0, DARK.1, DARK.2));
    }
}
