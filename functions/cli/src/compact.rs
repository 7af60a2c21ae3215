//! `sightline compact`: merges the small files of results partitions (the embedded
//! folder or an S3 bucket); see `sightline_lake` for the protocol.

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, TimeDelta, Utc};
use clap::Args;
use sightline_core::Settings;
use sightline_lake::{compact_partition, partition_dates, CompactOptions, PartitionReport};

use crate::bucket::BucketArgs;

/// Arguments of `sightline compact`.
#[derive(Args)]
pub struct CompactArgs {
    /// The catalog whose partitions are compacted.
    #[arg(long)]
    pub catalog: String,
    /// One day (YYYY-MM-DD) [default: every day the catalog has files].
    #[arg(long, conflicts_with = "dates")]
    pub date: Option<NaiveDate>,
    /// A range of days, both ends included: FROM..TO (YYYY-MM-DD..YYYY-MM-DD).
    #[arg(long)]
    pub dates: Option<String>,
    #[command(flatten)]
    pub place: BucketArgs,
    /// Target size of a compacted file, in MiB.
    #[arg(long, default_value_t = 128)]
    pub target_mb: u64,
    /// Minutes merged files stay after their compacted file is written, for queries
    /// that already listed them (0: deleted at once; use more than your longest query
    /// when others read the bucket).
    #[arg(long, default_value_t = 0)]
    pub grace_minutes: i64,
    /// Print one JSON line per partition instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sightline compact`.
pub async fn run(settings: Settings, a: CompactArgs) -> Result<()> {
    let (store, bucket) = a.place.open().await?;
    let mut opts = CompactOptions::new(settings.results_prefix.clone());
    opts.target_bytes = a.target_mb.max(1) << 20;
    opts.max_merge_bytes = 4 * opts.target_bytes;
    opts.grace = TimeDelta::minutes(a.grace_minutes.max(0));
    let dates = match (a.date, &a.dates) {
        (Some(d), _) => vec![d],
        (None, Some(range)) => parse_range(range)?,
        (None, None) => {
            partition_dates(&store, &bucket, &settings.results_prefix, &a.catalog).await?
        }
    };
    if !a.json {
        println!("date        files before  after  rows read  written  MB read  MB written  note");
    }
    for date in dates {
        let report = compact_partition(&store, &bucket, &a.catalog, date, &opts, Utc::now())
            .await
            .with_context(|| format!("compacting catalog {} date {date}", a.catalog))?;
        print(&report, a.json)?;
    }
    Ok(())
}

/// `FROM..TO`, both ends included.
fn parse_range(range: &str) -> Result<Vec<NaiveDate>> {
    let Some((from, to)) = range.split_once("..") else {
        bail!("--dates wants FROM..TO (YYYY-MM-DD..YYYY-MM-DD), got {range:?}");
    };
    let day = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .with_context(|| format!("--dates: {s:?} is not a YYYY-MM-DD date"))
    };
    let (from, to) = (day(from)?, day(to)?);
    if to < from {
        bail!("--dates: {to} is before {from}");
    }
    Ok(from.iter_days().take_while(|d| *d <= to).collect())
}

fn print(r: &PartitionReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let note = match () {
        _ if r.busy => "another compaction holds this partition; skipped".to_string(),
        _ if r.pending > 0 => format!("{} merge(s) wait for the grace period", r.pending),
        _ if r.rolled_back > 0 => format!("{} crashed merge(s) undone", r.rolled_back),
        _ => String::new(),
    };
    let date = r.date.map(|d| d.to_string()).unwrap_or_default();
    println!(
        "{date}  {:>12}  {:>5}  {:>9}  {:>7}  {:>7.1}  {:>10.1}  {note}",
        r.files_before,
        r.files_after,
        r.rows_read,
        r.rows_written,
        mb(r.bytes_read),
        mb(r.bytes_written)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges() {
        let days = parse_range("2026-11-30..2026-12-02").unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!(days[2].to_string(), "2026-12-02");
        assert!(parse_range("2026-12-02..2026-11-30").is_err());
        assert!(parse_range("2026-12-02").is_err());
    }
}
