use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime as AwsDateTime};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use sightline_core::ObjectRef;

use crate::{unquote, Object, StorageError};

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

    /// A store configured from the environment (`aws_config` defaults: region, credentials,
    /// `AWS_ENDPOINT_URL`). When an endpoint URL is set (`AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT_URL_S3`), path-style addressing is used, as moto and MinIO need.
    pub async fn from_env() -> S3Store {
        let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
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

    pub(crate) async fn get(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Object, StorageError> {
        const OP: &str = "get_object";
        let out = (self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await)
            .map_err(|e| classify(OP, bucket, key, &e))?;
        let declared = out.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = declared.filter(|&n| n > max_bytes) {
            // Dropping the response closes the connection without reading the body.
            return Err(StorageError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        let etag = out.e_tag().map(unquote);
        let last_modified = out.last_modified().and_then(to_chrono);
        let bytes = read_body(out.body, declared.unwrap_or(0), max_bytes).await?;
        Ok(Object {
            size: bytes.len() as i64,
            bytes,
            etag,
            last_modified,
        })
    }

    pub(crate) async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type);
        request
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify("put_object", bucket, key, &e))?;
        Ok(())
    }

    pub(crate) async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ObjectRef>, StorageError> {
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
            .map_err(|e| classify("list_objects_v2", bucket, prefix, &e))?
        {
            out.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectRef {
                    etag: o.e_tag().map(unquote),
                    size: o.size(),
                    event_time: o.last_modified().and_then(to_chrono),
                    ..ObjectRef::new(bucket, o.key()?)
                })
            }));
        }
        Ok(out)
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<ObjectRef, StorageError> {
        let out = (self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await)
            .map_err(|e| classify("head_object", bucket, key, &e))?;
        Ok(ObjectRef {
            etag: out.e_tag().map(unquote),
            size: out.content_length(),
            version_id: out.version_id().map(str::to_owned),
            event_time: out.last_modified().and_then(to_chrono),
            ..ObjectRef::new(bucket, key)
        })
    }
}

/// Reads a body of (declared) `capacity` bytes, refusing more than `max_bytes` when the
/// response did not declare its length.
async fn read_body(
    mut body: ByteStream,
    capacity: u64,
    max_bytes: u64,
) -> Result<Bytes, StorageError> {
    let mut buf = BytesMut::with_capacity(capacity as usize);
    while let Some(chunk) = body.try_next().await.map_err(|e| StorageError::Transient {
        op: "get_object",
        message: format!("reading the body: {}", DisplayErrorContext(&e)),
    })? {
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

/// The one place where S3 errors are classified.
///
/// * Timeouts, dispatch (connection) failures and unparseable responses: transient.
/// * Service errors by code and HTTP status: `NoSuchKey`/`NotFound`/404 is
///   [`StorageError::NotFound`] (except `NoSuchBucket`, a configuration error);
///   5xx, 429 and throttling codes (`SlowDown`, …) are transient; other statuses are
///   [`StorageError::Permanent`]. A HEAD of a missing bucket returns a bodiless 404 that cannot
///   be told apart from a missing key, so it reads as `NotFound`.
/// * A request that could not be built is permanent.
fn classify<E>(
    op: &'static str,
    bucket: &str,
    key: &str,
    err: &SdkError<E, HttpResponse>,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("");
            let message = format!(
                "HTTP {status} {code}: {}",
                ctx.err().message().unwrap_or_default()
            );
            let throttled = matches!(
                code,
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeout"
                    | "RequestTimeTooSkewed"
                    | "InternalError"
                    | "ServiceUnavailable"
            );
            match (status, code) {
                (_, "NoSuchBucket") => StorageError::Permanent { op, message },
                (404, _) | (_, "NoSuchKey" | "NotFound") => StorageError::NotFound {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                },
                (429 | 500..=599, _) => StorageError::Transient { op, message },
                _ if throttled => StorageError::Transient { op, message },
                _ => StorageError::Permanent { op, message },
            }
        }
        SdkError::ConstructionFailure(_) => StorageError::Permanent {
            op,
            message: DisplayErrorContext(err).to_string(),
        },
        _ => StorageError::Transient {
            op,
            message: DisplayErrorContext(err).to_string(),
        },
    }
}
