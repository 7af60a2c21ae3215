//! Reading and writing the registry in a [`Store`].

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use sightline_storage::{Precondition, StorageError, Store};

use crate::alias::Alias;
use crate::manifest::{HeadManifest, MANIFEST_FORMAT};
use crate::RegistryError;

/// Largest registry object read (a head for 1000 classes × 1280 is 5 MB).
const MAX_OBJECT_BYTES: u64 = 256 << 20;

/// The two ONNX files of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadFile {
    /// `head.onnx`: served.
    Served,
    /// `holdout.onnx`: fitted without the validation rows, used by gates.
    Holdout,
}

impl HeadFile {
    /// File name below the version folder.
    pub fn name(self) -> &'static str {
        match self {
            HeadFile::Served => "head.onnx",
            HeadFile::Holdout => "holdout.onnx",
        }
    }
}

/// Everything a new version writes.
#[derive(Debug, Clone)]
pub struct VersionFiles {
    /// Its manifest (files and checksums filled in by [`Registry::publish`]).
    pub manifest: HeadManifest,
    /// `head.onnx`.
    pub head: Vec<u8>,
    /// `holdout.onnx`.
    pub holdout: Vec<u8>,
    /// `MODEL_CARD.md`.
    pub card: String,
}

/// A version's manifest and the bytes of one of its heads (checksum verified).
#[derive(Debug, Clone)]
pub struct LoadedHead {
    /// The manifest.
    pub manifest: HeadManifest,
    /// The ONNX bytes.
    pub onnx: Bytes,
}

/// The registry of one bucket.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
    bucket: String,
}

/// An alias document and the ETag it was read with.
type ReadAlias = (Alias, Option<String>);

impl Registry {
    /// The registry under `registry/` of `bucket`.
    pub fn new(store: Store, bucket: impl Into<String>) -> Registry {
        Registry {
            store,
            bucket: bucket.into(),
        }
    }

    fn alias_key(catalog: &str) -> String {
        format!("registry/{catalog}/alias.json")
    }

    fn version_key(catalog: &str, version: &str, file: &str) -> String {
        format!("registry/{catalog}/{version}/{file}")
    }

