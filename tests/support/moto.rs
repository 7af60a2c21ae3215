//! A local AWS (S3 + SQS) for tests: a `moto_server` child process on 127.0.0.1.
//!
//! moto keeps all state in memory and shares it between every client, so give each test
//! its own buckets and queues ([`unique_name`]) rather than restarting moto. Quirks worth
//! knowing (stack-notes §2): moto's S3 event records lack `userIdentity` /
//! `requestParameters`, its event keys are URL-encoded differently from AWS, and the
//! account id is `123456789012`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

/// Environment variable naming the `moto_server` executable to use.
pub const MOTO_SERVER_ENV: &str = "SIGHTLINE_MOTO_SERVER";

/// Region used for every client and child process.
pub const REGION: &str = "us-east-1";

/// moto's fixed account id (appears in ARNs and queue URLs).
pub const ACCOUNT_ID: &str = "123456789012";

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `moto_server -H 127.0.0.1 -p <free port>`; stopped when dropped.
///
/// The server runs under a small `sh` watchdog that also stops it when the test
/// process dies without running destructors (e.g. the `static` behind
/// [`shared_moto`], or a killed test binary): the watchdog waits for EOF on a pipe that
/// only this process holds.
pub struct Moto {
    endpoint: String,
    child: Child,
    /// Closing this pipe tells the watchdog to stop moto.
    lifeline: Option<ChildStdin>,
    log: tempfile::NamedTempFile,
    /// Access key id and secret the clients and [`Moto::env_vars`] use (`test`/`test`
    /// until [`Moto::use_credentials`]).
    credentials: std::sync::Mutex<(String, String)>,
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moto")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Finds the `moto_server` executable: `$SIGHTLINE_MOTO_SERVER`, then
/// `<repo>/.cache/venv/bin/moto_server`, then `PATH`.
fn find_moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os(MOTO_SERVER_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{MOTO_SERVER_ENV}={} does not exist",
            p.display()
        );
        return p;
    }
    let venv = crate::repo_root().join(".cache/venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "moto_server not found (looked at ${MOTO_SERVER_ENV}, {}, and PATH). \
         Run scripts/test.sh, which installs moto[server] into .cache/venv from \
         requirements/test.txt, or set {MOTO_SERVER_ENV}.",
        venv.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port on 127.0.0.1")
}

/// True once something on `addr` answers an HTTP request with an HTTP status line.
fn answers_http(addr: &SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < 5 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf[..got].starts_with(b"HTTP/")
}

impl Moto {
    /// Starts `moto_server` on a free port of 127.0.0.1 and waits (up to 30 s) until it
    /// answers HTTP.
    ///
    /// # Panics
    /// If `moto_server` cannot be found (the message names `scripts/test.sh`), or does
    /// not come up (the message includes its log).
    pub fn start() -> Moto {
        let exe = find_moto_server();
        let mut last_log = String::new();
        // A free port can be taken between probing and moto's bind: retry a few times.
        for _attempt in 0..3 {
            match Self::try_start(&exe) {
                Ok(m) => return m,
                Err(log) => last_log = log,
            }
        }
        panic!("moto_server ({}) did not start:\n{last_log}", exe.display());
    }

