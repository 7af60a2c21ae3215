//! `infra/template.yaml` passes cfn-lint and checkov (every suppression carries its reason),
//! as written and as the SAM translator expands it (with and without the GPU worker), and
//! no role it creates grants an S3 or SQS action on a wildcard resource.
//!
//! The tools come from `scripts/setup.sh test` (cfn-lint and aws-sam-translator in
//! `.cache/venv`, checkov in `.cache/checkov`); without them these tests fail.

use std::path::{Path, PathBuf};

use std::process::Command;

use serde_json::Value;
use sightline_tests::infra::{s3_or_sqs_wildcards, translated_template, TemplateVariant};
use sightline_tests::{repo_root, require_tool};

fn template() -> PathBuf {
    repo_root().join("infra").join("template.yaml")
}

#[test]
fn cfn_lint_passes() {
    let Some(cfn_lint) = require_tool("SIGHTLINE_CFN_LINT") else {
        return;
    };
    let out = Command::new(cfn_lint).arg(template()).output().unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// checkov's JSON report of one CloudFormation file, offline.
fn checkov(checkov: &Path, file: &Path) -> Value {
    let out = Command::new(checkov)
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "-f",
        ])
        .arg(file)
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "TRUE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn assert_checkov_clean(report: &Value, what: &str) {
    let summary = &report["summary"];
    let failed: Vec<String> = (report["results"]["failed_checks"].as_array().unwrap())
        .iter()
        .map(|c| format!("{} {} {}", c["check_id"], c["resource"], c["check_name"]))
        .collect();
    assert!(failed.is_empty(), "checkov on {what}: {failed:#?}");
    assert_eq!(summary["parsing_errors"], 0, "{what}: {summary}");
    assert!(
        summary["passed"].as_u64().unwrap() >= 40,
        "{what}: {summary}"
    );
    for skipped in report["results"]["skipped_checks"].as_array().unwrap() {
        let why = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            why.len() >= 20,
            "{what}: {} on {} is suppressed without a reason",
            skipped["check_id"],
            skipped["resource"]
        );
    }
}

#[test]
fn checkov_passes_with_every_suppression_justified() {
    let Some(checkov_bin) = require_tool("SIGHTLINE_CHECKOV") else {
        return;
    };
    assert_checkov_clean(&checkov(&checkov_bin, &template()), "template.yaml");
    let dir = tempfile::tempdir().unwrap();
    for variant in [TemplateVariant::CpuOnly, TemplateVariant::WithGpu] {
        let Some(expanded) = translated_template(variant) else {
            return;
        };
        // checkov recognises CloudFormation by the file's extension and content.
        let file = dir.path().join(format!("{variant:?}.template.json"));
        std::fs::write(&file, expanded.to_string()).unwrap();
        assert_checkov_clean(&checkov(&checkov_bin, &file), &format!("{variant:?}"));
    }
}

#[test]
fn no_role_grants_s3_or_sqs_on_a_wildcard() {
    // The expanded template holds every role (the GPU ones under the GpuWorker condition).
    let Some(expanded) = translated_template(TemplateVariant::WithGpu) else {
        return;
    };
    let roles: Vec<&String> = (expanded["Resources"].as_object().unwrap().iter())
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(roles.len(), 7, "{roles:?}");
    let found = s3_or_sqs_wildcards(&expanded);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_wildcard_check_catches_what_sam_would_have_attached() {
    // The check itself, on the role SAM generates for an SQS-triggered function without an
    // explicit role (AWSLambdaSQSQueueExecutionRole: SQS receive/delete on "*"), and on an
    // inline statement with a bucket-wide wildcard.
    let sam_role: Value = serde_json::json!({"Resources": {"R": {"Type": "AWS::IAM::Role",
        "Properties": {"ManagedPolicyArns": [
            "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]}}}});
    assert_eq!(s3_or_sqs_wildcards(&sam_role).len(), 1);
    let inline: Value = serde_json::json!({"Resources": {"R": {"Type": "AWS::IAM::Role",
        "Properties": {"Policies": [{"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::*/incoming/*"},
            {"Effect": "Allow", "Action": "sqs:*", "Resource": {"Fn::GetAtt": ["Q", "Arn"]}},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}}]}}}});
    assert_eq!(
        s3_or_sqs_wildcards(&inline).len(),
        2,
        "kms on * is not S3/SQS"
    );
}
