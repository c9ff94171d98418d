//! A remote store opened for this tool: keys under one prefix, every call blocking (a
//! runtime of its own, one thread), every answer checked.
//!
//! - **Uploads** go to a staging key first (`.staging/<key>.<pid>-<nanos>` under the prefix),
//!   whole or in parts,
//!   and the staging copy is then copied to the key only if no object is there (a conditional
//!   create: `If-None-Match: *` on S3, GCS and Azure). A failed upload aborts its parts, so no
//!   partial object is ever visible. An object already at the key is read back: the same bytes
//!   (a retried upload) are accepted, other bytes (someone else's object) refused, never
//!   overwritten.
//! - **Downloads** stream into a file beside the target, hashing as they go, and are renamed
//!   into place only when the SHA-256 is the one expected: a cache is never trusted without its
//!   hash.
//! - **Retries** are the store client's: transient errors (5xx, timeouts, and dropped
//!   connections of idempotent requests) are retried with backoff, up to 10 times within 3
//!   minutes a request. A conditional put is not idempotent to it, so [`Remote::put_bytes`]
//!   tries again itself (safe: an object found there is compared byte for byte).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use super::address::{Address, Scheme};
pub use super::content::Content;
use crate::Error;
use crate::vocab::hex::hex;

/// The size of one part of an upload; a file smaller than one part is put whole.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Tries of a conditional put (see [`Remote::put_bytes`]).
const PUT_TRIES: u32 = 3;

/// Where staging copies of uploads live, under the prefix: one place for a bucket lifecycle
/// rule to expire what a killed upload left (docs/backup.md#remote-stores).
pub const STAGING: &str = ".staging";

/// A remote store, as this tool uses one.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    shown: String,
    part_size: usize,
    /// The largest object this store can create from a staging copy (S3 copies one part of at
    /// most 5 GiB).
    max_object: Option<u64>,
    runtime: tokio::runtime::Runtime,
}

/// Written by hand: the store's own `Debug` can print credentials (Azure's does).
impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("store", &self.shown)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What an upload found at its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Put {
    /// The object was created.
    Created,
    /// The same bytes were already there: an earlier try of this upload.
    AlreadyThere,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key, relative to the prefix.
    pub key: String,
    /// Its size as the listing gives it.
    pub bytes: u64,
}

