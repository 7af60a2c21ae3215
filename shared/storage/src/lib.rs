//! Object storage for Sightline: read images, write results, list objects.
//!
//! [`Store`] dispatches (by enum, no trait objects) to one of two backends:
//!
//! * [`LocalStore`]: a folder on disk used as a single bucket (embedded mode, tests).
//! * [`S3Store`]: Amazon S3 or an S3-compatible endpoint (moto, MinIO) through `aws-sdk-s3`.
//!
//! Every failure is a [`StorageError`], classified once by [`StorageError::disposition`] into
//! an error row (permanent) or a retry of the message (transient).

mod error;
mod local;
mod s3;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sightline_core::ObjectRef;

pub use error::StorageError;
pub use local::LocalStore;
pub use s3::S3Store;

/// The content and metadata of one object, as returned by [`Store::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The whole body.
    pub bytes: Bytes,
    /// ETag, quotes stripped (for a local file: a `size-mtime` fingerprint).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: i64,
    /// Last-modified time, if the store reports it.
    pub last_modified: Option<DateTime<Utc>>,
}

/// What a conditional write ([`Store::put_if`]) expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No object at the key (create only).
    Absent,
    /// The object with this ETag (as [`Store::get`] or [`Store::head`] returned it).
    Etag(String),
}

/// An object store: a local folder or S3. Cloning is cheap (the backends share their state).
#[derive(Debug, Clone)]
pub enum Store {
    /// A local folder used as a bucket.
    Local(LocalStore),
    /// Amazon S3 or an S3-compatible endpoint.
    S3(S3Store),
}

impl Store {
    /// Reads a whole object. Fails with [`StorageError::TooLarge`] when the object is larger
    /// than `max_bytes`, decided from its size before the body is read.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Object, StorageError> {
        match self {
            Store::Local(s) => s.get(bucket, key, max_bytes).await,
            Store::S3(s) => s.get(bucket, key, max_bytes).await,
        }
    }

    /// Writes a whole object, replacing any previous one. A local write is atomic
    /// (temporary file in the same folder, then rename).
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        match self {
            Store::Local(s) => s.put(key, body).await,
            Store::S3(s) => s.put(bucket, key, body, content_type).await,
        }
    }

    /// Writes a whole object only when it is as `expect` says, atomically with respect to
    /// other conditional writers: S3 `If-None-Match: *` / `If-Match: <etag>`; a local store
    /// holds an exclusive lock on a hidden lock file beside the object while it compares
    /// and renames. Fails with [`StorageError::PreconditionFailed`] when the object is not
    /// as expected (it exists, it is missing, or its ETag changed).
    pub async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
        expect: &Precondition,
    ) -> Result<(), StorageError> {
        match self {
            Store::Local(s) => s.put_if(key, body, expect).await,
            Store::S3(s) => s.put_if(bucket, key, body, content_type, expect).await,
        }
    }

    /// Lists every object whose key starts with `prefix` (all pages), with ETag, size and
    /// last-modified time (as [`ObjectRef::event_time`]) filled in.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectRef>, StorageError> {
        match self {
            Store::Local(s) => s.list(bucket, prefix).await,
            Store::S3(s) => s.list(bucket, prefix).await,
        }
    }

    /// Reads the metadata of one object (ETag, size, last-modified time) without its body.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectRef, StorageError> {
        match self {
            Store::Local(s) => s.head(bucket, key).await,
            Store::S3(s) => s.head(bucket, key).await,
        }
    }

    /// Deletes `keys` (a missing key is not an error: the object is gone either way).
    /// S3: `DeleteObjects`, 1,000 keys per request; a local store removes the files.
    pub async fn delete(&self, bucket: &str, keys: &[String]) -> Result<(), StorageError> {
        match self {
            Store::Local(s) => s.delete(keys).await,
            Store::S3(s) => s.delete(bucket, keys).await,
        }
    }

    /// A short description for logs: `s3`, `s3 (endpoint …)` or `folder /path`.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(s) => s.describe(),
            Store::S3(s) => s.describe(),
        }
    }
}

