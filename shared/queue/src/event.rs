//! Parsing of the message bodies that announce new objects, and building of S3
//! notifications for backfills.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::{S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sightline_core::{unquote_etag, ObjectRef};

use crate::QueueError;

/// The objects announced by one message body.
///
/// Accepted bodies:
/// * an S3 event notification (`{"Records":[…]}`), as S3 delivers it to SQS. Only
///   `ObjectCreated:*` records are kept. Parsing is tolerant of moto's shape (no
///   `userIdentity`, `requestParameters`, …; `eventTime` without a time zone, read as UTC);
/// * the `s3:TestEvent` S3 sends when notifications are configured: no objects;
/// * an EventBridge event from `aws.s3`: one object for `Object Created`, none for other
///   detail types (`Object Deleted`, …);
/// * an SNS notification whose `Message` is one of the above.
///
/// Keys are URL-decoded with form encoding (`+` is a space, `%2B` a plus), which gives the
/// right key both for AWS (`a/b+c%2B.jpg`) and moto (`a%2Fb+c%2B.jpg`). ETag quotes are
/// stripped, and `event_time` is the event's time. Anything else is
/// [`QueueError::BadMessage`].
pub fn parse_body(body: &str) -> Result<Vec<ObjectRef>, QueueError> {
    let value: Value = serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    parse_value(value, true)
}

fn parse_value(value: Value, allow_sns: bool) -> Result<Vec<ObjectRef>, QueueError> {
    let Value::Object(mut map) = value else {
        return Err(bad("not a JSON object"));
    };
    if map.contains_key("Records") {
        parse_s3_notification(map)
    } else if map.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        Ok(Vec::new())
    } else if map.contains_key("detail-type") {
        parse_eventbridge(Value::Object(map))
    } else if allow_sns && map.get("Type").and_then(Value::as_str) == Some("Notification") {
        match map.remove("Message") {
            Some(Value::String(message)) => {
                let inner = serde_json::from_str(&message)
                    .map_err(|e| bad(format!("SNS Message is not JSON: {e}")))?;
                parse_value(inner, false)
            }
            _ => Err(bad("SNS notification without a string Message")),
        }
    } else {
        Err(bad(
            "neither an S3 notification, an EventBridge event nor an SNS notification",
        ))
    }
}

fn parse_s3_notification(mut map: Map<String, Value>) -> Result<Vec<ObjectRef>, QueueError> {
    // aws_lambda_events requires fields that moto leaves out: fill them with empty objects.
    // moto also writes `eventTime` without a time zone.
    if let Some(Value::Array(records)) = map.get_mut("Records") {
        for record in records.iter_mut().filter_map(Value::as_object_mut) {
            for field in ["userIdentity", "requestParameters"] {
                let entry = record.entry(field).or_insert(Value::Null);
                if entry.is_null() {
                    *entry = Value::Object(Map::new());
                }
            }
            if let Some(time) = record.get_mut("eventTime") {
                assume_utc(time);
            }
        }
    }
    let event: S3Event = serde_json::from_value(Value::Object(map))
        .map_err(|e| bad(format!("invalid S3 event notification: {e}")))?;
    event
        .records
        .into_iter()
        .filter(|r| {
            r.event_name.as_deref().is_some_and(|n| {
                n.starts_with("ObjectCreated:") || n.starts_with("s3:ObjectCreated:")
            })
        })
        .map(|r| {
            let (bucket, object) = (r.s3.bucket, r.s3.object);
            Ok(ObjectRef {
                etag: object.e_tag.as_deref().map(unquote_etag),
                size: object.size,
                version_id: object.version_id.filter(|v| !v.is_empty()),
                event_time: Some(r.event_time),
                ..ObjectRef::new(
                    bucket
                        .name
                        .ok_or_else(|| bad("S3 record without bucket name"))?,
                    decode_key(
                        &object
                            .key
                            .ok_or_else(|| bad("S3 record without object key"))?,
                    ),
                )
            })
        })
        .collect()
}

/// The `detail` of an S3 EventBridge event (`aws_lambda_events` has no type for it).
#[derive(Debug, Deserialize)]
struct S3Detail {
    bucket: DetailBucket,
    object: DetailObject,
}

