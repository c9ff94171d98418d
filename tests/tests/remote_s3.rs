//! The remote store against a real S3 API on loopback (moto's server, path-style requests):
//! a multipart upload downloaded byte-identical, a retried upload accepted, someone else's
//! object refused, deletes; then the same through a proxy that answers 503 or drops the
//! connection on a seeded share of connections: absorbed by the client's retries, with no
//! partial or staging object left visible.
//!
//! One test, because the store reads its endpoint and credentials from the environment, which
//! a process has one of.

use std::path::Path;

use belay_migrate::guard::Error;
use belay_migrate::guard::remote::{Put, Remote, address};
use migrate_tests::moto::{Faulty, Moto};

/// Bytes that are not all alike, so that a swapped part would show.
fn varied(n: usize, salt: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + salt) % 251) as u8).collect()
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Points the store client at `endpoint`.
fn endpoint(endpoint: &str) {
    // SAFETY: this test binary holds one test, and sets the variables before any store (or
    // other thread of ours) reads them.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "belay-test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "belay-test-secret");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
    }
}

#[test]
fn a_real_s3_api_stores_backups_exactly_and_absorbs_a_storm_of_errors() {
    let moto = Moto::start();
    moto.bucket("belay");
    endpoint(&moto.endpoint);
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::open(&address::parse("s3://belay/tenants/eu").unwrap()).unwrap();

    // 20 MiB: three parts of 8 MiB (the last short), staged, then created at the key.
    let data = varied(20 << 20, 0);
    let from = file(dir.path(), "b.zst", &data);
    let (put, content) = remote.upload(&from, "app/b.zst").unwrap();
    assert_eq!(put, Put::Created);
    let to = dir.path().join("back.zst");
    remote.download("app/b.zst", &to, &content.sha256).unwrap();
    assert!(std::fs::read(&to).unwrap() == data, "not byte-identical");
    // Retried: accepted as ours. Other bytes at the key: refused, the object left alone.
    assert_eq!(
        remote.upload(&from, "app/b.zst").unwrap().0,
        Put::AlreadyThere
    );
    let other = file(dir.path(), "o.zst", &varied(1000, 3));
    let refused = remote.upload(&other, "app/b.zst").unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
    assert!(
        !refused.to_string().contains("belay-test-secret"),
        "{refused}"
    );
    assert_eq!(remote.content("app/b.zst").unwrap(), content);
    assert_eq!(remote.put_bytes("app/b.json", b"{}").unwrap(), Put::Created);
    let listed: Vec<String> = remote.list().unwrap().into_iter().map(|l| l.key).collect();
    assert_eq!(listed, ["app/b.json", "app/b.zst"]);
    // A missing bucket is the store's error, named, with no secret in it.
    let nowhere = Remote::open(&address::parse("s3://no-such-bucket/x").unwrap()).unwrap();
    let failed = nowhere.list().unwrap_err();
    assert!(matches!(failed, Error::Remote { .. }), "{failed}");
    assert!(
        !failed.to_string().contains("belay-test-secret"),
        "{failed}"
    );

    // The storm: a fifth of connections answered 503, a fifth dropped.
    let faulty = Faulty::start(moto.port, 200, 0x5eed);
    endpoint(&faulty.endpoint);
    let stormy = Remote::open(&address::parse("s3://belay/tenants/storm").unwrap()).unwrap();
    let big = varied(17 << 20, 5);
    let big_from = file(dir.path(), "big.zst", &big);
    let (_, big_content) = stormy.upload(&big_from, "big.zst").unwrap();
    for i in 0..20 {
        let small = varied(1000 + i, i);
        stormy.put_bytes(&format!("m{i:02}.json"), &small).unwrap();
        assert_eq!(
            stormy
                .read_bytes(&format!("m{i:02}.json"), 1 << 20)
                .unwrap(),
            small
        );
    }
    let back = dir.path().join("big-back.zst");
    stormy
        .download("big.zst", &back, &big_content.sha256)
        .unwrap();
    assert!(std::fs::read(&back).unwrap() == big);
    let faults = faulty.refused.load(std::sync::atomic::Ordering::SeqCst)
        + faulty.dropped.load(std::sync::atomic::Ordering::SeqCst);
    assert!(faults > 0, "the proxy injected nothing");
    // Straight to moto again: exactly the objects uploaded, nothing partial or staged.
    endpoint(&moto.endpoint);
    let direct = Remote::open(&address::parse("s3://belay/tenants/storm").unwrap()).unwrap();
    let listed = direct.list().unwrap();
    assert_eq!(listed.len(), 21, "{listed:?}");
    let keys = moto.keys("belay");
    assert_eq!(keys.len(), 23, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains(".upload-")), "{keys:?}");
    println!(
        "remote s3: {} connection(s) answered 503 and {} dropped; every transfer completed",
        faulty.refused.load(std::sync::atomic::Ordering::SeqCst),
        faulty.dropped.load(std::sync::atomic::Ordering::SeqCst)
    );
    for key in ["app/b.zst", "app/b.json"] {
        remote.delete(key).unwrap();
    }
    assert!(remote.list().unwrap().is_empty());
}
