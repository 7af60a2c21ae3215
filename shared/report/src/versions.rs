//! Model versions side by side: rows and top-1 accuracy per `model_version` in each window,
//! so a report after a head promotion compares the old champion's rows with the new one's.

use std::collections::BTreeMap;

use sightline_core::ResultRow;

use crate::labels::{normalise_name, ClassRef, GroundTruth};
use crate::summary::VersionRow;

/// One [`VersionRow`] per (window, model version) among `rows`, in version order.
pub fn version_rows(
    window: &str,
    rows: &[ResultRow],
    truth: &GroundTruth,
    catalog: &str,
    incoming_prefix: &str,
) -> Vec<VersionRow> {
    let mut by_version: BTreeMap<(&str, &str), VersionRow> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.error_kind.is_none()) {
        let v = by_version
            .entry((r.model_version.as_str(), r.model.as_str()))
            .or_insert_with(|| VersionRow {
                window: window.to_string(),
                model: r.model.clone(),
                model_version: r.model_version.clone(),
                rows: 0,
                labelled: 0,
                correct: 0,
                accuracy: None,
            });
        v.rows += 1;
        let (Some(class), Some(top1)) = (
            truth.class_of(&r.key, catalog, incoming_prefix),
            r.labels.first(),
        ) else {
            continue;
        };
        v.labelled += 1;
        let right = match class {
            ClassRef::Name(n) => normalise_name(n) == normalise_name(&top1.label),
            ClassRef::Index(i) => *i == top1.class_id,
        };
        v.correct += usize::from(right);
    }
    by_version
        .into_values()
        .map(|mut v| {
            v.accuracy = (v.labelled > 0).then(|| v.correct as f64 / v.labelled as f64);
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::{Label, StageTimings};

    fn row(key: &str, version: &str, label: &str) -> ResultRow {
        ResultRow {
            catalog: "retail".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
            bucket: "b".into(),
            key: key.into(),
            etag: String::new(),
            size_bytes: 0,
            model: "m".into(),
            model_version: version.into(),
            execution_provider: String::new(),
            processed_at: chrono::Utc::now(),
            width: None,
            height: None,
            stats: None,
            labels: vec![Label {
                class_id: 0,
                label: label.into(),
                score: 1.0,
            }],
            tags: vec![],
            detections: vec![],
            embedding: None,
            redacted_key: None,
            redaction_skipped: None,
            faces_redacted: None,
            error_kind: None,
            error: None,
            timings: StageTimings::default(),
        }
    }

    #[test]
    fn each_version_gets_its_own_rows_and_accuracy() {
        let mut truth = GroundTruth::default();
        for k in ["a.jpg", "b.jpg", "c.jpg"] {
            truth
                .classes
                .insert(k.into(), ClassRef::Name("Oat_Milk".into()));
        }
        let rows = [
            row("incoming/retail/a.jpg", "1.0.0", "espresso"),
            row("incoming/retail/b.jpg", "1.0.0+v1", "oat milk"),
            row("incoming/retail/c.jpg", "1.0.0+v1", "juice"),
            row("incoming/retail/d.jpg", "1.0.0+v1", "juice"),
        ];
        let v = version_rows("current", &rows, &truth, "retail", "incoming/");
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].model_version.as_str(), v[0].rows, v[0].accuracy),
            ("1.0.0", 1, Some(0.0))
        );
        assert_eq!((v[1].rows, v[1].labelled, v[1].accuracy), (3, 2, Some(0.5)));
    }
}