    fn try_start(exe: &PathBuf) -> Result<Moto, String> {
        let port = free_port();
        let log = tempfile::Builder::new()
            .prefix("sightline-moto-")
            .suffix(".log")
            .tempfile()
            .expect("create moto log file");
        let log_out = log.reopen().expect("reopen moto log");
        let log_err = log.reopen().expect("reopen moto log");
        // Watchdog: run moto in the background; a second background job waits for EOF on
        // the lifeline (fd 3 = our stdin pipe) and then kills moto. The shell itself exits
        // when moto exits, so `try_wait` on it tells whether moto is alive.
        let script = r#"exec 3<&0; "$0" "$@" </dev/null & pid=$!; (read _ <&3; kill $pid 2>/dev/null) & wait $pid"#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log_out))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh for moto_server: {e}"));
        let lifeline = child.stdin.take();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(log.path()).unwrap_or_default();
                return Err(format!("exited early ({status}); log:\n{text}"));
            }
            if answers_http(&addr) {
                return Ok(Moto {
                    endpoint,
                    child,
                    lifeline,
                    log,
                    credentials: std::sync::Mutex::new(("test".into(), "test".into())),
                });
            }
            if started.elapsed() > START_TIMEOUT {
                let mut m = Moto {
                    endpoint,
                    child,
                    lifeline,
                    log,
                    credentials: std::sync::Mutex::new(("test".into(), "test".into())),
                };
                m.stop();
                let text = std::fs::read_to_string(m.log.path()).unwrap_or_default();
                return Err(format!(
                    "no HTTP answer within {START_TIMEOUT:?}; log:\n{text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        drop(self.lifeline.take()); // watchdog kills moto, then the shell exits
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// moto's request log so far (useful in assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// From now on the clients and [`Moto::env_vars`] sign with this access key (for a
    /// moto that enforces IAM, e.g. after `scripts/emulator_stack.py --enforce-iam`).
    pub fn use_credentials(&self, access_key_id: &str, secret_access_key: &str) {
        *self.credentials.lock().expect("credentials lock") =
            (access_key_id.to_string(), secret_access_key.to_string());
    }

    fn current_credentials(&self) -> (String, String) {
        self.credentials.lock().expect("credentials lock").clone()
    }

    /// Shared AWS config: static credentials (`test`/`test` unless
    /// [`Moto::use_credentials`]), region `us-east-1`, endpoint [`Moto::endpoint`].
    pub async fn sdk_config(&self) -> SdkConfig {
        let (key, secret) = self.current_credentials();
        self.sdk_config_as(&key, &secret).await
    }

    /// [`Moto::sdk_config`] signing with the given access key instead.
    pub async fn sdk_config_as(&self, access_key_id: &str, secret_access_key: &str) -> SdkConfig {
        let (key, secret) = (access_key_id.to_string(), secret_access_key.to_string());
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(key, secret, None, None, "sightline-tests"))
            .load()
            .await
    }

    /// An S3 client for this moto (path-style addressing, as moto needs).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SQS client for this moto.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    /// Creates a bucket with a [`unique_name`] built from `prefix`; returns its name.
    pub async fn new_bucket(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        self.s3()
            .await
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
        name
    }

    /// Creates a queue with a [`unique_name`] built from `prefix`; returns its URL.
    pub async fn new_queue(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        let out = self
            .sqs()
            .await
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"));
        out.queue_url().expect("queue url").to_string()
    }

    /// (visible, in flight) messages of the queue at `url`.
    pub async fn queue_counts(&self, url: &str) -> (usize, usize) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = (self.sqs().await.get_queue_attributes())
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap_or_else(|e| panic!("queue attributes of {url}: {e:?}"));
        let a = out.attributes().expect("attributes");
        let get = |k: A| a[&k].parse::<usize>().expect("a count");
        (
            get(A::ApproximateNumberOfMessages),
            get(A::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Messages of the queue at `url`, visible or in flight.
    pub async fn queue_depth(&self, url: &str) -> usize {
        let (visible, in_flight) = self.queue_counts(url).await;
        visible + in_flight
    }

    /// Same as the free function [`unique_name`].
    pub fn unique_name(prefix: &str) -> String {
        unique_name(prefix)
    }

    /// Environment for child processes (a Lambda binary, the CLI) so that the AWS SDK
    /// inside them talks to this moto: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`. The child must still use path-style S3
    /// addressing when an endpoint is set (sightline-storage does).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let (key, secret) = self.current_credentials();
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
            ("AWS_REGION", REGION),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Wipes all moto state (`POST /moto-api/reset`). This affects every test using the
    /// same server; prefer unique names with [`shared_moto`].
    pub fn reset(&self) {
        let addr: SocketAddr = self
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("endpoint is host:port");
        let mut s = TcpStream::connect(addr).expect("connect to moto");
        let req = "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        s.write_all(req.as_bytes()).expect("send reset");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "moto reset: {resp}"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One moto per test binary, started on first use and stopped when the process exits
/// (through the watchdog; statics are never dropped). Tests sharing it must use
/// [`unique_name`] buckets and queues.
pub fn shared_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// A name that is unique per call (process id + counter + clock) and valid both as an
/// S3 bucket name (3–63 chars of `a-z0-9-`, starting and ending alphanumeric) and as an
/// SQS queue name. `prefix` is lower-cased, other characters become `-` (runs of `-`
/// collapsed), and it is cut to 24 characters.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut p: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(24)
        .collect();
    while p.contains("--") {
        p = p.replace("--", "-");
    }
    let trimmed = p.trim_matches('-').to_string();
    p = if trimmed.is_empty() {
        "t".to_string()
    } else {
        trimmed
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Lower 40 bits of the clock in base 36 (8 chars) separate reruns with the same pid.
    let stamp = base36((nanos & 0xFF_FFFF_FFFF) as u64);
    format!("{p}-{}-{n}-{stamp}", std::process::id())
}

fn base36(mut v: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_valid_and_distinct() {
        let a = unique_name("My_Test Bucket!!");
        let b = unique_name("My_Test Bucket!!");
        assert_ne!(a, b);
        for n in [&a, &b, &unique_name(""), &unique_name(&"x".repeat(100))] {
            assert!((3..=63).contains(&n.len()), "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert!(n.starts_with(|c: char| c.is_ascii_alphanumeric()), "{n}");
            assert!(n.ends_with(|c: char| c.is_ascii_alphanumeric()), "{n}");
            assert!(!n.contains("--"), "{n}");
        }
    }
}
