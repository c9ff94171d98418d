//! Remote stores on `InMemory` and `LocalFileSystem`: uploads created once, a retried upload
//! told from someone else's object, downloads that appear only with the right hash, listings
//! without staging copies. (The same against a real S3 API: tests/tests/remote_s3.rs.)

use std::path::Path;
use std::sync::Arc;

use belay_guard::Error;
use belay_guard::remote::{Put, Remote, address};
use object_store::memory::InMemory;

fn file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn memory(part: usize) -> Remote {
    Remote::over(Arc::new(InMemory::new()), "tenants/eu", "memory://test")
        .unwrap()
        .with_part_size(part)
}

/// Bytes that are not all alike, so that a swapped part would show.
fn varied(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn an_upload_is_created_once_and_a_retry_is_told_from_a_foreign_object() {
    let dir = tempfile::tempdir().unwrap();
    for part in [1 << 20, 1000] {
        let remote = memory(part);
        let data = varied(10_000);
        let from = file(dir.path(), "b.zst", &data);
        let (put, content) = remote.upload(&from, "b.zst").unwrap();
        assert_eq!(put, Put::Created, "part size {part}");
        assert_eq!(content.bytes, 10_000);
        // The same bytes again (a retried upload): accepted, nothing written.
        let (put, again) = remote.upload(&from, "b.zst").unwrap();
        assert_eq!((put, &again), (Put::AlreadyThere, &content));
        // Other bytes at that key: someone else's object, refused, left as it is.
        let other = file(dir.path(), "other.zst", &varied(9_999));
        let refused = remote.upload(&other, "b.zst").unwrap_err();
        assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
        assert!(
            refused
                .to_string()
                .contains("memory://test: b.zst holds 10000 bytes"),
            "{refused}"
        );
        assert_eq!(remote.content("b.zst").unwrap(), content);
        // Listed once, without the staging copies.
        let listed = remote.list().unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!((listed[0].key.as_str(), listed[0].bytes), ("b.zst", 10_000));
        // Downloaded byte for byte.
        let to = dir.path().join("restored.zst");
        remote.download("b.zst", &to, &content.sha256).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), data);
        std::fs::remove_file(&to).unwrap();
    }
}

#[test]
fn a_download_appears_only_with_the_hash_expected() {
    let dir = tempfile::tempdir().unwrap();
    let remote = memory(1000);
    let from = file(dir.path(), "b.zst", &varied(3000));
    remote.upload(&from, "b.zst").unwrap();
    let to = dir.path().join("cache").join("b.zst");
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let wrong = "0".repeat(64);
    let refused = remote.download("b.zst", &to, &wrong).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
    assert!(!to.exists());
    assert_eq!(
        std::fs::read_dir(to.parent().unwrap()).unwrap().count(),
        0,
        "a temporary file left"
    );
    // A key that is not there: the store's own error, named.
    let missing = remote.download("nope.zst", &to, &wrong).unwrap_err();
    assert!(matches!(missing, Error::Remote { .. }), "{missing}");
    assert!(missing.to_string().contains("nope.zst"), "{missing}");
    // A download into a directory that does not exist.
    let content = remote.content("b.zst").unwrap();
    let failed = remote
        .download(
            "b.zst",
            &dir.path().join("no/such/dir/b.zst"),
            &content.sha256,
        )
        .unwrap_err();
    assert!(matches!(failed, Error::Io { .. }), "{failed}");
    // An upload of a file that is not there.
    let failed = remote.upload(&dir.path().join("absent"), "x").unwrap_err();
    assert!(matches!(failed, Error::Io { .. }), "{failed}");
}

#[test]
fn small_objects_are_put_if_absent_read_with_a_limit_and_deleted() {
    let remote = memory(1000);
    assert_eq!(
        remote.put_bytes("m.json", b"{\"id\":1}").unwrap(),
        Put::Created
    );
    assert_eq!(
        remote.put_bytes("m.json", b"{\"id\":1}").unwrap(),
        Put::AlreadyThere
    );
    let foreign = remote.put_bytes("m.json", b"{\"id\":2}").unwrap_err();
    assert!(matches!(foreign, Error::RemoteMismatch { .. }), "{foreign}");
    assert_eq!(remote.read_bytes("m.json", 100).unwrap(), b"{\"id\":1}");
    let large = remote.read_bytes("m.json", 3).unwrap_err();
    assert!(large.to_string().contains("larger than 3 bytes"), "{large}");
    remote.delete("m.json").unwrap();
    remote.delete("m.json").unwrap();
    assert!(remote.list().unwrap().is_empty());
    assert_eq!(remote.shown(), "memory://test");
    assert_eq!(
        format!("{remote:?}"),
        "Remote { store: \"memory://test\", prefix: \"tenants/eu\", .. }"
    );
    // Keys a listing would not give back as written, or inside the staging folder: refused.
    for key in [
        "",
        "a//b",
        "a/../b",
        "./a",
        "a%2Fb",
        "a b{c}",
        ".staging",
        ".staging/x",
    ] {
        let refused = remote.put_bytes(key, b"x").unwrap_err();
        assert!(
            refused.to_string().contains("is not one this tool writes"),
            "{key}: {refused}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            remote.download(key, &dir.path().join("x"), "00"),
            Err(Error::InvalidRequest { .. })
        ));
    }
}

#[test]
fn a_directory_is_a_store_too() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    std::fs::create_dir_all(&store_dir).unwrap();
    let address = address::parse(&format!("file://{}", store_dir.display())).unwrap();
    let remote = Remote::open(&address).unwrap().with_part_size(1000);
    let data = varied(4321);
    let from = file(dir.path(), "b.zst", &data);
    let (put, content) = remote.upload(&from, "tenant/b.zst").unwrap();
    assert_eq!(put, Put::Created);
    assert_eq!(std::fs::read(store_dir.join("tenant/b.zst")).unwrap(), data);
    assert_eq!(
        remote.upload(&from, "tenant/b.zst").unwrap().0,
        Put::AlreadyThere
    );
    let listed = remote.list().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].key, "tenant/b.zst");
    let to = dir.path().join("back.zst");
    remote
        .download("tenant/b.zst", &to, &content.sha256)
        .unwrap();
    assert_eq!(std::fs::read(&to).unwrap(), data);
    // Someone else's bytes in the directory are refused.
    std::fs::write(store_dir.join("tenant/b.zst"), b"tampered").unwrap();
    let refused = remote.download(
        "tenant/b.zst",
        &dir.path().join("again.zst"),
        &content.sha256,
    );
    assert!(matches!(refused, Err(Error::RemoteMismatch { .. })));
    remote.delete("tenant/b.zst").unwrap();
    assert!(remote.list().unwrap().is_empty());
    // A directory that does not exist cannot be a store.
    let missing = address::parse("file:///no/such/store/dir").unwrap();
    let failed = Remote::open(&missing).unwrap_err();
    assert!(matches!(failed, Error::Remote { .. }), "{failed}");
}

#[test]
fn every_kind_of_store_opens_or_says_why_without_a_secret() {
    // No credentials in this environment: each provider either opens (no request is made yet)
    // or refuses with its own reason, never printing a secret from the address (none allowed).
    for url in [
        "gs://bucket/prefix",
        "az://container/prefix",
        "s3://bucket/prefix",
    ] {
        let address = address::parse(url).unwrap();
        match Remote::open(&address) {
            Ok(remote) => assert_eq!(remote.shown(), url),
            Err(e) => {
                assert!(matches!(e, Error::Remote { .. }), "{url}: {e}");
                assert!(e.to_string().contains(url), "{e}");
            }
        }
    }
}
