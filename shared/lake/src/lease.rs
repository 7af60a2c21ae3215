//! One compaction at a time per partition: a lease object created only if absent, taken
//! over only when it has expired (a compaction that crashed), released by its owner.

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sightline_storage::{Precondition, StorageError, Store};

use crate::LakeError;

#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    owner: String,
    expires_at: DateTime<Utc>,
}

/// A held lease; [`Lease::release`] gives it back.
#[derive(Debug)]
pub(crate) struct Lease {
    key: String,
    owner: String,
}

impl Lease {
    /// Takes the lease at `key` for `ttl`, or `None` when another compaction holds it.
    pub async fn acquire(
        store: &Store,
        bucket: &str,
        key: String,
        ttl: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, LakeError> {
        let owner = format!(
            "{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let body = serde_json::to_vec(&LeaseBody {
            owner: owner.clone(),
            expires_at: now + ttl,
        })
        .map_err(|e| invalid(&key, e))?;
        let put = |expect: Precondition| {
            let body = Bytes::from(body.clone());
            let key = key.clone();
            async move {
                store
                    .put_if(bucket, &key, body, "application/json", &expect)
                    .await
            }
        };
        let held = Lease {
            key: key.clone(),
            owner: owner.clone(),
        };
        match put(Precondition::Absent).await {
            Ok(()) => return Ok(Some(held)),
            Err(StorageError::PreconditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let current = match store.get(bucket, &key, 1 << 20).await {
            Ok(o) => o,
            // Released between our two calls: the next run takes it.
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let lease: LeaseBody =
            serde_json::from_slice(&current.bytes).map_err(|e| invalid(&key, e))?;
        let (Some(etag), true) = (current.etag, lease.expires_at <= now) else {
            return Ok(None);
        };
        match put(Precondition::Etag(etag)).await {
            Ok(()) => Ok(Some(held)),
            Err(StorageError::PreconditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the lease if it is still this holder's.
    pub async fn release(self, store: &Store, bucket: &str) -> Result<(), LakeError> {
        let current = match store.get(bucket, &self.key, 1 << 20).await {
            Ok(o) => o,
            Err(StorageError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let lease: LeaseBody =
            serde_json::from_slice(&current.bytes).map_err(|e| invalid(&self.key, e))?;
        if lease.owner == self.owner {
            store
                .delete(bucket, std::slice::from_ref(&self.key))
                .await?;
        }
        Ok(())
    }
}

fn invalid(key: &str, e: serde_json::Error) -> LakeError {
    LakeError::Invalid {
        what: "lease",
        key: key.to_string(),
        message: e.to_string(),
    }
}
