//! What Sightline's AWS clients (S3 in `sightline-storage`, SQS in `sightline-queue`) share:
//!
//! * [`load_config`]: the SDK configuration from the environment;
//! * [`AwsError`]: a failed call, classified once ([`Class`]) as transient, "not found" or
//!   permanent, with its HTTP status, error code and message. [`AwsError::from_sdk`] is the
//!   one place where SDK errors are classified; each crate wraps the result in its own error
//!   type.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use aws_config::SdkConfig;

/// The shared SDK configuration from the environment: `aws_config` defaults with the latest
/// behavior version (region, credentials, profiles, `AWS_ENDPOINT_URL` and the per-service
/// `AWS_ENDPOINT_URL_*`).
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Error codes that mean "slow down or try again": throttling and server-side trouble of S3
/// (`SlowDown`, `RequestTimeout`, …) and SQS (`RequestThrottled`, `KmsThrottled`, …).
pub const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "KmsThrottled",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
];

/// Error codes that mean "what the call names does not exist" (S3 objects and buckets, SQS
/// queues), whatever the HTTP status.
pub const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

/// What retrying a failed call can achieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// It may succeed on retry: HTTP 5xx or 429, a [throttling code](TRANSIENT_CODES), a
    /// timeout, a connection failure, a response that could not be read.
    Transient,
    /// What the call names does not exist: HTTP 404 or a [not-found code](NOT_FOUND_CODES)
    /// (a missing object, bucket or queue). Retrying the same call will not help.
    NotFound,
    /// Retrying will not help: any other service error (access denied, invalid request,
    /// invalid receipt handle), or a request that could not be built.
    Permanent,
}

/// A failed AWS call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The operation (`receive_message`, `get_object`, …).
    pub op: &'static str,
    /// What the call was about: a queue URL, `bucket/key`, `bucket/prefix`.
    pub target: String,
    /// What retrying can achieve.
    pub class: Class,
    /// The HTTP status of the response, when there was one.
    pub status: Option<u16>,
    /// The service's error code (`NoSuchKey`, `AccessDenied`, …), when it sent one.
    pub code: Option<String>,
    /// The service's message, or a description of the failure (with its causes).
    pub message: String,
}

impl AwsError {
    /// A failure that did not come from the SDK as an error (e.g. batch entries the service
    /// refused, a body that broke off while streaming).
    pub fn new(
        op: &'static str,
        target: impl Into<String>,
        class: Class,
        message: impl Into<String>,
    ) -> AwsError {
        AwsError {
            op,
            target: target.into(),
            class,
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// Classifies an SDK error of the call `op` about `target`.
    ///
    /// * A service error: HTTP 5xx, 429 or a [throttling code](TRANSIENT_CODES) is
    ///   [`Class::Transient`]; then HTTP 404 or a [not-found code](NOT_FOUND_CODES) is
    ///   [`Class::NotFound`]; anything else [`Class::Permanent`].
    /// * A request that could not be built: [`Class::Permanent`].
    /// * A timeout, a connection (dispatch) failure or a response that could not be parsed:
    ///   [`Class::Transient`].
    pub fn from_sdk<E>(
        op: &'static str,
        target: impl Into<String>,
        err: &SdkError<E, HttpResponse>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let (class, code, message) = match err {
            SdkError::ServiceError(ctx) => {
                let code = ctx.err().code().map(str::to_owned);
                let message = ctx.err().message().unwrap_or_default().to_owned();
                (service_class(status, code.as_deref()), code, message)
            }
            SdkError::ConstructionFailure(_) => (Class::Permanent, None, context(err)),
            _ => (Class::Transient, None, context(err)),
        };
        AwsError {
            op,
            target: target.into(),
            class,
            status,
            code,
            message,
        }
    }

    /// Whether a retry may succeed ([`Class::Transient`]).
    pub fn is_transient(&self) -> bool {
        self.class == Class::Transient
    }
}

/// `{op} on {target} failed[ (transient)]: [HTTP {status} ][{code}: ]{message}`.
impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} failed", self.op, self.target)?;
        if self.is_transient() {
            f.write_str(" (transient)")?;
        }
        f.write_str(": ")?;
        if let Some(status) = self.status {
            write!(f, "HTTP {status} ")?;
        }
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for AwsError {}

fn service_class(status: Option<u16>, code: Option<&str>) -> Class {
    let status = status.unwrap_or(0);
    let code = code.unwrap_or("");
    if status == 429 || status >= 500 || TRANSIENT_CODES.contains(&code) {
        Class::Transient
    } else if status == 404 || NOT_FOUND_CODES.contains(&code) {
        Class::NotFound
    } else {
        Class::Permanent
    }
}

/// The error with its chain of causes (the SDK's own `Display` says only "service error").
fn context<E: std::error::Error + 'static>(err: &SdkError<E, HttpResponse>) -> String {
    DisplayErrorContext(err).to_string()
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn service(status: u16, code: Option<&str>) -> AwsError {
        let mut meta = ErrorMetadata::builder().message("it went wrong");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let err = SdkError::service_error(meta.build(), raw);
        AwsError::from_sdk("get_object", "b/k", &err)
    }

    #[test]
    fn service_errors_by_status_and_code() {
        for (status, code, class) in [
            (503, Some("SlowDown"), Class::Transient),
            (500, None, Class::Transient),
            (429, None, Class::Transient),
            (400, Some("ThrottlingException"), Class::Transient),
            (400, Some("RequestThrottled"), Class::Transient),
            (404, None, Class::NotFound),
            (404, Some("NoSuchKey"), Class::NotFound),
            (404, Some("NoSuchBucket"), Class::NotFound),
            (
                400,
                Some("AWS.SimpleQueueService.NonExistentQueue"),
                Class::NotFound,
            ),
            (403, Some("AccessDenied"), Class::Permanent),
            (400, Some("ReceiptHandleIsInvalid"), Class::Permanent),
        ] {
            let e = service(status, code);
            assert_eq!(e.class, class, "{status} {code:?}");
            assert_eq!((e.status, e.code.as_deref()), (Some(status), code));
            assert_eq!(e.is_transient(), class == Class::Transient);
        }
    }

    #[test]
    fn display_names_the_call_and_its_target() {
        assert_eq!(
            service(403, Some("AccessDenied")).to_string(),
            "get_object on b/k failed: HTTP 403 AccessDenied: it went wrong"
        );
        assert_eq!(
            AwsError::new(
                "send_message_batch",
                "q",
                Class::Transient,
                "2 entries failed"
            )
            .to_string(),
            "send_message_batch on q failed (transient): 2 entries failed"
        );
    }

    #[test]
    fn failures_without_a_service_answer() {
        type Err = SdkError<ErrorMetadata, HttpResponse>;
        let built: Err = SdkError::construction_failure("missing field `bucket`");
        let e = AwsError::from_sdk("put_object", "b/k", &built);
        assert_eq!((e.class, e.status), (Class::Permanent, None));
        assert!(e.message.contains("missing field `bucket`"), "{e}");

        let timeout: Err = SdkError::timeout_error("read timed out");
        assert_eq!(
            AwsError::from_sdk("op", "t", &timeout).class,
            Class::Transient
        );
        let io: Err = SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let e = AwsError::from_sdk("op", "t", &io);
        assert_eq!(e.class, Class::Transient);
        assert!(e.message.contains("connection refused"), "{e}");
    }
}
