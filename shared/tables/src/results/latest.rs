//! One row per identity: how every reader of the results table sees it.
//!
//! Delivery is at least once: a redelivered notification, a worker killed between its
//! Parquet write and its acknowledgement, or a backfill over objects already processed
//! writes the same object version again, possibly grouped with other objects into a
//! different file. Those rows share a [`RowIdentity`](sightline_core::RowIdentity)
//! (bucket, key, ETag, model version); readers keep the latest by `processed_at`. The SQL
//! views `results_latest` (`infra/athena/results.sql`, `infra/duckdb/views.sql`) apply the
//! same rule, and compaction applies it on disk.

use std::collections::HashMap;

use sightline_core::ResultRow;

/// Keeps one row per identity, the one with the latest `processed_at` (the first seen on
/// a tie), sorted by (catalog, date, key, model version, ETag).
pub fn latest_rows(rows: impl IntoIterator<Item = ResultRow>) -> Vec<ResultRow> {
    let mut kept: Vec<ResultRow> = Vec::new();
    let mut index: HashMap<IdentityKey, usize> = HashMap::new();
    for row in rows {
        match index.get(&IdentityKey::of(&row)) {
            Some(&i) if kept[i].processed_at >= row.processed_at => {}
            Some(&i) => kept[i] = row,
            None => {
                index.insert(IdentityKey::of(&row), kept.len());
                kept.push(row);
            }
        }
    }
    kept.sort_by(|a, b| {
        (&a.catalog, a.date, &a.key, &a.model_version, &a.etag).cmp(&(
            &b.catalog,
            b.date,
            &b.key,
            &b.model_version,
            &b.etag,
        ))
    });
    kept
}

/// An owned [`RowIdentity`](sightline_core::RowIdentity), for the index.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IdentityKey([String; 4]);

impl IdentityKey {
    fn of(row: &ResultRow) -> IdentityKey {
        let id = row.identity();
        IdentityKey([id.bucket, id.key, id.etag, id.model_version].map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn row(key: &str, etag: &str, version: &str, second: u32) -> ResultRow {
        let mut r = crate::results::tests::sample_row(key);
        r.etag = etag.into();
        r.model_version = version.into();
        r.processed_at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, second).unwrap();
        r
    }

    #[test]
    fn one_row_per_object_version_and_model_version_the_latest_wins() {
        let rows = vec![
            row("a.jpg", "e1", "v1", 1),
            row("b.jpg", "e1", "v1", 2),
            row("a.jpg", "e1", "v1", 5), // redelivery: replaces the first
            row("a.jpg", "e1", "v1", 3), // older duplicate: ignored
            row("a.jpg", "e2", "v1", 4), // new content at the same key: its own row
            row("a.jpg", "e1", "v2", 4), // new model version: its own row
        ];
        let got = latest_rows(rows);
        let ids: Vec<(&str, &str, &str, u32)> = got
            .iter()
            .map(|r| {
                use chrono::Timelike;
                (
                    r.key.as_str(),
                    r.etag.as_str(),
                    r.model_version.as_str(),
                    r.processed_at.second(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("a.jpg", "e1", "v1", 5),
                ("a.jpg", "e2", "v1", 4),
                ("a.jpg", "e1", "v2", 4),
                ("b.jpg", "e1", "v1", 2),
            ]
        );
    }
}
