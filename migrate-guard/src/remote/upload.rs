//! One upload to a staging key: whole when it fits in one part, else in parts, aborted on any
//! error so that nothing partial stays behind.

use std::io::Read;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use super::content::{Content, fill};
use crate::vocab::hex::hex as sha_hex;

/// Parts sent at once: enough to keep a link busy; with the part being read, 5 parts of
/// memory at most.
const IN_FLIGHT: usize = 4;

/// Why an upload failed.
#[derive(Debug)]
pub enum Failed {
    /// The local file could not be read.
    Read(std::io::Error),
    /// The store failed past its retries.
    Store(object_store::Error),
}

/// Uploads what `from` holds to `staging`, `part_size` bytes a part, hashing it as it goes.
pub async fn staged(
    store: &dyn ObjectStore,
    staging: &Key,
    from: &mut impl Read,
    part_size: usize,
) -> Result<Content, Failed> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; part_size];
    let first = fill(from, &mut buf).map_err(Failed::Read)?;
    hasher.update(&buf[..first]);
    if first < part_size {
        buf.truncate(first);
        store
            .put(staging, PutPayload::from(buf))
            .await
            .map_err(Failed::Store)?;
        return Ok(Content {
            bytes: first as u64,
            sha256: sha_hex(&hasher.finalize()),
        });
    }
    let mut upload = store.put_multipart(staging).await.map_err(Failed::Store)?;
    let result = async {
        let mut bytes = first as u64;
        // Up to IN_FLIGHT parts travel at once (reading the next part pauses them: the
        // runtime has one thread).
        let mut in_flight = FuturesUnordered::new();
        in_flight.push(upload.put_part(PutPayload::from(buf.clone())));
        loop {
            let n = fill(from, &mut buf).map_err(Failed::Read)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
            in_flight.push(upload.put_part(PutPayload::from(buf[..n].to_vec())));
            if in_flight.len() >= IN_FLIGHT
                && let Some(sent) = in_flight.next().await
            {
                sent.map_err(Failed::Store)?;
            }
        }
        while let Some(sent) = in_flight.next().await {
            sent.map_err(Failed::Store)?;
        }
        upload.complete().await.map_err(Failed::Store)?;
        Ok(bytes)
    }
    .await;
    match result {
        Ok(bytes) => Ok(Content {
            bytes,
            sha256: sha_hex(&hasher.finalize()),
        }),
        Err(e) => {
            if let Err(abort) = upload.abort().await {
                tracing::warn!(error = %abort, "an upload's parts could not be aborted");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    /// Gives `good` bytes, then fails: a disk error in the middle of a file.
    struct Breaks {
        good: usize,
    }

    impl Read for Breaks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.good == 0 {
                return Err(std::io::Error::other("the disk failed"));
            }
            let n = buf.len().min(self.good);
            buf[..n].fill(7);
            self.good -= n;
            Ok(n)
        }
    }

    fn objects(store: &InMemory) -> usize {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { store.list(None).collect::<Vec<_>>().await.len() })
    }

    #[test]
    fn a_read_error_in_the_middle_aborts_the_upload_and_leaves_nothing() {
        let store = Arc::new(InMemory::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let key = Key::from("x.upload-1");
        let failed = rt.block_on(staged(&*store, &key, &mut Breaks { good: 2500 }, 1000));
        assert!(matches!(failed, Err(Failed::Read(_))), "{failed:?}");
        assert_eq!(objects(&store), 0);
        // The first part failing, and a whole put failing, too.
        let failed = rt.block_on(staged(&*store, &key, &mut Breaks { good: 0 }, 1000));
        assert!(matches!(failed, Err(Failed::Read(_))));
        assert_eq!(objects(&store), 0);
        // Whole parts and a short last one: the bytes and their hash.
        let done = rt
            .block_on(staged(
                &*store,
                &key,
                &mut std::io::repeat(1).take(2500),
                1000,
            ))
            .unwrap();
        assert_eq!(done.bytes, 2500);
        assert_eq!(done.sha256, sha_hex(&Sha256::digest(vec![1u8; 2500])));
        assert_eq!(objects(&store), 1);
    }
}
