//! Lambda Runtime API harness (std only): run a real Lambda binary locally.
//!
//! [`RuntimeApiServer`] is an in-process fake of the
//! [Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) on
//! `127.0.0.1:<ephemeral>`: it hands out the given events one at a time on
//! `GET /2018-06-01/runtime/invocation/next`, records what the function posts to
//! `…/invocation/{id}/response`, `…/invocation/{id}/error` and `…/init/error`, and parks
//! the `next` request that follows the last event (the runtime long-polls forever).
//! [`run_lambda`] starts the binary against it and returns once every event has an
//! outcome and the runtime is waiting again, then kills the child.
//!
//! HTTP: HTTP/1.1 keep-alive (hyper's client, used by `lambda_runtime_api_client`,
//! reuses one connection), bodies with `Content-Length` (buffered responses) or
//! `Transfer-Encoding: chunked` (streamed responses; trailers are ignored).

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufReader, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{read_request, write_response, Request};

/// Path prefix of every Runtime API route.
pub const API_PREFIX: &str = "/2018-06-01/runtime";

/// Function name used when `env` does not set `AWS_LAMBDA_FUNCTION_NAME`.
pub const DEFAULT_FUNCTION_NAME: &str = "sightline-test";

/// Seconds from "now" put into `lambda-runtime-deadline-ms`.
const DEADLINE_SECS: u64 = 60;

/// One event handed to the function and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The `lambda-runtime-aws-request-id` given with the event.
    pub request_id: String,
    /// The event payload that was served.
    pub event: Value,
    /// Body POSTed to `…/invocation/{id}/response` (JSON; a non-JSON body is kept as a
    /// JSON string, an empty body as `null`). `None` if the function did not answer.
    pub response: Option<Value>,
    /// Body POSTed to `…/invocation/{id}/error` (the runtime sends
    /// `{"errorType": …, "errorMessage": …}`); `None` if no error was posted.
    pub error: Option<Value>,
}

impl Invocation {
    /// True once the function posted a response or an error for this event.
    pub fn is_answered(&self) -> bool {
        self.response.is_some() || self.error.is_some()
    }
}

/// Result of a successful [`run_lambda`]: one [`Invocation`] per event, in order, plus
/// everything the child wrote (the runtime's `tracing` output goes to stdout by default).
#[derive(Debug, Clone)]
pub struct LambdaRun {
    /// One entry per event, in the order the events were given.
    pub invocations: Vec<Invocation>,
    /// The child's stdout.
    pub stdout: String,
    /// The child's stderr.
    pub stderr: String,
}

impl LambdaRun {
    /// The responses in event order; panics (showing the error and the child's output)
    /// if any invocation posted an error instead.
    pub fn responses(&self) -> Vec<&Value> {
        self.invocations
            .iter()
            .map(|inv| match (&inv.response, &inv.error) {
                (Some(r), _) => r,
                (None, e) => panic!(
                    "invocation {} posted an error: {e:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    inv.request_id, self.stdout, self.stderr
                ),
            })
            .collect()
    }
}

/// Why [`try_run_lambda`] failed, with everything recorded up to then.
#[derive(Debug, Clone)]
pub struct LambdaFailure {
    /// What went wrong (init error, early exit, timeout, protocol error).
    pub reason: String,
    /// Body POSTed to `/runtime/init/error`, if that is what happened.
    pub init_error: Option<Value>,
    /// Invocations served so far (some may be unanswered).
    pub invocations: Vec<Invocation>,
    /// The child's stdout so far.
    pub stdout: String,
    /// The child's stderr so far.
    pub stderr: String,
}

impl fmt::Display for LambdaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lambda run failed: {}", self.reason)?;
        if let Some(e) = &self.init_error {
            writeln!(f, "init error body: {e}")?;
        }
        for inv in &self.invocations {
            writeln!(
                f,
                "invocation {}: response={:?} error={:?}",
                inv.request_id, inv.response, inv.error
            )?;
        }
        writeln!(f, "--- child stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- child stderr ---\n{}", self.stderr.trim_end())
    }
}