#[derive(Debug, Deserialize)]
struct DetailBucket {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct DetailObject {
    key: String,
    size: Option<i64>,
    etag: Option<String>,
    version_id: Option<String>,
}

fn parse_eventbridge(mut value: Value) -> Result<Vec<ObjectRef>, QueueError> {
    if let Some(time) = value.get_mut("time") {
        assume_utc(time);
    }
    let event: EventBridgeEvent<Value> = serde_json::from_value(value)
        .map_err(|e| bad(format!("invalid EventBridge event: {e}")))?;
    if event.source != "aws.s3" {
        return Err(bad(format!(
            "EventBridge event from {:?}, not aws.s3",
            event.source
        )));
    }
    if event.detail_type != "Object Created" {
        tracing::debug!(detail_type = %event.detail_type, "ignoring S3 EventBridge event");
        return Ok(Vec::new());
    }
    let detail: S3Detail = serde_json::from_value(event.detail)
        .map_err(|e| bad(format!("invalid S3 Object Created detail: {e}")))?;
    Ok(vec![ObjectRef {
        etag: detail.object.etag.as_deref().map(unquote_etag),
        size: detail.object.size,
        version_id: detail.object.version_id.filter(|v| !v.is_empty()),
        event_time: event.time,
        ..ObjectRef::new(detail.bucket.name, decode_key(&detail.object.key))
    }])
}

/// An S3 event notification body announcing `objects` as `ObjectCreated:Put`, with keys
/// encoded like AWS does (form encoding per path segment: space as `+`, `+` as `%2B`,
/// non-ASCII percent-encoded, `/` kept). [`parse_body`] reads it back unchanged; an object
/// without `event_time` gets the current time.
pub fn s3_event_body(objects: &[ObjectRef]) -> String {
    let mut event = S3Event::default();
    event.records = objects
        .iter()
        .map(|o| {
            let mut bucket = S3Bucket::default();
            bucket.name = Some(o.bucket.clone());
            bucket.arn = Some(format!("arn:aws:s3:::{}", o.bucket));
            let mut object = S3Object::default();
            object.key = Some(encode_key(&o.key));
            object.size = o.size;
            object.e_tag.clone_from(&o.etag);
            object.version_id.clone_from(&o.version_id);
            let mut s3 = S3Entity::default();
            s3.schema_version = Some("1.0".into());
            s3.configuration_id = Some("sightline-backfill".into());
            s3.bucket = bucket;
            s3.object = object;
            let mut record = S3EventRecord::default();
            record.event_version = Some("2.1".into());
            record.event_source = Some("aws:s3".into());
            record.event_name = Some("ObjectCreated:Put".into());
            record.event_time = o.event_time.unwrap_or_else(Utc::now);
            record.s3 = s3;
            record
        })
        .collect();
    // An S3Event is plain data (strings, numbers, maps): serializing it cannot fail.
    serde_json::to_string(&event).unwrap_or_default()
}

/// Rewrites a timestamp without a time zone (`2026-11-26T16:34:02.768512`, as moto writes
/// it) as UTC in RFC 3339, which `chrono` requires. Other values are left alone.
fn assume_utc(time: &mut Value) {
    let Some(s) = time.as_str() else { return };
    if DateTime::parse_from_rfc3339(s).is_err() {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
            *time = naive
                .and_utc()
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                .into();
        }
    }
}

/// Form-decodes an event key. Raw `&` and `=` are escaped first, so that the form parser
/// sees the whole key as one name.
fn decode_key(raw: &str) -> String {
    let escaped = raw.replace('&', "%26").replace('=', "%3D");
    form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default()
}

/// Form-encodes a key per `/`-separated segment, as S3 does in event notifications.
fn encode_key(key: &str) -> String {
    let segments: Vec<String> = key
        .split('/')
        .map(|s| form_urlencoded::byte_serialize(s.as_bytes()).collect())
        .collect();
    segments.join("/")
}

