use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sightline_core::ObjectRef;
use tokio::io::AsyncReadExt;

use crate::{Object, StorageError};

/// Suffix of the temporary files written by [`LocalStore`] puts; [`LocalStore`] lists skip them.
const TMP_SUFFIX: &str = ".sightline-tmp";

/// A local folder used as a bucket.
///
/// The folder **is** the bucket: every method ignores its bucket argument, and keys are
/// relative paths below the folder with `/` separators. Keys that could escape the folder
/// are refused with [`StorageError::InvalidKey`].
///
/// [`LocalStore::mounted_at`] makes the folder appear under a key prefix: embedded mode
/// mounts a folder of images at `incoming/<catalog>/`, so its files route exactly like
/// uploads to a bucket.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<Path>,
    mount: Arc<str>,
}

impl LocalStore {
    /// A store rooted at `root`. The folder is created by the first [`put`](crate::Store::put).
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore {
            root: root.into().into(),
            mount: "".into(),
        }
    }

    /// The same folder, seen under the key prefix `mount` (e.g. `incoming/retail/`):
    /// the file `a/b.jpg` has the key `incoming/retail/a/b.jpg`, and keys outside the
    /// prefix do not exist.
    pub fn mounted_at(self, mount: impl Into<String>) -> LocalStore {
        LocalStore {
            mount: mount.into().into(),
            ..self
        }
    }

    /// The folder used as the bucket.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    /// The path of `key`, or `InvalidKey` when the key is not a plain relative path.
    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let Some(key) = key.strip_prefix(&*self.mount) else {
            return Err(StorageError::InvalidKey {
                key: key.to_owned(),
            });
        };
        let valid = !key.is_empty()
            && !key.contains(['\\', '\0'])
            && key
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        // `split('/')` rejects a leading `/` (empty first component); this also rejects a
        // Windows drive prefix such as `C:`.
        if valid && Path::new(key).is_relative() && !key.contains(':') {
            Ok(self.root.join(key))
        } else {
            Err(StorageError::InvalidKey {
                key: key.to_owned(),
            })
        }
    }

    pub(crate) async fn get(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Object, StorageError> {
        let path = self.path(key)?;
        let not_found = |e| map_io(e, bucket, key);
        let mut file = tokio::fs::File::open(&path).await.map_err(not_found)?;
        let meta = file.metadata().await.map_err(not_found)?;
        if !meta.is_file() {
            return Err(not_found(io::ErrorKind::NotFound.into()));
        }
        if meta.len() > max_bytes {
            return Err(StorageError::TooLarge {
                size: meta.len(),
                limit: max_bytes,
            });
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        // `take` guards against a file that grew after the size check.
        (&mut file)
            .take(max_bytes + 1)
            .read_to_end(&mut buf)
            .await?;
        if buf.len() as u64 > max_bytes {
            return Err(StorageError::TooLarge {
                size: buf.len() as u64,
                limit: max_bytes,
            });
        }
        let (etag, last_modified) = fingerprint(&meta);
        Ok(Object {
            size: buf.len() as i64,
            bytes: Bytes::from(buf),
            etag: Some(etag),
            last_modified,
        })
    }

    pub(crate) async fn put(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = self.path(key)?;
        let dir = path.parent().expect("a joined key has a parent");
        tokio::fs::create_dir_all(dir).await?;
        let name = path
            .file_name()
            .expect("a valid key has a file name")
            .to_string_lossy();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{seq}{TMP_SUFFIX}", std::process::id()));
        let written = async {
            tokio::fs::write(&tmp, &body).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(written?)
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<ObjectRef, StorageError> {
        let path = self.path(key)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| map_io(e, bucket, key))?;
        if !meta.is_file() {
            return Err(map_io(io::ErrorKind::NotFound.into(), bucket, key));
        }
        Ok(object_ref(bucket, key.to_owned(), &meta))
    }

    /// Recursive walk, starting at the deepest folder named by `prefix`. Keys are sorted;
    /// temporary files, symlinked folders and non-UTF-8 names are skipped.
    pub(crate) async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ObjectRef>, StorageError> {
        // The prefix below the mount point: a prefix above it lists everything.
        let prefix = match prefix.strip_prefix(&*self.mount) {
            Some(inner) => inner,
            None if self.mount.starts_with(prefix) => "",
            None => return Ok(Vec::new()),
        };
        let mount = self.mount.clone();
        let dir_key = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let start = if dir_key.is_empty() {
            self.root.to_path_buf()
        } else {
            self.path(&format!("{mount}{dir_key}"))?
        };
        let (bucket, prefix, dir_key) = (bucket.to_owned(), prefix.to_owned(), dir_key.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            match walk(&start, &dir_key, &mut |key, meta| {
                if key.starts_with(&prefix) {
                    out.push(object_ref(&bucket, format!("{mount}{key}"), meta));
                }
            }) {
                Err(e) if is_missing(&e) => {}
                other => other?,
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Transient {
            op: "list",
            message: e.to_string(),
        })?
    }
}

/// Calls `f` for every regular file below `dir`, whose key is `dir_key`.
fn walk(
    dir: &Path,
    dir_key: &str,
    f: &mut dyn FnMut(String, &std::fs::Metadata),
) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(path = %entry.path().display(), "skipping a file name that is not UTF-8");
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            continue;
        }
        let key = if dir_key.is_empty() {
            name
        } else {
            format!("{dir_key}/{name}")
        };
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &key, f)?;
        } else {
            // Follows a symlink to a file; a dangling link is skipped.
            match std::fs::metadata(entry.path()) {
                Ok(meta) if meta.is_file() => f(key, &meta),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// "Not found", or "not a directory" (a key below an existing file).
fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn map_io(e: io::Error, bucket: &str, key: &str) -> StorageError {
    if is_missing(&e) {
        StorageError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }
    } else {
        StorageError::Io(e)
    }
}

/// A cheap, stable ETag (`{size:x}-{mtime_nanos:x}`) and the modification time.
fn fingerprint(meta: &std::fs::Metadata) -> (String, Option<DateTime<Utc>>) {
    let mtime = meta.modified().ok();
    let nanos = mtime
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (
        format!("{:x}-{nanos:x}", meta.len()),
        mtime.map(DateTime::<Utc>::from),
    )
}

fn object_ref(bucket: &str, key: String, meta: &std::fs::Metadata) -> ObjectRef {
    let (etag, modified) = fingerprint(meta);
    ObjectRef {
        etag: Some(etag),
        size: Some(meta.len() as i64),
        event_time: modified,
        ..ObjectRef::new(bucket, key)
    }
}