impl std::error::Error for LambdaFailure {}

/// Snapshot of a [`RuntimeApiServer`]'s progress.
#[derive(Debug, Clone, Default)]
pub struct ApiStatus {
    /// Number of events given to the server.
    pub total: usize,
    /// Events handed out so far.
    pub served: usize,
    /// Served events that got a response or an error.
    pub answered: usize,
    /// `next` requests parked because no event was left (the runtime is idle).
    pub parked: usize,
    /// Body POSTed to `/runtime/init/error`, if any.
    pub init_error: Option<Value>,
    /// Requests the fake could not make sense of (unknown route or request id,
    /// duplicate answers, unparsable HTTP).
    pub protocol_errors: Vec<String>,
}

impl ApiStatus {
    /// Every event was served and answered, and the runtime is polling for the next.
    pub fn is_complete(&self) -> bool {
        self.served == self.total && self.answered == self.total && self.parked > 0
    }
}

struct State {
    pending: VecDeque<Value>,
    total: usize,
    invocations: Vec<Invocation>,
    parked: usize,
    init_error: Option<Value>,
    protocol_errors: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
    function_arn: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An in-process fake of the Lambda Runtime API on `127.0.0.1:<ephemeral port>`.
///
/// Use [`run_lambda`] for the usual case; use this directly to drive it as a client
/// (tests of the harness itself) or to manage the child process yourself. Dropping it
/// stops the server and closes all connections (a parked `next` is then dropped).
pub struct RuntimeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl RuntimeApiServer {
    /// Binds `127.0.0.1:0` and starts serving `events` (in order) for a function named
    /// `function_name` (used in `lambda-runtime-invoked-function-arn`).
    pub fn start(events: &[Value], function_name: &str) -> RuntimeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: events.iter().cloned().collect(),
                total: events.len(),
                invocations: Vec::new(),
                parked: 0,
                init_error: None,
                protocol_errors: Vec::new(),
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        });
        let sh = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("runtime-api-accept".into())
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn accept thread");
        RuntimeApiServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The bound socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the progress so far.
    pub fn status(&self) -> ApiStatus {
        let st = self.shared.lock();
        ApiStatus {
            total: st.total,
            served: st.invocations.len(),
            answered: st.invocations.iter().filter(|i| i.is_answered()).count(),
            parked: st.parked,
            init_error: st.init_error.clone(),
            protocol_errors: st.protocol_errors.clone(),
        }
    }

    /// The invocations served so far, in order.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.shared.lock().invocations.clone()
    }

    /// Blocks until something changes (a request was handled) or `max` elapses.
    pub fn wait_for_change(&self, max: Duration) {
        let st = self.shared.lock();
        let _unused = self.shared.changed.wait_timeout(st, max);
    }

    /// Waits until [`ApiStatus::is_complete`], an init error, or `timeout`. Returns the
    /// invocations, or a description of what is missing.
    pub fn wait_until_complete(&self, timeout: Duration) -> Result<Vec<Invocation>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if let Some(e) = &status.init_error {
                return Err(format!("function reported an init error: {e}"));
            }
            if status.is_complete() {
                return Ok(self.invocations());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("timed out after {timeout:?}: {status:?}"));
            }
            self.wait_for_change((deadline - now).min(Duration::from_millis(100)));
        }
    }
}

impl Drop for RuntimeApiServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _st = self.shared.lock();
            self.shared.changed.notify_all();
        }
        // Wake the accept loop, then close every connection (ends parked requests and
        // reads blocked on idle keep-alive connections).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for c in self
            .shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else { continue };
        let _ = stream.set_nodelay(true);
        if let Ok(c) = stream.try_clone() {
            shared
                .conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(c);
        }
        let sh = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("runtime-api-conn".into())
            .spawn(move || handle_connection(stream, sh));
    }
}

