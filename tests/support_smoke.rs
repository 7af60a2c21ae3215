//! Smoke tests of the test-support crate itself: moto, the Runtime API fake (driven as
//! a raw HTTP client), `try_run_lambda` against a tiny shell stand-in, the paths and the
//! data requirements.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use sightline_tests::{
    fixtures_dir, repo_root, require_python, require_shared, shared_moto, try_run_lambda,
    unique_name, workspace_bin, RuntimeApiServer, SKIP_DATA_TESTS_ENV,
};

#[tokio::test]
async fn moto_s3_and_sqs_roundtrip() {
    let moto = shared_moto();
    let s3 = moto.s3().await;
    let bucket = moto.new_bucket("smoke").await;
    let body = b"hello sightline".to_vec();
    s3.put_object()
        .bucket(&bucket)
        .key("incoming/demo/a b+c.txt")
        .body(body.clone().into())
        .send()
        .await
        .expect("put_object");
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("incoming/demo/a b+c.txt")
        .send()
        .await
        .expect("get_object")
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes();
    assert_eq!(&got[..], &body[..]);

    let sqs = moto.sqs().await;
    let queue = moto.new_queue("smoke").await;
    sqs.send_message()
        .queue_url(&queue)
        .message_body("ping")
        .send()
        .await
        .expect("send");
    let msgs = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(1)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body(), Some("ping"));

    let env = moto.env_vars();
    assert!(env
        .iter()
        .any(|(k, v)| k == "AWS_ENDPOINT_URL" && v == moto.endpoint()));
}

// ---------------------------------------------------------------------------------------
// Runtime API fake, driven by hand

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_resp(r: &mut BufReader<TcpStream>) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .expect("status")
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

