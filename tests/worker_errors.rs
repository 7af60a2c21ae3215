//! The real `sightline worker` binary when receiving fails: a queue that does not exist is
//! a permanent error that stops it at once; an unreachable endpoint is transient, retried
//! with back-off until `--exit-when-idle` has passed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sightline_tests::{repo_root, shared_moto, unique_name, workspace_bin};

/// How a worker that had to fail ended.
struct Failed {
    /// Its whole log.
    stderr: String,
    /// The `Error: …` line `sightline` ends with.
    error: String,
    /// How long it ran.
    took: Duration,
}

/// Runs `sightline worker --queue-url <queue_url> <extra>` with `env`, and asserts that it
/// exits with a failure and an `Error:` line within `limit` (it is killed after that: a
/// worker that retries forever).
fn run_failing_worker(
    queue_url: &str,
    env: Vec<(String, String)>,
    extra: &[&str],
    limit: Duration,
) -> Failed {
    let started = Instant::now();
    let mut child = Command::new(workspace_bin("sightline"))
        .args(["worker", "--queue-url", queue_url])
        .args(extra)
        .envs(env)
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sightline worker");
    while child.try_wait().expect("poll the worker").is_none() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    let still_running = child.try_wait().expect("poll the worker").is_none();
    if still_running {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("collect the worker's log");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!still_running, "still running after {limit:?}:\n{stderr}");
    assert!(!out.status.success(), "{}:\n{stderr}", out.status);
    let error = (stderr.lines().find(|l| l.starts_with("Error:")))
        .unwrap_or_else(|| panic!("no Error: line:\n{stderr}"))
        .to_owned();
    Failed {
        stderr,
        error,
        took,
    }
}

#[test]
fn a_missing_queue_stops_the_worker_with_an_error_naming_it() {
    let moto = shared_moto();
    let name = unique_name("sl-missing");
    let queue_url = format!("{}/123456789012/{name}", moto.endpoint());
    // No --exit-when-idle: only the permanent error can stop it.
    let failed = run_failing_worker(&queue_url, moto.env_vars(), &[], Duration::from_secs(60));
    assert!(
        failed.error.contains("receive_message") && failed.error.contains(&queue_url),
        "the error names the call and the queue: {}",
        failed.error
    );
    assert!(
        !failed.stderr.contains("backing off"),
        "a missing queue is not retried:\n{}",
        failed.stderr
    );
    eprintln!("stopped after {:?}: {}", failed.took, failed.error);
}

#[test]
fn an_unreachable_queue_is_retried_until_idle_then_stops_with_an_error() {
    // A port nothing listens on: connection refused, a transient failure.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let queue_url = format!("{endpoint}/123456789012/sl-unreachable");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let idle = ["--exit-when-idle", "3"];
    let failed = run_failing_worker(&queue_url, env, &idle, Duration::from_secs(60));
    // The SDK retries a refused connection itself (about 2 s per receive), so within the
    // idle time the worker sees one or two failed receives.
    assert!(
        failed.stderr.contains("backing off"),
        "transient failures are retried:\n{}",
        failed.stderr
    );
    assert!(failed.error.contains(&queue_url), "{}", failed.error);
    assert!(
        failed.took >= Duration::from_secs(3),
        "stopped before the idle time: {:?}",
        failed.took
    );
    eprintln!("stopped after {:?}: {}", failed.took, failed.error);
}