enum Reply {
    Send {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Server stopping: close the connection without answering.
    Hangup,
}

fn handle_connection(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                if !shared.stop.load(Ordering::SeqCst) {
                    let mut st = shared.lock();
                    st.protocol_errors
                        .push(format!("unreadable HTTP request: {e}"));
                    shared.changed.notify_all();
                }
                return;
            }
        };
        let close = req.wants_close();
        match route(&shared, &req) {
            Reply::Hangup => return,
            Reply::Send {
                status,
                headers,
                body,
            } => {
                if write_response(&mut writer, status, &headers, &body, close).is_err() || close {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}

fn json_body(body: &[u8]) -> Value {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn accepted() -> Reply {
    Reply::Send {
        status: 202,
        headers: vec![("Content-Type", "application/json".into())],
        body: br#"{"status":"OK"}"#.to_vec(),
    }
}

fn client_error(status: u16, shared: &Shared, st: &mut State, msg: String) -> Reply {
    st.protocol_errors.push(msg.clone());
    shared.changed.notify_all();
    let body = serde_json::json!({"errorType": "InvalidRequest", "errorMessage": msg});
    Reply::Send {
        status,
        headers: vec![("Content-Type", "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn route(shared: &Shared, req: &Request) -> Reply {
    let path = req.path.split('?').next().unwrap_or("");
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        let mut st = shared.lock();
        return client_error(
            404,
            shared,
            &mut st,
            format!("unknown route {} {}", req.method, req.path),
        );
    };
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let mut st = shared.lock();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["invocation", "next"]) => {
            if let Some(event) = st.pending.pop_front() {
                let seq = st.invocations.len() + 1;
                let request_id = format!("{:08x}-0000-4000-8000-{seq:012x}", std::process::id());
                st.invocations.push(Invocation {
                    request_id: request_id.clone(),
                    event: event.clone(),
                    response: None,
                    error: None,
                });
                shared.changed.notify_all();
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock after 1970")
                    + Duration::from_secs(DEADLINE_SECS);
                Reply::Send {
                    status: 200,
                    headers: vec![
                        ("Content-Type", "application/json".into()),
                        ("Lambda-Runtime-Aws-Request-Id", request_id),
                        (
                            "Lambda-Runtime-Deadline-Ms",
                            deadline.as_millis().to_string(),
                        ),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn",
                            shared.function_arn.clone(),
                        ),
                        (
                            "Lambda-Runtime-Trace-Id",
                            format!("Root=1-00000000-{seq:024x};Parent={seq:016x};Sampled=0"),
                        ),
                    ],
                    body: event.to_string().into_bytes(),
                }
            } else {
                // No event left: park this long-poll until the server stops.
                st.parked += 1;
                shared.changed.notify_all();
                while !shared.stop.load(Ordering::SeqCst) {
                    st = shared
                        .changed
                        .wait_timeout(st, Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                Reply::Hangup
            }
        }
        ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
            let body = json_body(&req.body);
            let Some(inv) = st.invocations.iter_mut().find(|i| i.request_id == *id) else {
                return client_error(
                    400,
                    shared,
                    &mut st,
                    format!("{kind} for unknown request id {id}"),
                );
            };
            if inv.is_answered() {
                let msg = format!("second answer ({kind}) for request id {id}: {body}");
                return client_error(400, shared, &mut st, msg);
            }
            if *kind == "response" {
                inv.response = Some(body);
            } else {
                let body = match body {
                    // Error type only in the header (possible for streamed errors).
                    Value::Null => serde_json::json!({
                        "errorType": req.header("lambda-runtime-function-error-type"),
                    }),
                    b => b,
                };
                inv.error = Some(body);
            }
            shared.changed.notify_all();
            accepted()
        }
        ("POST", ["init", "error"]) => {
            let body = match json_body(&req.body) {
                Value::Null => serde_json::json!({
                    "errorType": req.header("lambda-runtime-function-error-type"),
                }),
                b => b,
            };
            st.init_error = Some(body);
            shared.changed.notify_all();
            accepted()
        }
        _ => client_error(
            404,
            shared,
            &mut st,
            format!("unknown route {} {}", req.method, req.path),
        ),
    }
}

/// Collects a child's pipe into a shared string on a background thread.
struct Capture {
    text: Arc<Mutex<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Capture {
        let text = Arc::new(Mutex::new(String::new()));
        let thread = pipe.map(|mut p| {
            let t = Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = p.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    t.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        });
        Capture { text, thread }
    }

    /// Waits briefly for EOF (the child is dead by then), then returns the text.
    fn finish(mut self) -> String {
        if let Some(h) = self.thread.take() {
            let until = Instant::now() + Duration::from_secs(2);
            while !h.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        let text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        text.clone()
    }
}

fn kill(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = child.kill();
    child.wait().ok()
}

/// Runs the Lambda `binary` against a fresh [`RuntimeApiServer`], serving `events` one
/// at a time, and returns what it posted back; or a (boxed) [`LambdaFailure`] when the function
/// reported an init error, exited before answering every event, or `timeout` passed.
///
/// The child gets `AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`,
/// `AWS_LAMBDA_FUNCTION_NAME` (default [`DEFAULT_FUNCTION_NAME`]),
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024` and `AWS_LAMBDA_FUNCTION_VERSION=$LATEST`,
/// then `env` (which may override those), on top of the test's own environment. Its
/// stdout and stderr are captured. Once every event is answered and the runtime has
/// asked for the next one (parked), or the child exits after answering all, the child is
/// killed.
pub fn try_run_lambda(
    binary: &Path,
    events: &[Value],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<LambdaRun, Box<LambdaFailure>> {
    assert!(
        binary.is_file(),
        "lambda binary {} not found: build it first: cargo build --bins (scripts/test.sh does this)",
        binary.display()
    );
    let function_name = env
        .iter()
        .rev()
        .find(|(k, _)| k == "AWS_LAMBDA_FUNCTION_NAME")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| DEFAULT_FUNCTION_NAME.to_string());
    let server = RuntimeApiServer::start(events, &function_name);

    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", server.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", &function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        // What Lambda sets for `LogFormat: JSON` (infra/template.yaml).
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start lambda binary {}: {e}", binary.display()));
    let out = Capture::start(child.stdout.take());
    let err = Capture::start(child.stderr.take());

    let deadline = Instant::now() + timeout;
    let failure: Option<String> = loop {
        let status = server.status();
        if let Some(e) = &status.init_error {
            break Some(format!(
                "the function reported an init error (POST /runtime/init/error): {e}"
            ));
        }
        if let Some(p) = status.protocol_errors.first() {
            break Some(format!("Runtime API protocol error: {p}"));
        }
        if status.is_complete() {
            break None;
        }
        if let Ok(Some(exit)) = child.try_wait() {
            // Give in-flight posts a moment to land before judging.
            server.wait_for_change(Duration::from_millis(50));
            let status = server.status();
            if status.served == status.total && status.answered == status.total {
                break None;
            }
            break Some(format!(
                "the binary exited ({exit}) after answering {} of {} events",
                status.answered, status.total
            ));
        }
        if Instant::now() >= deadline {
            break Some(format!(
                "timed out after {timeout:?}: {} of {} events served, {} answered",
                status.served, status.total, status.answered
            ));
        }
        server.wait_for_change(Duration::from_millis(50));
    };

    kill(&mut child);
    let init_error = server.status().init_error;
    let invocations = server.invocations();
    drop(server);
    let stdout = out.finish();
    let stderr = err.finish();
    match failure {
        None => Ok(LambdaRun {
            invocations,
            stdout,
            stderr,
        }),
        Some(reason) => Err(Box::new(LambdaFailure {
            reason,
            init_error,
            invocations,
            stdout,
            stderr,
        })),
    }
}

/// Like [`try_run_lambda`], but panics with the full [`LambdaFailure`] (reason, init
/// error body, invocations so far, the child's stdout and stderr) on failure.
pub fn run_lambda(
    binary: &Path,
    events: &[Value],
    env: &[(String, String)],
    timeout: Duration,
) -> LambdaRun {
    try_run_lambda(binary, events, env, timeout).unwrap_or_else(|f| panic!("{f}"))
}
