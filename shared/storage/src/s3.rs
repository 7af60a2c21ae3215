use std::sync::Arc;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime as AwsDateTime};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use sightline_aws::{AwsError, Class};
use sightline_core::{unquote_etag, ObjectRef};

use crate::{Object, Precondition, Result, StorageError};

/// Amazon S3, or an S3-compatible endpoint (moto, MinIO), through `aws-sdk-s3`.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    endpoint: Option<Arc<str>>,
}

impl S3Store {
    /// A store using an already configured client.
    pub fn new(client: Client) -> S3Store {
        S3Store {
            client,
            endpoint: None,
        }
    }

    /// A store configured from the environment ([`sightline_aws::load_config`]: region,
    /// credentials, `AWS_ENDPOINT_URL`). When an endpoint URL is set (`AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT_URL_S3`), path-style addressing is used, as moto and MinIO need.
    pub async fn from_env() -> S3Store {
        let shared = sightline_aws::load_config().await;
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
            .or_else(|| shared.endpoint_url().map(str::to_owned));
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(endpoint.is_some())
            .build();
        S3Store {
            client: Client::from_conf(config),
            endpoint: endpoint.map(Into::into),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn describe(&self) -> String {
        match &self.endpoint {
            Some(url) => format!("s3 (endpoint {url})"),
            None => "s3".to_owned(),
        }
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Object> {
        let request = self.client.get_object().bucket(bucket).key(key);
        let out = (request.send().await).map_err(|e| error("get_object", bucket, key, &e))?;
        let declared = out.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = declared.filter(|&n| n > max_bytes) {
            // Dropping the response closes the connection without reading the body.
            return Err(StorageError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        let etag = out.e_tag().map(unquote_etag);
        let last_modified = out.last_modified().and_then(to_chrono);
        let target = format!("{bucket}/{key}");
        let bytes = read_body(out.body, declared.unwrap_or(0), max_bytes, target).await?;
        Ok(Object {
            size: bytes.len() as i64,
            bytes,
            etag,
            last_modified,
        })
    }

    /// Writes `body` with the content type `mime`.
    pub(crate) async fn put(&self, bucket: &str, key: &str, body: Bytes, mime: &str) -> Result<()> {
        let request = self.client.put_object().bucket(bucket).key(key);
        (request.content_type(mime).body(ByteStream::from(body)))
            .send()
            .await
            .map_err(|e| error("put_object", bucket, key, &e))?;
        Ok(())
    }

    pub(crate) async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        mime: &str,
        expect: &Precondition,
    ) -> Result<()> {
        let request = self.client.put_object().bucket(bucket).key(key);
        let request = match expect {
            Precondition::Absent => request.if_none_match("*"),
            Precondition::Etag(etag) => request.if_match(format!("\"{etag}\"")),
        };
        let sent = request
            .content_type(mime)
            .body(ByteStream::from(body))
            .send()
            .await;
        sent.map_err(|e| match error("put_object", bucket, key, &e) {
            // If-Match on a missing object answers 404: not as expected either.
            StorageError::NotFound { .. } => precondition_failed(key),
            StorageError::S3(e) if is_precondition(&e) => precondition_failed(key),
            other => other,
        })?;
        Ok(())
    }

    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectRef>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|e| error("list_objects_v2", bucket, prefix, &e))?
        {
            out.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectRef {
                    etag: o.e_tag().map(unquote_etag),
                    size: o.size(),
                    event_time: o.last_modified().and_then(to_chrono),
                    ..ObjectRef::new(bucket, o.key()?)
                })
            }));
        }
        Ok(out)
    }

    pub(crate) async fn delete(&self, bucket: &str, keys: &[String]) -> Result<()> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        for chunk in keys.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>();
            let delete =
                ids.and_then(|ids| Delete::builder().set_objects(Some(ids)).quiet(true).build());
            let delete = delete.map_err(|e| StorageError::DeleteFailed {
                key: format!("{bucket}/{}", chunk[0]),
                message: e.to_string(),
            })?;
            let request = self.client.delete_objects().bucket(bucket).delete(delete);
            let out = (request.send().await)
                .map_err(|e| error("delete_objects", bucket, &chunk[0], &e))?;
            if let Some(failed) = out.errors().first() {
                return Err(StorageError::DeleteFailed {
                    key: format!("{bucket}/{}", failed.key().unwrap_or_default()),
                    message: format!(
                        "{} {}",
                        failed.code().unwrap_or_default(),
                        failed.message().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<ObjectRef> {
        let request = self.client.head_object().bucket(bucket).key(key);
        let out = (request.send().await).map_err(|e| error("head_object", bucket, key, &e))?;
        Ok(ObjectRef {
            etag: out.e_tag().map(unquote_etag),
            size: out.content_length(),
            version_id: out.version_id().map(str::to_owned),
            event_time: out.last_modified().and_then(to_chrono),
            ..ObjectRef::new(bucket, key)
        })
    }
}

/// Reads the body of `target` (`bucket/key`), of (declared) `capacity` bytes, refusing more
/// than `max_bytes` when the response did not declare its length. A body that breaks off is
/// a transient failure.
async fn read_body(
    mut body: ByteStream,
    capacity: u64,
    max_bytes: u64,
    target: String,
) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(capacity as usize);
    let broken = |e| {
        let message = format!("reading the body: {}", DisplayErrorContext(&e));
        AwsError::new("get_object", target.clone(), Class::Transient, message)
    };
    while let Some(chunk) = body.try_next().await.map_err(broken)? {
        if (buf.len() + chunk.len()) as u64 > max_bytes {
            return Err(StorageError::TooLarge {
                size: (buf.len() + chunk.len()) as u64,
                limit: max_bytes,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn to_chrono(t: &AwsDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// S3's answers to a refused conditional write: 412 `PreconditionFailed`, or 409
/// `ConditionalRequestConflict` when another conditional write to the key is in flight.
fn is_precondition(e: &AwsError) -> bool {
    matches!(
        e.code.as_deref(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) || matches!(e.status, Some(412 | 409))
}

fn precondition_failed(key: &str) -> StorageError {
    StorageError::PreconditionFailed {
        key: key.to_owned(),
    }
}

/// A failed S3 call about `bucket/key` (or `bucket/prefix`), as classified by
/// [`AwsError::from_sdk`]: a missing object (HTTP 404, `NoSuchKey`, `NotFound`) is
/// [`StorageError::NotFound`]; a missing bucket (`NoSuchBucket`, a configuration error) and
/// everything else is [`StorageError::S3`]. A HEAD of a missing bucket returns a bodiless 404
/// that cannot be told apart from a missing key, so it reads as `NotFound`.
fn error<E>(
    op: &'static str,
    bucket: &str,
    key: &str,
    err: &SdkError<E, HttpResponse>,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let e = AwsError::from_sdk(op, format!("{bucket}/{key}"), err);
    if e.class == Class::NotFound && e.code.as_deref() != Some("NoSuchBucket") {
        StorageError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }
    } else {
        StorageError::S3(e)
    }
}