impl Remote {
    /// Opens the store `address` names, with credentials from the environment and the
    /// provider's standard chain (for S3: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL` for another endpoint, `AWS_ALLOW_HTTP=true` for plain
    /// http; path-style requests whenever an endpoint is given).
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the store cannot be set up (a missing region or bucket, a
    /// directory that does not exist).
    pub fn open(address: &Address) -> Result<Self, Error> {
        let failed = |e: object_store::Error| Error::Remote {
            url: address.text.clone(),
            key: String::new(),
            reason: e.to_string(),
        };
        let bucket_url = |scheme: &str| format!("{scheme}://{}", address.bucket);
        let store: Arc<dyn ObjectStore> = match address.scheme {
            Scheme::S3 => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(bucket_url("s3"))
                    // Path-style requests (`endpoint/bucket/key`), which every S3-compatible
                    // server takes.
                    .with_virtual_hosted_style_request(false)
                    // A copy only where no object is: CompleteMultipartUpload with
                    // If-None-Match, which AWS honours (and moto; a server that ignores it
                    // would let a copy overwrite: docs/backup.md).
                    .with_copy_if_not_exists(object_store::aws::S3CopyIfNotExists::Multipart)
                    .build()
                    .map_err(failed)?,
            ),
            Scheme::Gcs => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(bucket_url("gs"))
                    .build()
                    .map_err(failed)?,
            ),
            Scheme::Azure => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(bucket_url("az"))
                    .build()
                    .map_err(failed)?,
            ),
            Scheme::File => Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&address.prefix)
                    .map_err(failed)?
                    // A backup on a mounted directory must survive a power cut like one here.
                    .with_fsync(true),
            ),
        };
        let prefix = match address.scheme {
            Scheme::File => String::new(),
            _ => address.prefix.clone(),
        };
        let mut remote = Self::over(store, &prefix, &address.text)?;
        if address.scheme == Scheme::S3 {
            remote.max_object = Some(5 << 30);
        }
        Ok(remote)
    }

    /// A remote over `store` (an `InMemory` one in tests), keys under `prefix`, named `shown`
    /// in messages.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the runtime cannot be started.
    pub fn over(store: Arc<dyn ObjectStore>, prefix: &str, shown: &str) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Remote {
                url: shown.to_owned(),
                key: String::new(),
                reason: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            shown: shown.to_owned(),
            part_size: PART_SIZE,
            max_object: None,
            runtime,
        })
    }

    /// Uploads in parts of `bytes` (at least 5 MiB on S3 but the last), and puts whole any file
    /// no larger.
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// The store as addressed, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn key(&self, key: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(key)
        } else {
            Key::from(format!("{}/{key}", self.prefix))
        }
    }

    /// `key` as given, if the store keeps it as given: no empty part, no `.`/`..`, nothing
    /// the store would escape (so that a listing gives back the same key), nothing under the
    /// staging folder.
    fn checked(&self, key: &str) -> Result<(), Error> {
        let kept = Key::from(key);
        let odd = key.is_empty()
            || kept.as_ref() != key
            || key
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
            || key == STAGING
            || key.starts_with(&format!("{STAGING}/"));
        if odd {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "remote store {}: key `{key}` is not one this tool writes (empty parts, `.` or `..`, characters the store would escape, or its staging folder)",
                    self.shown
                ),
            });
        }
        Ok(())
    }

    fn failed(&self, key: &str, e: impl std::fmt::Display) -> Error {
        Error::Remote {
            url: self.shown.clone(),
            key: key.to_owned(),
            reason: e.to_string(),
        }
    }

    /// Uploads the file `from` to `key` (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`Error::RemoteMismatch`] when other bytes are at `key`; [`Error::Remote`] when the
    /// store fails past its retries (nothing is left visible); [`Error::Io`] when `from`
    /// cannot be read.
    pub fn upload(&self, from: &Path, key: &str) -> Result<(Put, Content), Error> {
        let span = tracing::info_span!("remote_upload", key = %key);
        let _entered = span.enter();
        self.checked(key)?;
        let io = |source| Error::Io {
            path: from.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(from).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if let Some(max) = self.max_object
            && size > max
        {
            return Err(self.failed(
                key,
                format!(
                    "{size} bytes: this store creates an object from its staging copy in one copied part, at most {max} bytes; larger uploads are not supported yet"
                ),
            ));
        }
        let staging = format!(
            "{STAGING}/{key}.{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let started = std::time::Instant::now();
        let content = self.runtime.block_on(async {
            super::upload::staged(&*self.store, &self.key(&staging), &mut file, self.part_size)
                .await
        });
        let staged_ms = started.elapsed().as_millis();
        let content = content.map_err(|e| {
            // A whole put the store applied but answered with an error would stay behind.
            let _ = self
                .runtime
                .block_on(self.store.delete(&self.key(&staging)));
            match e {
                super::upload::Failed::Read(source) => io(source),
                super::upload::Failed::Store(e) => self.failed(key, e),
            }
        })?;
        let copied = self.runtime.block_on(
            self.store
                .copy_if_not_exists(&self.key(&staging), &self.key(key)),
        );
        let copied_ms = started.elapsed().as_millis() - staged_ms;
        let removed = self
            .runtime
            .block_on(self.store.delete(&self.key(&staging)));
        let removed_ms = started.elapsed().as_millis() - staged_ms - copied_ms;
        tracing::debug!(staged_ms, copied_ms, removed_ms, "upload phases");
        if let Err(e) = removed {
            tracing::warn!(staging = %staging, error = %e, "the staging copy of an upload could not be deleted");
        }
        match copied {
            Ok(()) => Ok((Put::Created, content)),
            // Azure answers an existing blob with 412 where the others say "exists".
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => self
                .same_or_foreign(key, content)
                .map(|c| (Put::AlreadyThere, c)),
            Err(e) => Err(self.failed(key, e)),
        }
    }

    /// Puts `bytes` at `key` if no object is there; the same bytes there are accepted.
    ///
    /// # Errors
    ///
    /// As [`Remote::upload`].
    pub fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<Put, Error> {
        self.checked(key)?;
        let content = Content {
            bytes: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        };
        // A conditional put is not idempotent to the store's client, which does not retry one
        // whose connection dropped after sending: tried again here, which is safe because an
        // object found there is compared byte for byte.
        let mut tries = 0;
        loop {
            tries += 1;
            let put = self.runtime.block_on(self.store.put_opts(
                &self.key(key),
                PutPayload::from(bytes.to_vec()),
                PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                },
            ));
            return match put {
                Ok(_) => Ok(Put::Created),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => self
                    .same_or_foreign(key, content)
                    .map(|_| Put::AlreadyThere),
                Err(e) if tries < PUT_TRIES => {
                    tracing::debug!(error = %e, tries, "a conditional put failed; trying again");
                    continue;
                }
                Err(e) => Err(self.failed(key, e)),
            };
        }
    }

    /// The object at `key` holds `content`, or it is someone else's.
    fn same_or_foreign(&self, key: &str, content: Content) -> Result<Content, Error> {
        let found = self.content(key)?;
        if found == content {
            Ok(content)
        } else {
            Err(Error::RemoteMismatch {
                url: self.shown.clone(),
                key: key.to_owned(),
                expected: format!("{} bytes, SHA-256 {}", content.bytes, content.sha256),
                found: format!("{} bytes, SHA-256 {}", found.bytes, found.sha256),
            })
        }
    }

    /// The size and SHA-256 of the object at `key`, read through.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when it cannot be read.
    pub fn content(&self, key: &str) -> Result<Content, Error> {
        let mut hasher = Sha256::new();
        let bytes = self.stream(key, &mut |chunk| {
            hasher.update(chunk);
            Ok(())
        })?;
        Ok(Content {
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    }

    /// Reads the object at `key` whole, refusing one larger than `limit` bytes (a manifest).
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when it cannot be read or is larger.
    pub fn read_bytes(&self, key: &str, limit: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.stream(key, &mut |chunk| {
            if out.len() + chunk.len() > limit {
                return Err(std::io::Error::other(format!("larger than {limit} bytes")));
            }
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }

    /// Downloads the object at `key` to `to`, which appears only once the bytes hash to
    /// `sha256`.
    ///
    /// # Errors
    ///
    /// [`Error::RemoteMismatch`] when they do not (nothing is left at `to`);
    /// [`Error::Remote`] when the object cannot be read; [`Error::Io`] when `to` cannot be
    /// written.
    pub fn download(&self, key: &str, to: &Path, sha256: &str) -> Result<Content, Error> {
        let span = tracing::info_span!("remote_download", key = %key);
        let _entered = span.enter();
        self.checked(key)?;
        let dir = to.parent().unwrap_or(Path::new("."));
        let io = |source| Error::Io {
            path: to.to_path_buf(),
            source,
        };
        let mut staged = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        let mut hasher = Sha256::new();
        let file = staged.as_file_mut();
        let bytes = self.stream(key, &mut |chunk| {
            hasher.update(chunk);
            file.write_all(chunk)
        })?;
        let content = Content {
            bytes,
            sha256: hex(&hasher.finalize()),
        };
        if content.sha256 != sha256 {
            return Err(Error::RemoteMismatch {
                url: self.shown.clone(),
                key: key.to_owned(),
                expected: format!("SHA-256 {sha256}"),
                found: format!("{} bytes, SHA-256 {}", content.bytes, content.sha256),
            });
        }
        staged.as_file().sync_all().map_err(io)?;
        staged.persist(to).map_err(|e| io(e.error))?;
        Ok(content)
    }

    /// Streams the object at `key` through `each`, returning its length.
    fn stream(
        &self,
        key: &str,
        each: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, Error> {
        self.runtime.block_on(async {
            let got = self
                .store
                .get(&self.key(key))
                .await
                .map_err(|e| self.failed(key, e))?;
            let mut stream = got.into_stream();
            let mut bytes = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.failed(key, e))?;
                bytes += chunk.len() as u64;
                each(&chunk).map_err(|e| self.failed(key, e))?;
            }
            Ok(bytes)
        })
    }

    /// Every object under the prefix (the staging folder left out), by key.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the store cannot be listed.
    pub fn list(&self) -> Result<Vec<Listed>, Error> {
        self.list_in("")
    }

    /// Every object under `folder` of the prefix (all of them for `""`), by key relative to
    /// the prefix (the staging folder left out).
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the store cannot be listed.
    pub fn list_in(&self, folder: &str) -> Result<Vec<Listed>, Error> {
        let under = [self.prefix.as_str(), folder.trim_matches('/')]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        let prefix = (!under.is_empty()).then(|| Key::from(under.as_str()));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut listed = self.runtime.block_on(async {
            let mut stream = self.store.list(prefix.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| self.failed("", e))?;
                let key = meta.location.as_ref();
                let key = key.strip_prefix(strip.as_str()).unwrap_or(key).to_owned();
                if key != STAGING && !key.starts_with(&format!("{STAGING}/")) {
                    out.push(Listed {
                        key,
                        bytes: meta.size,
                    });
                }
            }
            Ok::<_, Error>(out)
        })?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    /// Deletes the object at `key` (none there is not an error).
    ///
    /// # Errors
    ///
    /// [`Error::Remote`] when the store refuses.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        match self.runtime.block_on(self.store.delete(&self.key(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(key, e)),
        }
    }
}