fn bad(reason: impl Into<String>) -> QueueError {
    QueueError::BadMessage {
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

    /// Parses a Lambda SQS event file and every record's body.
    fn parse_sample(json: &str) -> Vec<(SqsMessage, Vec<ObjectRef>)> {
        let event: SqsEvent = serde_json::from_str(json).expect("valid SqsEvent");
        event
            .records
            .into_iter()
            .map(|r| {
                let body = r.body.clone().unwrap_or_default();
                let objects = parse_body(&body).expect("parsable body");
                (r, objects)
            })
            .collect()
    }

    fn keys(parsed: &[(SqsMessage, Vec<ObjectRef>)]) -> Vec<&str> {
        parsed
            .iter()
            .flat_map(|(_, o)| o)
            .map(|o| o.key.as_str())
            .collect()
    }

    fn time(s: &str) -> Option<DateTime<Utc>> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn aws_put_notifications() {
        let parsed = parse_sample(include_str!("../../../events/sqs-s3-put.json"));
        assert_eq!(
            keys(&parsed),
            [
                "incoming/retail/shelf photo 1.jpg",
                "incoming/retail/price+tag.jpg",
                "incoming/retail/café/naïve 1+1.jpg"
            ]
        );
        let objects = &parsed[0].1;
        assert_eq!(
            objects[0],
            ObjectRef {
                etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                size: Some(482_113),
                version_id: Some("096fKKXTRTtl3on89fVO.nfljtsv6qko".into()),
                event_time: time("2026-11-26T09:14:03.512Z"),
                ..ObjectRef::new("sightline-demo", "incoming/retail/shelf photo 1.jpg")
            }
        );
    }

    #[test]
    fn test_event_has_no_objects() {
        let parsed = parse_sample(include_str!("../../../events/sqs-s3-test-event.json"));
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].1.is_empty());
    }

    #[test]
    fn moto_shaped_notification() {
        let parsed = parse_sample(include_str!("../../../events/sqs-moto-shape.json"));
        assert_eq!(keys(&parsed), ["incoming/retail/cam 1/img+1.jpg"]);
        let object = &parsed[0].1[0];
        assert_eq!(object.size, Some(5_242_880));
        assert_eq!(
            object.event_time,
            time("2026-11-26T09:20:11.768512Z"),
            "moto's zone-less time is UTC"
        );
    }

    #[test]
    fn eventbridge_object_created() {
        let expected = ObjectRef {
            etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
            size: Some(73012),
            version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e".into()),
            event_time: time("2026-11-26T09:30:42Z"),
            ..ObjectRef::new("sightline-demo", "incoming/retail/aisle 7/end+cap.jpg")
        };
        let bare = parse_body(include_str!(
            "../../../events/eventbridge-object-created.json"
        ))
        .unwrap();
        assert_eq!(bare, std::slice::from_ref(&expected));
        let parsed = parse_sample(include_str!("../../../events/sqs-eventbridge.json"));
        assert_eq!(parsed[0].1, [expected]);
    }

    #[test]
    fn sns_envelope() {
        let inner = s3_event_body(&[ObjectRef::new("b", "a b/c+d.jpg")]);
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "x", "Message": inner})
            .to_string();
        assert_eq!(parse_body(&sns).unwrap()[0].key, "a b/c+d.jpg");
    }

    #[test]
    fn other_event_names_and_detail_types_are_skipped() {
        let body = include_str!("../../../events/eventbridge-object-created.json")
            .replace("Object Created", "Object Deleted");
        assert_eq!(parse_body(&body).unwrap(), []);
        let mut event: Value =
            serde_json::from_str(&s3_event_body(&[ObjectRef::new("b", "k")])).unwrap();
        event["Records"][0]["eventName"] = "ObjectRemoved:Delete".into();
        assert_eq!(parse_body(&event.to_string()).unwrap(), []);
        event["Records"][0]["eventName"] = "s3:ObjectCreated:Copy".into();
        assert_eq!(parse_body(&event.to_string()).unwrap().len(), 1);
    }

    #[test]
    fn bad_messages() {
        for body in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"hello":1}"#,
            r#"{"Records":[{"foo":1}]}"#,
            r#"{"Type":"Notification","Message":"{}"}"#,
        ] {
            assert!(
                matches!(parse_body(body), Err(QueueError::BadMessage { .. })),
                "{body:?}"
            );
        }
        let other_source = include_str!("../../../events/eventbridge-object-created.json")
            .replace("aws.s3", "aws.ec2");
        assert!(matches!(
            parse_body(&other_source),
            Err(QueueError::BadMessage { .. })
        ));
    }

    #[test]
    fn backfill_body_round_trips() {
        let objects = [
            ObjectRef {
                etag: Some("abc".into()),
                size: Some(12),
                version_id: Some("v1".into()),
                event_time: time("2026-11-26T10:00:00.123456789Z"),
                ..ObjectRef::new("sightline-demo", "café/naïve 1+1.jpg")
            },
            ObjectRef {
                size: Some(0),
                event_time: time("2026-11-26T10:00:00Z"),
                ..ObjectRef::new("sightline-demo", "incoming/retail/100% real & =odd=.jpg")
            },
        ];
        let body = s3_event_body(&objects);
        assert!(
            body.contains(r#""key":"caf%C3%A9/na%C3%AFve+1%2B1.jpg""#),
            "{body}"
        );
        assert!(body.contains(r#""eventName":"ObjectCreated:Put""#));
        assert_eq!(parse_body(&body).unwrap(), objects);
    }

    #[test]
    fn key_decoding() {
        assert_eq!(decode_key("a%2Fb+c%2B%25.jpg"), "a/b c+%.jpg");
        assert_eq!(decode_key("a&b=c"), "a&b=c");
        assert_eq!(decode_key(""), "");
        assert_eq!(encode_key("a b/c+d%/é"), "a+b/c%2Bd%25/%C3%A9");
    }
}
