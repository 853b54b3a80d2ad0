//! Markdown rendering of a [`Report`], for humans: pull requests, CI summaries, READMEs.
//!
//! Tables list problems first (lowest F1 first), since the reader is usually looking for
//! what to fix. Fractions are printed with three decimals and `—` stands for `null`.

use std::collections::BTreeMap;

use super::{ClassMetrics, Report, ThresholdPoint};

/// Thresholds shown in the Markdown excerpt of the threshold curve (the full curve is in
/// the JSON and the plot).
const THRESHOLDS_SHOWN: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// A fraction with three decimals, or `—` when undefined.
fn fraction(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"))
}

/// Makes a label safe inside a Markdown table cell: a `|` would split the cell and a newline
/// would end the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Appends one line.
fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// Labels sorted so that problems come first: F1 ascending, then larger support first (a
/// bad frequent label matters more), then name.
fn worst_first(per_label: &BTreeMap<String, ClassMetrics>) -> Vec<(&String, &ClassMetrics)> {
    let mut rows: Vec<_> = per_label.iter().collect();
    rows.sort_by(|a, b| {
        a.1.f1.total_cmp(&b.1.f1).then_with(|| b.1.support.cmp(&a.1.support)).then_with(|| a.0.cmp(b.0))
    });
    rows
}

/// A per-label table (intents, entity types or signals).
fn label_table(out: &mut String, heading: &str, per_label: &BTreeMap<String, ClassMetrics>) {
    line(out, &format!("| {heading} | precision | recall | F1 | support | predicted |"));
    line(out, "|---|---:|---:|---:|---:|---:|");
    for (label, m) in worst_first(per_label) {
        line(
            out,
            &format!(
                "| {} | {:.3} | {:.3} | {:.3} | {} | {} |",
                cell(label),
                m.precision,
                m.recall,
                m.f1,
                m.support,
                m.predictions
            ),
        );
    }
}

/// The points of the threshold curve shown in Markdown: [`THRESHOLDS_SHOWN`] plus the one
/// nearest the model's threshold, flagged.
fn threshold_rows(curve: &[ThresholdPoint], model: Option<f32>) -> Vec<(ThresholdPoint, bool)> {
    let nearest = model.and_then(|t| {
        curve.iter().min_by(|a, b| (a.threshold - f64::from(t)).abs().total_cmp(&(b.threshold - f64::from(t)).abs()))
    });
    let mut rows: Vec<(ThresholdPoint, bool)> = curve
        .iter()
        .filter(|p| THRESHOLDS_SHOWN.iter().any(|t| (p.threshold - t).abs() < 1e-9))
        .map(|p| (*p, false))
        .collect();
    if let Some(point) = nearest {
        match rows.iter_mut().find(|(p, _)| (p.threshold - point.threshold).abs() < 1e-9) {
            Some(row) => row.1 = true,
            None => rows.push((*point, true)),
        }
    }
    rows.sort_by(|a, b| a.0.threshold.total_cmp(&b.0.threshold));
    rows
}

impl Report {
    /// Renders the report as Markdown: a summary table, per-intent metrics worst first, the
    /// most-confused pairs, calibration, an excerpt of the threshold curve, entities,
    /// signals and languages. Sections without data are left out.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let intent = &self.intent;
        line(&mut out, "# Evaluation report");
        line(&mut out, "");
        line(&mut out, "## Summary");
        line(&mut out, "");
        line(&mut out, "| metric | value |");
        line(&mut out, "|---|---:|");
        let mut summary: Vec<(&str, String)> = vec![
            ("intent examples", intent.count.to_string()),
            ("out-of-scope examples", intent.oos_count.to_string()),
            ("accuracy", fraction(intent.accuracy)),
            ("in-scope accuracy", fraction(intent.in_scope_accuracy)),
            ("OOS recall", fraction(intent.oos_recall)),
            ("OOS precision", fraction(intent.oos_precision)),
            ("intent macro F1", fraction(intent.macro_f1)),
            ("ECE (top-1, 15 bins)", fraction(intent.ece)),
            ("model threshold", self.model_threshold.map_or_else(|| "—".to_owned(), |t| format!("{t:.2}"))),
        ];
        if let Some(entities) = &self.entities {
            summary.push(("entity micro F1 (exact)", fraction(Some(entities.exact.micro_f1))));
            summary.push(("entity micro F1 (partial)", fraction(Some(entities.partial.micro_f1))));
        }
        if let Some(signals) = &self.signals {
            summary.push(("signal macro F1", fraction(signals.macro_f1)));
        }
        for (name, value) in summary {
            line(&mut out, &format!("| {name} | {value} |"));
        }

        if !intent.per_intent.is_empty() {
            line(&mut out, "");
            line(&mut out, "## Intents (lowest F1 first)");
            line(&mut out, "");
            label_table(&mut out, "intent", &intent.per_intent);
        }

