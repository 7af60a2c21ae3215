//! `--output <folder> | --bucket <name>`: the bucket a command reads and writes, as the
//! embedded default (a folder) or S3.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use sightline_storage::{LocalStore, S3Store, Store};

/// Where a command's bucket is.
#[derive(Args, Clone)]
pub struct BucketArgs {
    /// Folder used as the bucket (what `sightline run --output` wrote).
    #[arg(long, conflicts_with = "bucket")]
    pub output: Option<PathBuf>,
    /// S3 bucket instead of a folder (endpoint and credentials from the AWS environment).
    #[arg(long)]
    pub bucket: Option<String>,
}

impl BucketArgs {
    /// The store and the bucket name to pass to it.
    pub async fn open(&self) -> Result<(Store, String)> {
        match (&self.output, &self.bucket) {
            (Some(dir), None) => {
                if !dir.is_dir() {
                    bail!(
                        "{} is not a folder (run `sightline run --output` first)",
                        dir.display()
                    );
                }
                Ok((
                    Store::Local(LocalStore::new(dir)),
                    sightline_pipeline::embedded::LOCAL_BUCKET.to_string(),
                ))
            }
            (None, Some(b)) => Ok((Store::S3(S3Store::from_env().await), b.clone())),
            _ => bail!("give --output <folder> or --bucket <name>"),
        }
    }

    /// A key as a path (folder) or an `s3://` URL, for messages.
    pub fn place(&self, key: &str) -> String {
        match (&self.output, &self.bucket) {
            (Some(dir), _) => dir.join(key).display().to_string(),
            (None, Some(b)) => format!("s3://{b}/{key}"),
            (None, None) => key.to_string(),
        }
    }
}

/// Copies local labels files under `labels/<catalog>/` of the bucket.
pub async fn upload_labels(
    store: &Store,
    bucket: &str,
    catalog: &str,
    files: &[PathBuf],
) -> Result<()> {
    for path in files {
        let name = path.file_name().context("labels path has no file name")?;
        let key = format!("labels/{catalog}/{}", name.to_string_lossy());
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        store
            .put(bucket, &key, Bytes::from(bytes), "application/octet-stream")
            .await?;
    }
    Ok(())
}
