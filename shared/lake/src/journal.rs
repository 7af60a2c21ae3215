//! The compaction journal: what one merge read and wrote, written before its output, so
//! that a crash at any step leaves enough to finish or undo the merge.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sightline_storage::Store;

use crate::LakeError;

/// The journal folder of a partition: `<prefix>_compaction/<catalog>/<YYYY-MM-DD>/`
/// (outside every `catalog=…/date=…/` partition; Athena and Hive skip `_` folders).
pub fn journal_dir(prefix: &str, catalog: &str, date: NaiveDate) -> String {
    format!("{prefix}_compaction/{catalog}/{}/", date.format("%Y-%m-%d"))
}

/// One input file of a merge, as it was listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalInput {
    pub key: String,
    pub etag: String,
}

/// One merge: its inputs (deleted once the journal is older than the grace period) and
/// its outputs (which must all exist before any input is deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Journal {
    pub written_at: DateTime<Utc>,
    pub inputs: Vec<JournalInput>,
    pub outputs: Vec<String>,
}

impl Journal {
    /// Its key in `dir`: named after its first output.
    pub fn key(&self, dir: &str) -> String {
        let first = self.outputs.first().map(String::as_str).unwrap_or("empty");
        let name = first.rsplit('/').next().unwrap_or(first);
        format!("{dir}{}.json", name.trim_end_matches(".parquet"))
    }

    pub async fn read(store: &Store, bucket: &str, key: &str) -> Result<Journal, LakeError> {
        let object = store.get(bucket, key, 64 << 20).await?;
        serde_json::from_slice(&object.bytes).map_err(|e| LakeError::Invalid {
            what: "journal",
            key: key.to_string(),
            message: e.to_string(),
        })
    }

    pub async fn write(&self, store: &Store, bucket: &str, key: &str) -> Result<(), LakeError> {
        let body = serde_json::to_vec_pretty(self).map_err(|e| LakeError::Invalid {
            what: "journal",
            key: key.to_string(),
            message: e.to_string(),
        })?;
        store
            .put(bucket, key, Bytes::from(body), "application/json")
            .await?;
        Ok(())
    }
}
