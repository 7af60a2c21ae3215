//! The `sightline` command line as scripts see it: exit statuses, error messages,
//! `--json` output and plain (escape-free) logs when stderr is not a terminal. Every test
//! runs the real binary (`cargo build --bins` first).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sightline_tests::{fixture, fixtures_dir, repo_root, workspace_bin};

/// Runs `sightline --log-format text <args>` with extra environment variables.
fn sightline(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(workspace_bin("sightline"))
        .args(["--log-format", "text"])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo_root())
        .output()
        .expect("run sightline")
}

/// A path as an argument (temporary and fixture paths are UTF-8).
fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `sightline run --catalog retail --source <source> --output <output> <extra>`.
fn run(source: &Path, output: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let args = ["run", "--catalog", "retail", "--source", arg(source)];
    sightline(
        &[&args[..], &["--output", arg(output)], extra].concat(),
        env,
    )
}

/// [`run`] of the fixture images into a new temporary folder (returned with the output).
fn run_images(extra: &[&str], env: &[(&str, &str)]) -> (tempfile::TempDir, Output) {
    let out = tempfile::tempdir().unwrap();
    let o = run(&fixtures_dir().join("images"), out.path(), extra, env);
    (out, o)
}

/// `sightline report --catalog retail` on the folder `out`, both windows `all`.
fn report(out: &Path, extra: &[&str]) -> Output {
    let args = ["report", "--catalog", "retail", "--reference", "all"];
    let args = [
        &args[..],
        &["--current", "all", "--output", arg(out)],
        extra,
    ]
    .concat();
    sightline(&args, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The exit status, with the output in the message when it is not `want`.
fn assert_exit(o: &Output, want: i32) {
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

#[test]
fn batch_zero_is_a_usage_error() {
    let (out, o) = run_images(&["--batch", "0"], &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--batch"), "{}", stderr(&o));
    assert!(!out.path().join("results").exists());
}

#[test]
fn a_source_file_is_not_a_folder_and_a_missing_source_does_not_exist() {
    let out = tempfile::tempdir().unwrap();
    let file = fixture("images/chelsea.jpg");
    let o = run(&file, out.path(), &[], &[]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("is not a folder"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");

    let o = run(&out.path().join("nowhere"), out.path(), &[], &[]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn file_names_with_colons_and_backslashes_are_read_and_outputs_never_land_in_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("sub")).unwrap();
    let image = std::fs::read(fixture("images/chelsea.jpg")).unwrap();
    for name in [
        "cam1 2024-05-01 12:00:01.jpg",
        "back\\slash.jpg",
        "sub/a.jpg",
    ] {
        std::fs::write(photos.join(name), &image).unwrap();
    }
    // An output inside the source, or the source itself, is refused before anything runs.
    for output in [photos.join("out"), photos.clone()] {
        let o = run(&photos, &output, &[], &[]);
        assert_exit(&o, 1);
        assert!(stderr(&o).contains("overlap"), "{}", stderr(&o));
        assert!(!output.join("results").exists());
    }
    let out = dir.path().join("out");
    let o = run(&photos, &out, &[], &[]);
    assert_exit(&o, 0);
    let rows = sightline_tests::results::rows_in_dir(&out.join("results"));
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "incoming/retail/back\\slash.jpg",
            "incoming/retail/cam1 2024-05-01 12:00:01.jpg",
            "incoming/retail/sub/a.jpg"
        ]
    );
    assert!(rows.iter().all(|r| r.error_kind.is_none()), "{rows:#?}");
    // annotate into a folder of the source would replace photos/sub/a.jpg: refused.
    let o = sightline(
        &[
            "annotate",
            "--results",
            arg(&out.join("results")),
            "--source",
            arg(&photos),
            "--output",
            arg(&photos.join("sub")),
        ],
        &[],
    );
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("overlap"), "{}", stderr(&o));
    assert_eq!(std::fs::read(photos.join("sub/a.jpg")).unwrap(), image);
}

#[test]
fn a_missing_onnx_runtime_library_is_named_once() {
    let out = tempfile::tempdir().unwrap();
    let missing = out.path().join("libonnxruntime.so.missing");
    let missing = missing.to_str().unwrap();
    let o = run(
        &fixtures_dir().join("images"),
        out.path(),
        &[],
        &[("SIGHTLINE_ORT_DYLIB", missing)],
    );
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(missing) && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(err.matches("ONNX Runtime:").count(), 1, "{err}");
}

#[test]
fn the_cuda_hint_names_the_real_feature() {
    let (_out, o) = run_images(&[], &[("SIGHTLINE_EXECUTION_PROVIDER", "cuda")]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    // The tests build the CPU-only binary (no `sightline-vision/cuda` feature).
    assert!(err.contains("--features sightline-vision/cuda"), "{err}");
}

#[test]
fn dead_lettered_objects_exit_3_with_their_keys_and_plain_logs() {
    let src = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("images/chelsea.jpg"),
        src.path().join("chelsea.jpg"),
    )
    .unwrap();
    // A file where the output folder should be: no results can be written under it
    // (even as root, unlike a read-only folder).
    let out = tempfile::tempdir().unwrap();
    let blocked = out.path().join("not-a-folder");
    std::fs::write(&blocked, b"").unwrap();
    let o = run(src.path(), &blocked, &["--json"], &[]);
    assert_exit(&o, 3);
    let summary: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["rows"], 0, "{summary}");
    assert_eq!(summary["files"], 0, "{summary}");
    let dead = summary["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{summary}");
    assert!(
        dead[0].as_str().unwrap().ends_with("chelsea.jpg"),
        "{summary}"
    );
    let err = stderr(&o);
    assert!(err.contains("dead-lettered"), "{err}");
    // The failed writes were logged, and stderr (a pipe) holds no colour codes.
    assert!(err.contains("WARN") || err.contains("ERROR"), "{err}");
    assert!(!o.stderr.contains(&0x1b), "escape codes in:\n{err}");
}

#[test]
fn run_json_prints_one_summary_line() {
    let (_out, o) = run_images(&["--json"], &[]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1, "{text}");
    let summary: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(summary["rows"], 3, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["dead_letters"], Value::Array(vec![]), "{summary}");
    assert!(summary["files"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["seconds"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(summary["images_per_s"].as_f64().unwrap() > 0.0, "{summary}");
}

/// The report JSON file `sightline report` wrote under `<out>/reports/`.
fn written_report(out: &Path) -> Value {
    let dir = out.join("reports/catalog=retail");
    let date = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
    let json = std::fs::read_dir(date.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap()
}

#[test]
fn report_json_and_fail_on_set_the_exit_status() {
    let out = tempfile::tempdir().unwrap();
    assert_exit(
        &run(&fixtures_dir().join("images"), out.path(), &[], &[]),
        0,
    );
    // The same rows in both windows and no labels: status OK.
    let o = report(out.path(), &["--json", "--fail-on", "warn"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1, "{text}");
    let printed: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(printed["status"], "ok", "{printed}");
    assert_eq!(
        printed,
        written_report(out.path()),
        "stdout = report-<id>.json"
    );

    // Every label wrong: accuracy 0 is below the floor, so the status is ALERT.
    let labels = out.path().join("wrong.csv");
    let wrong = "key,label\ncamera.jpg,banana\nchelsea.jpg,banana\ncoffee.jpg,banana\n";
    std::fs::write(&labels, wrong).unwrap();
    let o = report(
        out.path(),
        &["--labels", arg(&labels), "--json", "--fail-on", "alert"],
    );
    assert_exit(&o, 4);
    let printed: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(printed["status"], "alert", "{printed}");
    assert_eq!(printed["classification"]["accuracy"], 0.0, "{printed}");
    assert_eq!(
        printed,
        written_report(out.path()),
        "stdout = report-<id>.json"
    );

    // The labels stay in the folder: the same ALERT exits 0 without --fail-on (and
    // prints the text table), 4 with --fail-on warn.
    let o = report(out.path(), &[]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("status         ALERT"),
        "{}",
        stdout(&o)
    );
    assert_exit(&report(out.path(), &["--fail-on", "warn"]), 4);
}