/// The result of a backend's operation.
pub(crate) type Result<T, E = StorageError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_aws::{AwsError, Class};
    use sightline_core::{Disposition, ErrorKind};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local(LocalStore::new(dir.path().join("bucket")));
        (dir, store)
    }

    #[tokio::test]
    async fn local_round_trip() {
        let (_dir, store) = store();
        assert_eq!(
            store.list("any", "").await.unwrap(),
            [],
            "a missing folder lists as empty"
        );
        for key in [
            "incoming/retail/b.jpg",
            "incoming/retail/a b+c é.jpg",
            "incoming/x.jpg",
            "top.jpg",
        ] {
            store
                .put("ignored", key, Bytes::from(key.to_owned()), "image/jpeg")
                .await
                .unwrap();
        }
        store
            .put(
                "ignored",
                "top.jpg",
                Bytes::from_static(b"replaced"),
                "image/jpeg",
            )
            .await
            .unwrap();

        let got = store.get("b", "top.jpg", 1024).await.unwrap();
        assert_eq!((&got.bytes[..], got.size), (&b"replaced"[..], 8));
        assert!(got.last_modified.is_some());

        let head = store.head("b", "top.jpg").await.unwrap();
        assert_eq!((head.bucket.as_str(), head.size), ("b", Some(8)));
        assert_eq!(head.etag, got.etag);
        assert!(head.etag.as_deref().unwrap().starts_with("8-"));
        assert_eq!(head.event_time, got.last_modified);

        let keys = |refs: Vec<ObjectRef>| refs.into_iter().map(|r| r.key).collect::<Vec<_>>();
        assert_eq!(
            keys(store.list("b", "").await.unwrap()),
            [
                "incoming/retail/a b+c é.jpg",
                "incoming/retail/b.jpg",
                "incoming/x.jpg",
                "top.jpg"
            ]
        );
        assert_eq!(
            keys(store.list("b", "incoming/retail/").await.unwrap()),
            ["incoming/retail/a b+c é.jpg", "incoming/retail/b.jpg"]
        );
        assert_eq!(
            keys(store.list("b", "incoming/re").await.unwrap()),
            ["incoming/retail/a b+c é.jpg", "incoming/retail/b.jpg"]
        );
        assert_eq!(keys(store.list("b", "inc").await.unwrap()).len(), 3);
        assert_eq!(store.list("b", "nothing/here/").await.unwrap(), []);
        assert_eq!(store.list("b", "top.jpg/below/").await.unwrap(), []);
        assert_eq!(store.list("b", "top").await.unwrap(), [head]);

        let gone = [
            "top.jpg".to_string(),
            "incoming/x.jpg".into(),
            "never.jpg".into(),
        ];
        store.delete("b", &gone).await.unwrap();
        assert_eq!(keys(store.list("b", "").await.unwrap()).len(), 2);
        let escape = store.delete("b", &["../x".to_string()]).await;
        assert!(matches!(escape, Err(StorageError::InvalidKey { .. })));
    }

    #[tokio::test]
    async fn local_list_skips_temp_files() {
        let (dir, store) = store();
        store
            .put("b", "a/x.jpg", Bytes::from_static(b"x"), "image/jpeg")
            .await
            .unwrap();
        std::fs::write(
            dir.path().join("bucket/a/.y.jpg.1.2.sightline-tmp"),
            b"partial",
        )
        .unwrap();
        let listed = store.list("b", "").await.unwrap();
        assert_eq!(
            listed.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["a/x.jpg"]
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn local_list_follows_symlinks() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (outside, bucket) = (dir.path().join("outside"), dir.path().join("bucket"));
        std::fs::create_dir_all(outside.join("deep")).unwrap();
        std::fs::create_dir_all(bucket.join("a")).unwrap();
        std::fs::write(outside.join("deep/x.jpg"), b"x").unwrap();
        std::fs::write(outside.join("file.jpg"), b"file").unwrap();
        std::fs::write(bucket.join("a/own.jpg"), b"own").unwrap();
        symlink(&outside, bucket.join("a/linked")).unwrap();
        symlink(outside.join("file.jpg"), bucket.join("a/alias.jpg")).unwrap();
        symlink(dir.path().join("gone.jpg"), bucket.join("a/dangling.jpg")).unwrap();
        let keys = |refs: Vec<ObjectRef>| refs.into_iter().map(|r| r.key).collect::<Vec<_>>();

        let store = Store::Local(LocalStore::new(&bucket));
        let all = [
            "a/alias.jpg",
            "a/linked/deep/x.jpg",
            "a/linked/file.jpg",
            "a/own.jpg",
        ];
        assert_eq!(keys(store.list("b", "").await.unwrap()), all);
        assert_eq!(
            keys(store.list("b", "a/linked/").await.unwrap()),
            ["a/linked/deep/x.jpg", "a/linked/file.jpg"]
        );
        let alias = store.get("b", "a/alias.jpg", 10).await.unwrap();
        assert_eq!((&alias.bytes[..], alias.size), (&b"file"[..], 4));

        // The source folder itself may be a link (`sightline run --source <link>`).
        symlink(&bucket, dir.path().join("link")).unwrap();
        let linked = Store::Local(LocalStore::new(dir.path().join("link")).mounted_at("in/"));
        let mounted: Vec<String> = all.iter().map(|k| format!("in/{k}")).collect();
        assert_eq!(keys(linked.list("b", "").await.unwrap()), mounted);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn local_list_reports_a_symlink_loop() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("a/up")).unwrap();
        let store = Store::Local(LocalStore::new(dir.path()));
        let err = store.list("b", "").await.unwrap_err();
        assert!(matches!(err, StorageError::Io(_)), "{err}");
        assert!(err.to_string().contains("loop"), "{err}");
    }

    #[tokio::test]
    async fn local_keys_cannot_escape() {
        let (dir, store) = store();
        std::fs::create_dir_all(dir.path().join("bucket")).unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        // On Unix these are plain file names (see `local_keys_for_every_file_name`).
        let windows_only = if cfg!(windows) {
            vec!["..\\secret", "a\\b", "C:x"]
        } else {
            vec![]
        };
        for key in [
            "",
            "../secret",
            "a/../../secret",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "./a",
            "a/",
            "a\0b",
        ]
        .into_iter()
        .chain(windows_only)
        {
            let err = store.get("b", key, 1024).await.unwrap_err();
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{key:?}: {err}"
            );
            assert_eq!(
                err.disposition(),
                Disposition::Permanent(ErrorKind::NotFound)
            );
            let err = store.put("b", key, Bytes::new(), "x").await.unwrap_err();
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{key:?}: {err}"
            );
        }
        // `%2E%2E` is a name, not an escape of `..`.
        assert!(matches!(
            store.get("b", "%2E%2E/secret", 1024).await,
            Err(StorageError::NotFound { .. })
        ));
        assert!(matches!(
            store.list("b", "../").await,
            Err(StorageError::InvalidKey { .. })
        ));
        assert!(matches!(
            store.head("b", "../secret").await,
            Err(StorageError::InvalidKey { .. })
        ));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn local_keys_for_every_file_name() {
        use std::os::unix::ffi::OsStrExt;
        let (dir, store) = store();
        let raw = std::ffi::OsStr::from_bytes(b"caf\xe9 latin1.jpg");
        let names: [&std::ffi::OsStr; 4] = [
            "cam1 2024-05-01 12:00:01.jpg".as_ref(),
            "back\\slash.jpg".as_ref(),
            "100%25 sure.jpg".as_ref(),
            raw,
        ];
        let folder = dir.path().join("bucket").join("in");
        std::fs::create_dir_all(&folder).unwrap();
        for (i, name) in names.iter().enumerate() {
            std::fs::write(folder.join(name), [i as u8]).unwrap();
        }
        let keys: Vec<String> = (store.list("b", "in/").await.unwrap())
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(
            keys,
            [
                "in/100%25 sure.jpg",
                "in/back\\slash.jpg",
                "in/caf%E9 latin1.jpg",
                "in/cam1 2024-05-01 12:00:01.jpg",
            ]
        );
        // Every listed key reads its own file.
        for key in &keys {
            let got = store.get("b", key, 16).await.unwrap().bytes;
            let name = key.strip_prefix("in/").unwrap();
            let i = names
                .iter()
                .position(|n| crate::local::key_of_name(n) == name)
                .unwrap();
            assert_eq!(&got[..], &[i as u8], "{key}");
        }
    }

    #[tokio::test]
    async fn local_too_large_and_not_found() {
        let (_dir, store) = store();
        store
            .put("b", "big.jpg", Bytes::from(vec![7; 100]), "image/jpeg")
            .await
            .unwrap();
        let err = store.get("b", "big.jpg", 99).await.unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::TooLarge {
                    size: 100,
                    limit: 99
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.disposition(),
            Disposition::Permanent(ErrorKind::TooLarge)
        );
        assert_eq!(
            store.get("b", "big.jpg", 100).await.unwrap().bytes.len(),
            100
        );

        for err in [
            store.get("b", "missing.jpg", 100).await.unwrap_err(),
            store.head("b", "missing.jpg").await.unwrap_err(),
            store.get("b", "big.jpg/below", 100).await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, StorageError::NotFound { bucket, .. } if bucket == "b"),
                "{err}"
            );
            assert_eq!(
                err.disposition(),
                Disposition::Permanent(ErrorKind::NotFound)
            );
        }
        // A folder is not an object.
        store
            .put("b", "dir/x.jpg", Bytes::new(), "image/jpeg")
            .await
            .unwrap();
        assert!(matches!(
            store.get("b", "dir", 100).await,
            Err(StorageError::NotFound { .. })
        ));
    }

    #[test]
    fn dispositions() {
        let transient = |e: StorageError| assert_eq!(e.disposition(), Disposition::Transient);
        transient(StorageError::S3(AwsError::new(
            "get_object",
            "b/k",
            Class::Transient,
            "HTTP 503 SlowDown",
        )));
        // A deployment error, retried until the messages are dead-lettered.
        for class in [Class::Permanent, Class::NotFound] {
            transient(StorageError::S3(AwsError::new(
                "get_object",
                "b/k",
                class,
                "x",
            )));
        }
        transient(StorageError::Io(
            std::io::ErrorKind::PermissionDenied.into(),
        ));
        assert_eq!(
            StorageError::Io(std::io::ErrorKind::NotFound.into()).disposition(),
            Disposition::Permanent(ErrorKind::NotFound)
        );
    }

    #[test]
    fn describe() {
        assert_eq!(Store::Local(LocalStore::new("/x")).describe(), "folder /x");
    }

    #[tokio::test]
    async fn a_mounted_folder_appears_under_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/b.jpg"), b"x").unwrap();
        let store = Store::Local(LocalStore::new(dir.path()).mounted_at("incoming/retail/"));
        let keys: Vec<String> = store
            .list("local", "")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, vec!["incoming/retail/a/b.jpg".to_string()]);
        assert_eq!(
            store
                .list("local", "incoming/retail/a/")
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .list("local", "incoming/other/")
            .await
            .unwrap()
            .is_empty());
        let got = store
            .get("local", "incoming/retail/a/b.jpg", 10)
            .await
            .unwrap();
        assert_eq!(&got.bytes[..], b"x");
        assert!(store.get("local", "a/b.jpg", 10).await.is_err());
    }

    #[tokio::test]
    async fn conditional_writes_create_once_and_compare_etags() {
        let (_dir, store) = store();
        let put = |body: &'static str, expect: Precondition| {
            let store = store.clone();
            async move {
                let body = Bytes::from_static(body.as_bytes());
                store
                    .put_if("b", "alias.json", body, "application/json", &expect)
                    .await
            }
        };
        put("v1", Precondition::Absent).await.unwrap();
        let again = put("v1bis", Precondition::Absent).await;
        assert!(
            matches!(again, Err(StorageError::PreconditionFailed { .. })),
            "{again:?}"
        );
        let etag = store.head("b", "alias.json").await.unwrap().etag.unwrap();
        put("v2", Precondition::Etag(etag.clone())).await.unwrap();
        let stale = put("v3", Precondition::Etag(etag)).await;
        assert!(matches!(
            stale,
            Err(StorageError::PreconditionFailed { .. })
        ));
        let missing = store
            .put_if(
                "b",
                "other.json",
                Bytes::new(),
                "",
                &Precondition::Etag("x".into()),
            )
            .await;
        assert!(matches!(
            missing,
            Err(StorageError::PreconditionFailed { .. })
        ));
        assert_eq!(
            &store.get("b", "alias.json", 10).await.unwrap().bytes[..],
            b"v2"
        );
        let keys: Vec<String> = store
            .list("b", "")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["alias.json"], "the lock file is not listed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_concurrent_writers_expecting_one_etag_exactly_one_wins() {
        let (_dir, store) = store();
        store
            .put("b", "alias.json", Bytes::from_static(b"v0"), "")
            .await
            .unwrap();
        let etag = store.head("b", "alias.json").await.unwrap().etag.unwrap();
        let writers = (0..16).map(|i| {
            let (store, expect) = (store.clone(), Precondition::Etag(etag.clone()));
            tokio::spawn(async move {
                let body = Bytes::from(format!("writer {i}"));
                store
                    .put_if("b", "alias.json", body, "", &expect)
                    .await
                    .is_ok()
            })
        });
        let won = futures_count(writers).await;
        assert_eq!(won, 1);
    }

    async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        won
    }
}
