//! A fault-injecting HTTP proxy between a child process and moto: the network failures a
//! worker meets in production, at chosen points and reproducible from a seed.
//!
//! Every request is forwarded on its own upstream connection with `Connection: close`, so
//! the proxy sees one request per connection and can act on each: pass it, delay it, drop
//! it before moto sees it ([`Fault::DropRequest`]: nothing happened), or forward it and drop
//! moto's answer ([`Fault::DropResponse`]: it happened, but the client cannot know). Which
//! requests a [`Rule`] hits is decided by a seeded generator, so a failing seed replays.
//! Blocking std networking, one thread per connection: enough for a test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to a request a rule hits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Close the client's connection without forwarding: the call never reached moto.
    DropRequest,
    /// Forward, wait for moto's complete answer, then close the client's connection without
    /// it: the call took effect, the client sees a network error.
    DropResponse,
    /// Wait this long before forwarding.
    Delay(Duration),
}

/// The parts of a request that rules match on.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `GET`, `PUT`, `POST`, …
    pub method: String,
    /// Path and query, e.g. `/bucket/results/catalog=…`.
    pub path: String,
    /// The SQS action (`ReceiveMessage`, `DeleteMessageBatch`, …) from `X-Amz-Target` or a
    /// query-protocol body; `None` for S3.
    pub sqs_action: Option<String>,
}

impl RequestInfo {
    /// An S3 request with this method whose path contains `fragment`.
    pub fn is_s3(&self, method: &str, fragment: &str) -> bool {
        self.sqs_action.is_none() && self.method == method && self.path.contains(fragment)
    }

    /// An SQS call of `action`.
    pub fn is_sqs(&self, action: &str) -> bool {
        self.sqs_action.as_deref() == Some(action)
    }
}

/// Hits requests that `matches`, each with `probability`, with `fault`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name, for the log.
    pub name: &'static str,
    /// Which requests the rule considers.
    pub matches: fn(&RequestInfo) -> bool,
    /// Chance that a considered request is hit.
    pub probability: f64,
    /// What happens to a hit request.
    pub fault: Fault,
}

/// A small seeded generator (SplitMix64): reproducible faults without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next value in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct Plan {
    rules: Vec<Rule>,
    rng: SplitMix,
    hits: Vec<String>,
}

impl Plan {
    fn decide(&mut self, req: &RequestInfo) -> Option<Fault> {
        for rule in &self.rules {
            if (rule.matches)(req) && self.rng.next_f64() < rule.probability {
                self.hits
                    .push(format!("{}: {} {}", rule.name, req.method, req.path));
                return Some(rule.fault);
            }
        }
        None
    }
}

/// The proxy: listens on 127.0.0.1, forwards to `upstream`.
pub struct FaultProxy {
    endpoint: String,
    plan: Arc<Mutex<Plan>>,
    stop: Arc<AtomicBool>,
    load: Arc<Load>,
}

/// Requests being served now, and the most at once.
#[derive(Debug, Default)]
struct Load {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:port`) applying `rules` with `seed`.
    pub fn start(upstream: &str, rules: Vec<Rule>, seed: u64) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let plan = Arc::new(Mutex::new(Plan {
            rules,
            rng: SplitMix::new(seed),
            hits: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let load = Arc::new(Load::default());
        let (p, s, l) = (Arc::clone(&plan), Arc::clone(&stop), Arc::clone(&load));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (p, l, upstream) = (Arc::clone(&p), Arc::clone(&l), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &p, &l);
                });
            }
        });
        FaultProxy {
            endpoint,
            plan,
            stop,
            load,
        }
    }

    /// `http://127.0.0.1:<port>`: give it to the child as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Replaces the rules (an empty list: pass everything).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.plan.lock().unwrap().rules = rules;
    }

    /// The most requests the proxy was serving at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.load.max.load(Ordering::SeqCst)
    }

    /// The faults injected so far, as `rule: METHOD path` lines.
    pub fn hits(&self) -> Vec<String> {
        self.plan.lock().unwrap().hits.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// One request: read it, decide, forward, answer (or not).
fn serve(
    client: TcpStream,
    upstream: &str,
    plan: &Mutex<Plan>,
    load: &Load,
) -> std::io::Result<()> {
    let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
    load.max.fetch_max(now, Ordering::SeqCst);
    let served = forward(client, upstream, plan);
    load.now.fetch_sub(1, Ordering::SeqCst);
    served
}

/// Reads the request, applies the plan's fault, forwards, answers (or not).
fn forward(mut client: TcpStream, upstream: &str, plan: &Mutex<Plan>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client)? else {
        return Ok(());
    };
    let fault = plan.lock().unwrap().decide(&request.info);
    match fault {
        Some(Fault::DropRequest) => return client.shutdown(Shutdown::Both),
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        _ => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&request.head)?;
    up.write_all(&request.body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    if fault == Some(Fault::DropResponse) {
        return client.shutdown(Shutdown::Both);
    }
    client.write_all(&closing(&answer))?;
    client.shutdown(Shutdown::Both)
}

/// The answer with `Connection: close` in its head, so the client does not reuse the
/// connection the proxy is about to close.
fn closing(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"));
        if i == 0 || !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[end + 4..]);
    bytes
}

struct Request {
    info: RequestInfo,
    /// The head to send upstream (`Connection: close`, no `Expect`).
    head: Vec<u8>,
    body: Vec<u8>,
}

/// Reads one request; answers `Expect: 100-continue` itself.
fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut parts = start.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let mut head = start.clone().into_bytes();
    let (mut length, mut target, mut expect) = (0usize, None, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "x-amz-target" => target = value.rsplit('.').next().map(str::to_string),
            "expect" => expect = true,
            _ => {}
        }
        if name != "expect" && name != "connection" {
            head.extend_from_slice(line.as_bytes());
        }
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    if expect {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let sqs_action = target.or_else(|| (method == "POST").then(|| query_action(&body))?);
    Ok(Some(Request {
        info: RequestInfo {
            method,
            path,
            sqs_action,
        },
        head,
        body,
    }))
}

/// `Action=…` of a query-protocol (form-encoded) SQS body.
fn query_action(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string)
}