        if !intent.confused_pairs.is_empty() {
            line(&mut out, "");
            line(&mut out, "## Most confused intents");
            line(&mut out, "");
            line(&mut out, "| gold | predicted | count |");
            line(&mut out, "|---|---|---:|");
            for pair in &intent.confused_pairs {
                line(&mut out, &format!("| {} | {} | {} |", cell(&pair.gold), cell(&pair.predicted), pair.count));
            }
        }

        if intent.reliability.iter().any(|b| b.count > 0) {
            line(&mut out, "");
            line(&mut out, "## Calibration (in-scope examples, top-1)");
            line(&mut out, "");
            line(&mut out, &format!("ECE: {}", fraction(intent.ece)));
            line(&mut out, "");
            line(&mut out, "| confidence | count | mean confidence | accuracy |");
            line(&mut out, "|---|---:|---:|---:|");
            for bin in intent.reliability.iter().filter(|b| b.count > 0) {
                line(
                    &mut out,
                    &format!(
                        "| {:.2}–{:.2} | {} | {} | {} |",
                        bin.lower,
                        bin.upper,
                        bin.count,
                        fraction(bin.mean_confidence),
                        fraction(bin.accuracy)
                    ),
                );
            }
        }

        if !intent.threshold_curve.is_empty() {
            line(&mut out, "");
            line(&mut out, "## Threshold sweep (top-1 kept if probability >= t)");
            line(&mut out, "");
            line(&mut out, "| t | in-scope accuracy | in-scope retention | OOS recall | accuracy |");
            line(&mut out, "|---:|---:|---:|---:|---:|");
            for (p, is_model) in threshold_rows(&intent.threshold_curve, self.model_threshold) {
                let marker = if is_model { " (model)" } else { "" };
                line(
                    &mut out,
                    &format!(
                        "| {:.2}{marker} | {} | {} | {} | {} |",
                        p.threshold,
                        fraction(p.in_scope_accuracy),
                        fraction(p.in_scope_retention),
                        fraction(p.oos_recall),
                        fraction(p.accuracy)
                    ),
                );
            }
        }

        if let Some(entities) = &self.entities {
            line(&mut out, "");
            line(&mut out, "## Entities");
            line(&mut out, "");
            line(
                &mut out,
                &format!(
                    "{} examples, {} gold spans, {} predicted spans.",
                    entities.count, entities.gold_spans, entities.predicted_spans
                ),
            );
            line(&mut out, "");
            line(&mut out, "| match | micro P | micro R | micro F1 | macro F1 |");
            line(&mut out, "|---|---:|---:|---:|---:|");
            for (name, m) in [("exact", &entities.exact), ("partial", &entities.partial)] {
                line(
                    &mut out,
                    &format!(
                        "| {name} | {:.3} | {:.3} | {:.3} | {} |",
                        m.micro_precision,
                        m.micro_recall,
                        m.micro_f1,
                        fraction(m.macro_f1)
                    ),
                );
            }
            if !entities.exact.per_type.is_empty() {
                line(&mut out, "");
                line(&mut out, "Exact match per type (lowest F1 first); partial F1 beside it:");
                line(&mut out, "");
                line(&mut out, "| entity | precision | recall | F1 | partial F1 | support | predicted |");
                line(&mut out, "|---|---:|---:|---:|---:|---:|---:|");
                for (label, m) in worst_first(&entities.exact.per_type) {
                    let partial = entities.partial.per_type.get(label).map(|p| p.f1);
                    line(
                        &mut out,
                        &format!(
                            "| {} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
                            cell(label),
                            m.precision,
                            m.recall,
                            m.f1,
                            fraction(partial),
                            m.support,
                            m.predictions
                        ),
                    );
                }
            }
            if !entities.type_confusion.is_empty() {
                line(&mut out, "");
                line(&mut out, "Type confusions (same or overlapping span, other type):");
                line(&mut out, "");
                line(&mut out, "| gold type | predicted type | count |");
                line(&mut out, "|---|---|---:|");
                for c in &entities.type_confusion {
                    line(&mut out, &format!("| {} | {} | {} |", cell(&c.gold), cell(&c.predicted), c.count));
                }
            }
        }

        if let Some(signals) = &self.signals {
            line(&mut out, "");
            line(&mut out, "## Signals");
            line(&mut out, "");
            line(&mut out, &format!("{} examples, macro F1 {}.", signals.count, fraction(signals.macro_f1)));
            if !signals.per_signal.is_empty() {
                line(&mut out, "");
                label_table(&mut out, "signal", &signals.per_signal);
            }
        }

        if !self.per_language.is_empty() {
            line(&mut out, "");
            line(&mut out, "## Languages");
            line(&mut out, "");
            line(&mut out, "| language | examples | intent accuracy | in-scope accuracy | slot F1 |");
            line(&mut out, "|---|---:|---:|---:|---:|");
            for (language, l) in &self.per_language {
                line(
                    &mut out,
                    &format!(
                        "| {} | {} | {} | {} | {} |",
                        cell(language),
                        l.count,
                        fraction(l.intent_accuracy),
                        fraction(l.in_scope_accuracy),
                        fraction(l.slot_f1)
                    ),
                );
            }
        }
        out
    }
}