fn connect(server: &RuntimeApiServer) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(server.socket_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

const NEXT: &str = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn runtime_api_serves_events_over_keep_alive() {
    let events = [json!({"n": 1}), json!({"n": 2})];
    let server = RuntimeApiServer::start(&events, "smoke-fn");
    let (mut w, mut r) = connect(&server);

    // 1st event; answer with a Content-Length body.
    w.write_all(NEXT.as_bytes()).unwrap();
    let e1 = read_resp(&mut r);
    assert_eq!(e1.status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&e1.body).unwrap(),
        events[0]
    );
    let id1 = e1
        .header("lambda-runtime-aws-request-id")
        .unwrap()
        .to_string();
    let deadline: u128 = e1
        .header("lambda-runtime-deadline-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(deadline > 1_700_000_000_000);
    assert!(e1
        .header("lambda-runtime-invoked-function-arn")
        .unwrap()
        .ends_with(":function:smoke-fn"));
    assert!(e1
        .header("lambda-runtime-trace-id")
        .unwrap()
        .starts_with("Root="));
    let body = r#"{"ok":true}"#;
    write!(
        w,
        "POST /2018-06-01/runtime/invocation/{id1}/response HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert_eq!(read_resp(&mut r).status, 202);

    // 2nd event on the same connection; answer /error with a chunked body.
    w.write_all(NEXT.as_bytes()).unwrap();
    let e2 = read_resp(&mut r);
    let id2 = e2
        .header("lambda-runtime-aws-request-id")
        .unwrap()
        .to_string();
    assert_ne!(id1, id2);
    let err = r#"{"errorType":"Boom","errorMessage":"bad image"}"#;
    let (a, b) = err.split_at(10);
    write!(
        w,
        "POST /2018-06-01/runtime/invocation/{id2}/error HTTP/1.1\r\nHost: x\r\n\
         Transfer-Encoding: chunked\r\nLambda-Runtime-Function-Error-Type: Boom\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
    .unwrap();
    assert_eq!(read_resp(&mut r).status, 202);

    // Unknown request id: 400, recorded as a protocol error.
    let (mut w2, mut r2) = connect(&server);
    w2.write_all(
        b"POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    )
    .unwrap();
    assert_eq!(read_resp(&mut r2).status, 400);

    // Next after the last event is parked: no answer.
    w.write_all(NEXT.as_bytes()).unwrap();
    let invocations = server
        .wait_until_complete(Duration::from_secs(10))
        .expect("complete");
    r.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        r.read(&mut byte).is_err(),
        "parked next must not be answered"
    );

    assert_eq!(invocations.len(), 2);
    assert_eq!(invocations[0].response, Some(json!({"ok": true})));
    assert_eq!(invocations[0].event, events[0]);
    assert_eq!(invocations[1].response, None);
    assert_eq!(invocations[1].error.as_ref().unwrap()["errorType"], "Boom");
    let status = server.status();
    assert_eq!(status.parked, 1);
    assert_eq!(
        status.protocol_errors.len(),
        1,
        "{:?}",
        status.protocol_errors
    );

    // Dropping the server closes the parked connection.
    drop(server);
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(r.read(&mut byte).unwrap_or(0), 0);
}

#[test]
fn runtime_api_records_init_error() {
    let server = RuntimeApiServer::start(&[json!({})], "smoke-fn");
    let (mut w, mut r) = connect(&server);
    let body = r#"{"errorType":"Runtime.InitError","errorMessage":"no model"}"#;
    write!(
        w,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert_eq!(read_resp(&mut r).status, 202);
    let err = server
        .wait_until_complete(Duration::from_secs(5))
        .unwrap_err();
    assert!(err.contains("no model"), "{err}");
}

// ---------------------------------------------------------------------------------------
// try_run_lambda against a bash stand-in (bash's /dev/tcp, one connection per request)

fn stand_in(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\nset -eu\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, path)
}

const ECHO_LAMBDA: &str = r#"
host=${AWS_LAMBDA_RUNTIME_API%:*}; port=${AWS_LAMBDA_RUNTIME_API#*:}
echo "started $AWS_LAMBDA_FUNCTION_NAME $AWS_LAMBDA_FUNCTION_MEMORY_SIZE $AWS_LAMBDA_FUNCTION_VERSION $EXTRA" >&2
while true; do
  exec 3<>"/dev/tcp/$host/$port"
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  resp=$(cat <&3 | tr -d '\r'); exec 3<&-
  id=$(printf '%s\n' "$resp" | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  event=$(printf '%s\n' "$resp" | sed '1,/^$/d')
  case "$event" in
    *fail*) kind=error; out='{"errorType":"Fail","errorMessage":"asked to"}' ;;
    *) kind=response; out="{\"echo\":$event}" ;;
  esac
  exec 3<>"/dev/tcp/$host/$port"
  printf 'POST /2018-06-01/runtime/invocation/%s/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s' "$id" "$kind" "${#out}" "$out" >&3
  cat <&3 >/dev/null; exec 3<&-
done
"#;

#[test]
fn run_lambda_with_a_shell_stand_in() {
    let (_dir, bin) = stand_in("echo-lambda", ECHO_LAMBDA);
    let events = [json!({"a": 1}), json!({"fail": true}), json!([1, 2])];
    let env = [("EXTRA".to_string(), "xyz".to_string())];
    let run = try_run_lambda(&bin, &events, &env, Duration::from_secs(20))
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(run.invocations.len(), 3);
    assert_eq!(run.invocations[0].response, Some(json!({"echo": {"a": 1}})));
    assert_eq!(
        run.invocations[1].error.as_ref().unwrap()["errorType"],
        "Fail"
    );
    assert_eq!(run.invocations[2].response, Some(json!({"echo": [1, 2]})));
    assert!(
        run.stderr
            .contains("started sightline-test 1024 $LATEST xyz"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_lambda_reports_init_error_and_early_exit() {
    let (_dir, bin) = stand_in(
        "init-fail",
        r#"
host=${AWS_LAMBDA_RUNTIME_API%:*}; port=${AWS_LAMBDA_RUNTIME_API#*:}
echo "cannot load model" >&2
exec 3<>"/dev/tcp/$host/$port"
b='{"errorType":"Runtime.InitError","errorMessage":"model missing"}'
printf 'POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s' "${#b}" "$b" >&3
cat <&3 >/dev/null
sleep 30
"#,
    );
    let started = std::time::Instant::now();
    let f = try_run_lambda(&bin, &[json!({})], &[], Duration::from_secs(20)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "init error must end the run promptly"
    );
    assert_eq!(
        f.init_error.as_ref().unwrap()["errorMessage"],
        "model missing"
    );
    assert!(f.to_string().contains("cannot load model"), "{f}");

    let (_dir2, bin2) = stand_in("exits", "echo 'panicked at main' >&2\nexit 3\n");
    let f = try_run_lambda(&bin2, &[json!({})], &[], Duration::from_secs(20)).unwrap_err();
    assert!(f.reason.contains("exited"), "{f}");
    assert!(f.stderr.contains("panicked at main"), "{f}");
}

// ---------------------------------------------------------------------------------------
// paths

#[test]
fn paths_point_at_the_repo() {
    assert!(repo_root().join("Cargo.toml").is_file());
    assert!(fixtures_dir().join("images_expected.csv").is_file());
    assert!(fixtures_dir().join("formats/expected.csv").is_file());
    let a = unique_name("x");
    assert_ne!(a, unique_name("x"));
}

#[test]
#[should_panic(expected = "build it first")]
fn workspace_bin_names_the_fix_when_missing() {
    workspace_bin("no-such-binary-here");
}

// ---------------------------------------------------------------------------------------
// data requirements

/// The panic message of `f`, or `None` if it returned (then with its value).
fn panic_message<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    std::panic::catch_unwind(f).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn missing_data_fails_the_test_and_says_how_to_provide_it() {
    let skipping = std::env::var_os(SKIP_DATA_TESTS_ENV).is_some_and(|v| v == "1");
    let shared = panic_message(|| require_shared(&["no/such/folder"]));
    let python = panic_message(|| require_python(&["no_such_module_for_sightline"]));
    if skipping {
        assert_eq!(shared, Ok(None), "opted out: a visible skip");
        assert_eq!(python, Ok(None), "opted out: a visible skip");
        return;
    }
    let shared = shared.unwrap_err();
    for part in [
        "no/such/folder",
        "SIGHTLINE_SHARED_DIR",
        "SIGHTLINE_SKIP_DATA_TESTS=1",
    ] {
        assert!(shared.contains(part), "{part:?} not in {shared:?}");
    }
    let python = python.unwrap_err();
    assert!(python.contains("SIGHTLINE_PYTHON"), "{python}");
}
