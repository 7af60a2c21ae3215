use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sightline_core::ObjectRef;
use tokio::io::AsyncReadExt;
use walkdir::{DirEntry, WalkDir};

use crate::{Object, Precondition, Result, StorageError};

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
    ///
    /// Every name the file system allows is a key: on Unix `:` and `\` are ordinary
    /// characters of a name (only `/` separates), and a name that is not UTF-8 is listed
    /// under a key with its stray bytes written `%XX` ([`key_of_name`]), which leads back
    /// to the file. On Windows `\` and `:` (drive prefixes, streams) are refused.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let invalid = || StorageError::InvalidKey {
            key: key.to_owned(),
        };
        let inner = key.strip_prefix(&*self.mount).ok_or_else(invalid)?;
        let windows_special = cfg!(windows) && inner.contains(['\\', ':']);
        let plain = !inner.is_empty()
            && !inner.contains('\0')
            && !windows_special
            && inner
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        // `split('/')` rejects a leading `/` (an empty first component).
        if !plain || !Path::new(inner).is_relative() {
            return Err(invalid());
        }
        let path = self.root.join(inner);
        Ok(match raw_name_path(&self.root, inner) {
            Some(raw) if !path.exists() && raw.exists() => raw,
            _ => path,
        })
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Object> {
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
            .take(max_bytes.saturating_add(1))
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

    pub(crate) async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        let (path, tmp) = self.write_tmp(key, body).await?;
        let renamed = tokio::fs::rename(&tmp, &path).await;
        if renamed.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(renamed?)
    }

    /// Writes `body` to a temporary file beside the object's path; returns both paths.
    async fn write_tmp(&self, key: &str, body: Bytes) -> Result<(PathBuf, PathBuf)> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = self.path(key)?;
        // `path` accepted the key, so it has a folder and a file name.
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(StorageError::InvalidKey {
                key: key.to_owned(),
            });
        };
        tokio::fs::create_dir_all(dir).await?;
        let name = name.to_string_lossy();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{seq}{TMP_SUFFIX}", std::process::id()));
        if let Err(e) = tokio::fs::write(&tmp, &body).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        Ok((path, tmp))
    }

    /// Create-only: a hard link from the temporary file to the object's path fails when
    /// the path exists, atomically.
    async fn create_only(&self, key: &str, body: Bytes) -> Result<()> {
        let (path, tmp) = self.write_tmp(key, body).await?;
        let linked = tokio::fs::hard_link(&tmp, &path).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        match linked {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StorageError::PreconditionFailed {
                    key: key.to_owned(),
                })
            }
            other => Ok(other?),
        }
    }

    /// Create-only writes use [`LocalStore::create_only`]; compare-and-write holds an
    /// exclusive lock on `.<name>.lock` + [`TMP_SUFFIX`] beside the object while it compares
    /// and renames (an OS advisory lock, released when the process dies, so a crash leaves
    /// no stale lock; the file stays, and lists skip it).
    pub(crate) async fn put_if(&self, key: &str, body: Bytes, expect: &Precondition) -> Result<()> {
        if *expect == Precondition::Absent {
            return self.create_only(key, body).await;
        }
        let path = self.path(key)?;
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(StorageError::InvalidKey {
                key: key.to_owned(),
            });
        };
        tokio::fs::create_dir_all(dir).await?;
        let lock_path = dir.join(format!(".{}.lock{TMP_SUFFIX}", name.to_string_lossy()));
        let lock = tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))??;
        let current = match tokio::fs::metadata(&path).await {
            Ok(meta) => Some(fingerprint(&meta).0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let as_expected = match expect {
            Precondition::Absent => current.is_none(),
            Precondition::Etag(etag) => current.as_deref() == Some(etag.as_str()),
        };
        let written = if as_expected {
            self.put(key, body).await
        } else {
            Err(StorageError::PreconditionFailed {
                key: key.to_owned(),
            })
        };
        drop(lock);
        written
    }

    pub(crate) async fn delete(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<ObjectRef> {
        let path = self.path(key)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| map_io(e, bucket, key))?;
        if !meta.is_file() {
            return Err(map_io(io::ErrorKind::NotFound.into(), bucket, key));
        }
        Ok(object_ref(bucket, key.to_owned(), &meta))
    }

    /// Recursive walk, starting at the deepest folder named by `prefix`, following symbolic
    /// links (a link to a file is that file, a link to a folder lists the folder's files under
    /// the link's name). Keys are sorted; temporary files, dangling links and non-UTF-8 names
    /// are skipped; a link loop is an error.
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectRef>> {
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
        .map_err(io::Error::other)?
    }
}

/// Calls `f` for every regular file below `dir` (whose key is `dir_key`), following
/// symbolic links. A missing `dir` is an error ([`is_missing`]); below it, a link loop is
/// an error and a dangling link is skipped.
fn walk(
    dir: &Path,
    dir_key: &str,
    f: &mut dyn FnMut(String, &std::fs::Metadata),
) -> io::Result<()> {
    let walker = WalkDir::new(dir).follow_links(true).min_depth(1);
    for entry in walker.into_iter().filter_entry(listed) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.depth() > 0 && e.io_error().is_some_and(is_missing) => continue,
            Err(e) => return Err(e.into()),
        };
        let meta = entry.metadata()?;
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        if meta.is_file() {
            let names = rel.components().map(|c| key_of_name(c.as_os_str()));
            let key: Vec<String> = Some(dir_key.to_string())
                .filter(|k| !k.is_empty())
                .into_iter()
                .chain(names)
                .collect();
            f(key.join("/"), &meta);
        }
    }
    Ok(())
}

/// Whether an entry below the walk's start is listed: not a temporary file.
fn listed(entry: &DirEntry) -> bool {
    !entry
        .file_name()
        .as_encoded_bytes()
        .ends_with(TMP_SUFFIX.as_bytes())
}

/// The key component of a file name: the name itself when it is UTF-8; otherwise its
/// valid parts as they are and each stray byte as `%XX` (S3 keys are UTF-8). The path of
/// such a key is found again by [`raw_name_path`].
pub(crate) fn key_of_name(name: &std::ffi::OsStr) -> String {
    if let Some(s) = name.to_str() {
        return s.to_string();
    }
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path whose non-UTF-8 names [`key_of_name`] wrote as `inner` (its `%XX` escapes
/// turned back into bytes), if `inner` has escapes. Unix only: elsewhere names are
/// Unicode.
fn raw_name_path(root: &Path, inner: &str) -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        if !inner.contains('%') {
            return None;
        }
        let (bytes, mut out) = (inner.as_bytes(), Vec::with_capacity(inner.len()));
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            // Only bytes that are never UTF-8 on their own were escaped: `%2F` stays text,
            // so a key cannot smuggle a separator (or `..`) in.
            let escaped = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], escaped.filter(|b| *b >= 0x80)) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Some(root.join(std::ffi::OsStr::from_bytes(&out)))
    }
    #[cfg(not(unix))]
    {
        let _ = (root, inner);
        None
    }
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