    /// The alias of `catalog` (an empty one when none was written) and its ETag.
    pub async fn alias(&self, catalog: &str) -> Result<ReadAlias, RegistryError> {
        let key = Registry::alias_key(catalog);
        match self.store.get(&self.bucket, &key, MAX_OBJECT_BYTES).await {
            Ok(object) => {
                let alias: Alias =
                    serde_json::from_slice(&object.bytes).map_err(|e| RegistryError::Corrupt {
                        key: key.clone(),
                        message: e.to_string(),
                    })?;
                Ok((alias, object.etag))
            }
            Err(StorageError::NotFound { .. }) => Ok((Alias::new(catalog), None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `alias` only if the stored one still has `etag` (`None`: none exists yet).
    pub async fn write_alias(
        &self,
        alias: &Alias,
        etag: Option<&str>,
    ) -> Result<(), RegistryError> {
        let key = Registry::alias_key(&alias.catalog);
        let body = serde_json::to_vec_pretty(alias).map_err(|e| RegistryError::Corrupt {
            key: key.clone(),
            message: e.to_string(),
        })?;
        let expect = etag.map_or(Precondition::Absent, |e| Precondition::Etag(e.to_string()));
        let written = self
            .store
            .put_if(
                &self.bucket,
                &key,
                Bytes::from(body),
                "application/json",
                &expect,
            )
            .await;
        match written {
            Err(StorageError::PreconditionFailed { .. }) => Err(RegistryError::Conflict {
                catalog: alias.catalog.clone(),
                message: "the alias changed since it was read".into(),
            }),
            other => Ok(other?),
        }
    }

    /// Reads the alias, applies `change`, and writes it back conditionally: one attempt, a
    /// concurrent change is [`RegistryError::Conflict`]. `change` may refuse with an error.
    pub async fn update_alias<F>(&self, catalog: &str, change: F) -> Result<Alias, RegistryError>
    where
        F: FnOnce(&mut Alias) -> Result<(), RegistryError>,
    {
        let (mut alias, etag) = self.alias(catalog).await?;
        change(&mut alias)?;
        self.write_alias(&alias, etag.as_deref()).await?;
        Ok(alias)
    }

    /// Writes a new version: the ONNX files and the card first, the manifest (with their
    /// checksums) last, each create-only.
    pub async fn publish(&self, mut files: VersionFiles) -> Result<HeadManifest, RegistryError> {
        let (catalog, version) = (
            files.manifest.catalog.clone(),
            files.manifest.version.clone(),
        );
        files.manifest.format = MANIFEST_FORMAT.to_string();
        files.manifest.files = vec![
            crate::manifest::FileEntry::of(HeadFile::Served.name(), &files.head),
            crate::manifest::FileEntry::of(HeadFile::Holdout.name(), &files.holdout),
        ];
        let manifest_json =
            serde_json::to_vec_pretty(&files.manifest).map_err(|e| RegistryError::Corrupt {
                key: version.clone(),
                message: e.to_string(),
            })?;
        let objects = [
            (
                HeadFile::Served.name(),
                files.head,
                "application/octet-stream",
            ),
            (
                HeadFile::Holdout.name(),
                files.holdout,
                "application/octet-stream",
            ),
            (
                "MODEL_CARD.md",
                files.card.into_bytes(),
                "text/markdown; charset=utf-8",
            ),
            ("manifest.json", manifest_json, "application/json"),
        ];
        for (name, body, mime) in objects {
            let key = Registry::version_key(&catalog, &version, name);
            let put = self.store.put_if(
                &self.bucket,
                &key,
                Bytes::from(body),
                mime,
                &Precondition::Absent,
            );
            match put.await {
                Err(StorageError::PreconditionFailed { .. }) => {
                    return Err(RegistryError::Conflict {
                        catalog,
                        message: format!("version {version} already has {name}"),
                    })
                }
                other => other?,
            }
        }
        Ok(files.manifest)
    }

    /// The manifest of `version`.
    pub async fn manifest(
        &self,
        catalog: &str,
        version: &str,
    ) -> Result<HeadManifest, RegistryError> {
        let key = Registry::version_key(catalog, version, "manifest.json");
        let object = match self.store.get(&self.bucket, &key, MAX_OBJECT_BYTES).await {
            Err(StorageError::NotFound { .. }) => {
                return Err(RegistryError::NotFound(format!(
                    "catalog {catalog} has no version {version} (no {key})"
                )))
            }
            other => other?,
        };
        let manifest: HeadManifest =
            serde_json::from_slice(&object.bytes).map_err(|e| RegistryError::Corrupt {
                key: key.clone(),
                message: e.to_string(),
            })?;
        if manifest.format != MANIFEST_FORMAT
            || manifest.version != version
            || manifest.catalog != catalog
        {
            return Err(RegistryError::Corrupt {
                key,
                message: format!(
                    "format {:?}, catalog {:?}, version {:?} do not match",
                    manifest.format, manifest.catalog, manifest.version
                ),
            });
        }
        Ok(manifest)
    }

    /// The manifest of `version` and the bytes of its `file`, checked against the manifest.
    pub async fn load(
        &self,
        catalog: &str,
        version: &str,
        file: HeadFile,
    ) -> Result<LoadedHead, RegistryError> {
        let manifest = self.manifest(catalog, version).await?;
        let key = Registry::version_key(catalog, version, file.name());
        let corrupt = |message: String| RegistryError::Corrupt {
            key: key.clone(),
            message,
        };
        let entry = manifest
            .file(file.name())
            .ok_or_else(|| corrupt("not listed in the manifest".into()))?;
        let object = self.store.get(&self.bucket, &key, MAX_OBJECT_BYTES).await?;
        let sha = hex::encode(Sha256::digest(&object.bytes));
        if sha != entry.sha256 {
            return Err(corrupt(format!(
                "sha256 {sha}, manifest says {}",
                entry.sha256
            )));
        }
        Ok(LoadedHead {
            manifest,
            onnx: object.bytes,
        })
    }

    /// The champion of `catalog` and its served head, or `None` when it has none.
    pub async fn champion(&self, catalog: &str) -> Result<Option<LoadedHead>, RegistryError> {
        let (alias, _) = self.alias(catalog).await?;
        match alias.champion {
            Some(v) => Ok(Some(self.load(catalog, &v, HeadFile::Served).await?)),
            None => Ok(None),
        }
    }

    /// Every version of `catalog` with a readable manifest, oldest first; versions whose
    /// manifest is missing or corrupt are returned as errors beside them.
    pub async fn versions(
        &self,
        catalog: &str,
    ) -> Result<Vec<Result<HeadManifest, RegistryError>>, RegistryError> {
        let prefix = format!("registry/{catalog}/");
        let mut versions: Vec<String> = self
            .store
            .list(&self.bucket, &prefix)
            .await?
            .into_iter()
            .filter_map(|o| {
                let rest = o.key.strip_prefix(&prefix)?.to_string();
                rest.strip_suffix("/manifest.json").map(str::to_string)
            })
            .collect();
        versions.sort();
        let mut out = Vec::new();
        for v in versions {
            out.push(self.manifest(catalog, &v).await);
        }
        Ok(out)
    }

    /// Makes `version` the champion (it must have a readable manifest of this catalog).
    pub async fn promote(
        &self,
        catalog: &str,
        version: &str,
        reason: &str,
    ) -> Result<Alias, RegistryError> {
        self.manifest(catalog, version).await?;
        self.update_alias(catalog, |a| {
            a.promote(version, reason, Utc::now());
            Ok(())
        })
        .await
    }

    /// Returns the champion to the one before it.
    pub async fn rollback(&self, catalog: &str, reason: &str) -> Result<Alias, RegistryError> {
        self.update_alias(catalog, |a| {
            a.rollback(reason, Utc::now()).map(|_| ()).ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "catalog {catalog} has no earlier champion to roll back to"
                ))
            })
        })
        .await
    }
}
