//! The stack deployed into moto's CloudFormation by `scripts/emulator_stack.py` (SAM
//! transform, CreateStack, one IAM user per role, IAM enforced afterwards), and what a test
//! needs to drive the real binaries through it: each function's environment, each role's
//! credentials, the event source mappings, the GPU task definition.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::moto::Moto;
use crate::{repo_root, require_python};

/// A deployed stack, as the deploy script described it.
#[derive(Debug, Clone)]
pub struct DeployedStack {
    /// The script's JSON: `outputs`, `resources`, `not_created`, `functions`,
    /// `event_source_mappings`, `roles`, `credentials`, `gpu_task_definition`,
    /// `dashboard_body`, `applied_by_script`.
    pub description: Value,
    /// The SAM-expanded template that was deployed.
    pub template: Value,
}

impl DeployedStack {
    /// Deploys `infra/template.yaml` as stack `name` into `moto` with the given `Key=Value`
    /// parameters (the GPU worker's network is created first when it is enabled), makes
    /// moto enforce IAM, and switches `moto`'s own clients to the stack's administrator.
    /// `None` when Python's tools are missing and data tests are opted out.
    pub fn deploy(moto: &Moto, name: &str, parameters: &[String]) -> Option<DeployedStack> {
        let template = repo_root().join("infra").join("template.yaml");
        DeployedStack::deploy_template(moto, name, &template, parameters)
    }

    /// Like [`DeployedStack::deploy`] with another template (a mutated copy, to show that a
    /// test fails without a permission).
    pub fn deploy_template(
        moto: &Moto,
        name: &str,
        template: &Path,
        parameters: &[String],
    ) -> Option<DeployedStack> {
        let python = require_python(&["samtranslator", "yaml", "boto3"])?;
        let dir = tempfile::tempdir().expect("temp dir");
        let translated = dir.path().join("template.json");
        let mut cmd = Command::new(python);
        cmd.current_dir(repo_root())
            .args(["scripts/emulator_stack.py", "--endpoint", moto.endpoint()])
            .arg("--template")
            .arg(template)
            .args(["--stack-name", name, "--enforce-iam", "--gpu-network"])
            .arg("--translated-out")
            .arg(&translated)
            .envs(moto.env_vars());
        for p in parameters {
            cmd.args(["--param", p]);
        }
        let out = cmd.output().expect("run scripts/emulator_stack.py");
        assert!(
            out.status.success(),
            "deploying the stack failed:\n{}\nmoto log tail:\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail(&moto.log(), 4000)
        );
        let description: Value = serde_json::from_slice(&out.stdout).expect("deploy JSON");
        let template = serde_json::from_str(&std::fs::read_to_string(&translated).unwrap())
            .expect("translated template");
        let stack = DeployedStack {
            description,
            template,
        };
        let (key, secret) = stack.credentials("admin");
        moto.use_credentials(&key, &secret);
        Some(stack)
    }

    /// A stack output (`QueueUrl`, `BucketName`, ...).
    pub fn output(&self, key: &str) -> String {
        (self.description["outputs"][key].as_str())
            .unwrap_or_else(|| panic!("no output {key}: {}", self.description["outputs"]))
            .to_string()
    }

    /// The access key of the IAM user that holds exactly `role`'s policies (or `admin`).
    pub fn credentials(&self, role: &str) -> (String, String) {
        let c = &self.description["credentials"][role];
        let get = |k: &str| (c[k].as_str()).unwrap_or_else(|| panic!("no credentials for {role}"));
        (get("access_key_id").into(), get("secret_access_key").into())
    }

    /// Environment for a child process that acts as `role` against `moto`.
    pub fn role_env(&self, moto: &Moto, role: &str) -> Vec<(String, String)> {
        let (key, secret) = self.credentials(role);
        let mut env: Vec<(String, String)> = (moto.env_vars().into_iter())
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
            .collect();
        env.push(("AWS_ACCESS_KEY_ID".into(), key));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), secret));
        env
    }

    /// A deployed function's configuration (`environment`, `role`, `memory_mb`, ...).
    pub fn function(&self, logical_id: &str) -> &Value {
        let f = &self.description["functions"][logical_id];
        assert!(f.is_object(), "no function {logical_id}");
        f
    }

    /// A function's environment as deployed, with the image's paths (`/var/task/...`)
    /// replaced by the checkout's models and the test's ONNX Runtime library.
    pub fn function_env(&self, logical_id: &str) -> Vec<(String, String)> {
        let vars = self.function(logical_id)["environment"]
            .as_object()
            .unwrap();
        local_paths(
            vars.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
        )
    }

    /// The event source mapping that feeds `logical_id`.
    pub fn mapping_of(&self, logical_id: &str) -> &Value {
        let arn = &self.function(logical_id)["arn"];
        (self.description["event_source_mappings"]
            .as_array()
            .unwrap()
            .iter())
        .find(|m| &m["function_arn"] == arn)
        .unwrap_or_else(|| panic!("no event source mapping for {logical_id}"))
    }

    /// The GPU worker container's environment from the task definition, image paths
    /// replaced as for [`DeployedStack::function_env`].
    pub fn worker_env(&self) -> Vec<(String, String)> {
        let worker = self.worker_container();
        local_paths(worker["environment"].as_array().unwrap().iter().map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        }))
    }

    /// The GPU worker container's command (the arguments after the image's entry point,
    /// `sightline worker`).
    pub fn worker_command(&self) -> Vec<String> {
        let worker = self.worker_container();
        let args = worker["command"].as_array().cloned().unwrap_or_default();
        args.iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    fn worker_container(&self) -> Value {
        let task = &self.description["gpu_task_definition"];
        let containers = task["containerDefinitions"]
            .as_array()
            .expect("task definition");
        (containers.iter().find(|c| c["name"] == "worker"))
            .expect("a worker container")
            .clone()
    }

    /// An SQS client that signs as `role` (the event source mapping polls with the
    /// function's role).
    pub async fn sqs_as(&self, moto: &Moto, role: &str) -> aws_sdk_sqs::Client {
        let (key, secret) = self.credentials(role);
        aws_sdk_sqs::Client::new(&moto.sdk_config_as(&key, &secret).await)
    }
}

fn local_paths(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vars
        .filter(|(k, _)| k != "SIGHTLINE_MODELS_DIR" && k != "SIGHTLINE_ORT_DYLIB")
        .collect();
    env.push((
        "SIGHTLINE_MODELS_DIR".into(),
        repo_root().join("models").display().to_string(),
    ));
    env
}

fn tail(text: &str, n: usize) -> &str {
    let start = text.len().saturating_sub(n);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}
