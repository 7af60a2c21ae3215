//! The stack's template as the SAM translator expands it (`scripts/emulator_stack.py
//! --translate-only`), and the least-privilege rule its roles must keep.

use serde_json::Value;

use crate::{repo_root, require_python};

/// Which optional parts of the template are switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateVariant {
    /// Lambdas only (the default parameters).
    CpuOnly,
    /// With the GPU worker service (`EnableGpuWorker=true`).
    WithGpu,
}

impl TemplateVariant {
    /// The stack parameters that select this variant (beyond `BucketName`).
    pub fn parameters(self) -> Vec<String> {
        match self {
            TemplateVariant::CpuOnly => vec![],
            TemplateVariant::WithGpu => vec![
                "EnableGpuWorker=true".into(),
                "GpuWorkerImage=123456789012.dkr.ecr.us-east-1.amazonaws.com/sightline-worker-gpu:1".into(),
                "GpuVpcId=vpc-0123456789abcdef0".into(),
                "GpuSubnetIds=subnet-0123456789abcdef0".into(),
            ],
        }
    }
}

/// `infra/template.yaml` after the SAM transform, as CloudFormation JSON; `None` when the
/// Python tools are missing and data tests are opted out (otherwise that panics).
pub fn translated_template(variant: TemplateVariant) -> Option<Value> {
    let python = require_python(&["samtranslator", "yaml", "boto3"])?;
    let mut cmd = std::process::Command::new(python);
    cmd.current_dir(repo_root())
        .args(["scripts/emulator_stack.py", "--translate-only"])
        .args(["--param", "BucketName=sightline-lint"]);
    for p in variant.parameters() {
        cmd.args(["--param", &p]);
    }
    let out = cmd.env("AWS_REGION", "us-east-1").output().unwrap();
    assert!(
        out.status.success(),
        "SAM transform failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// AWS managed policies a role may carry: they grant no S3 or SQS action.
/// (AmazonEC2ContainerServiceforEC2Role: the ECS agent's ecs:, ecr:, logs: and
/// ec2:DescribeTags permissions.)
const MANAGED_WITHOUT_S3_OR_SQS: &[&str] = &["AmazonEC2ContainerServiceforEC2Role"];

/// Every grant of an S3 or SQS action on a wildcard resource (`*`, any bucket, any queue)
/// or of every S3/SQS action (`s3:*`), in the roles of a CloudFormation template, and every
/// managed policy not known to be free of them. Empty means least privilege holds.
pub fn s3_or_sqs_wildcards(template: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let resources = template["Resources"].as_object().expect("Resources");
    for (name, role) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
    {
        let props = &role["Properties"];
        for arn in as_list(&props["ManagedPolicyArns"]) {
            let text = render(arn).join(" ");
            if !MANAGED_WITHOUT_S3_OR_SQS.iter().any(|m| text.ends_with(m)) {
                found.push(format!("{name}: managed policy {text}"));
            }
        }
        for policy in as_list(&props["Policies"]) {
            for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
                found.extend(statement_wildcards(name, statement));
            }
        }
    }
    found
}

fn statement_wildcards(role: &str, statement: &Value) -> Vec<String> {
    if statement["Effect"] != "Allow" {
        return vec![];
    }
    let actions: Vec<&str> = as_list(&statement["Action"])
        .iter()
        .filter_map(|a| a.as_str())
        .filter(|a| *a == "*" || a.starts_with("s3:") || a.starts_with("sqs:"))
        .collect();
    if actions.is_empty() {
        return vec![];
    }
    let mut found: Vec<String> = (actions.iter())
        .filter(|a| a.ends_with(":*") || **a == "*")
        .map(|a| format!("{role}: action {a}"))
        .collect();
    for resource in as_list(&statement["Resource"])
        .iter()
        .flat_map(|r| render(r))
    {
        if is_wildcard(&resource) {
            found.push(format!("{role}: {actions:?} on {resource}"));
        }
    }
    found
}

/// `*`, or an ARN whose bucket or queue name is a wildcard.
fn is_wildcard(resource: &str) -> bool {
    if resource == "*" || resource.contains(":::*") {
        return true;
    }
    resource.contains(":sqs:") && resource.rsplit(':').next().is_some_and(|q| q.contains('*'))
}

/// A resource as text: a string, a `Fn::Sub` pattern, both branches of a `Fn::If`,
/// `GetAtt(X.Arn)` / `Ref(X)` for references.
fn render(node: &Value) -> Vec<String> {
    match node {
        Value::String(s) => vec![s.clone()],
        Value::Object(o) if o.contains_key("Fn::Sub") => match &o["Fn::Sub"] {
            Value::Array(a) => render(&a[0]),
            other => render(other),
        },
        Value::Object(o) if o.contains_key("Fn::If") => {
            let branches = o["Fn::If"].as_array().expect("Fn::If list");
            branches[1..]
                .iter()
                .flat_map(|b| as_list(b).into_iter().flat_map(render))
                .collect()
        }
        Value::Object(o) if o.contains_key("Fn::GetAtt") => {
            vec![format!("GetAtt({})", o["Fn::GetAtt"])]
        }
        Value::Object(o) if o.contains_key("Ref") => vec![format!("Ref({})", o["Ref"])],
        other => vec![other.to_string()],
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Null => vec![],
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}
