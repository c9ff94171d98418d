//! Remote store throughput: a backup-sized file (1 GB by default, incompressible) uploaded to
//! and downloaded from a real S3 API on loopback (moto's server, started here), through
//! `belay_guard::remote::Remote` (staged multipart upload, conditional copy, hashing both ways,
//! a download renamed into place only with the right hash) against plain `curl` PUT and GET of
//! the same file to the same server (no staging, no hash, no conditional create). Reported as
//! ratios; the server is the same for both, so the ratio is what the safety costs.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin remote-bench [-- --size-mb 1024 --runs 3 --part-mb 8]
//! ```

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use belay_migrate::guard::remote::{Remote, address};
use migrate_tests::moto::Moto;

struct Args {
    size_mb: usize,
    runs: usize,
    part_mb: usize,
}

fn args() -> Args {
    let mut a = Args {
        size_mb: 1024,
        runs: 3,
        part_mb: belay_migrate::guard::remote::store::PART_SIZE >> 20,
    };
    let op = migrate_bench::flags(|flag, value| {
        match flag {
            "--size-mb" => a.size_mb = migrate_bench::number(flag, value),
            "--runs" => a.runs = migrate_bench::number(flag, value),
            "--part-mb" => a.part_mb = migrate_bench::number(flag, value),
            _ => return false,
        }
        true
    });
    assert!(op.is_none(), "remote-bench takes no --op");
    a
}

/// `size_mb` MiB that zstd would not shrink (a compressed backup is already so).
fn data_file(path: &Path, size_mb: usize) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..size_mb {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        file.write_all(&block).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
}

fn curl(args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new("curl")
        .args(["--silent", "--show-error", "--fail"])
        // Signed as the S3 API wants (curl's own SigV4), with the credentials set below.
        .args([
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
            "bench:bench-secret",
        ])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "curl {args:?}");
    start.elapsed()
}

fn main() {
    let a = args();
    // The store's phase timings with RUST_LOG=belay_guard=debug.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let moto = Moto::start();
    moto.bucket("bench");
    // SAFETY: set before any store reads them, and this binary has no other thread yet.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench-secret");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::set_var("AWS_ENDPOINT_URL", &moto.endpoint);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.zst");
    data_file(&file, a.size_mb);
    let remote = Remote::open(&address::parse("s3://bench/belay").unwrap())
        .unwrap()
        .with_part_size(a.part_mb << 20);
    let (mut ours_up, mut ours_down, mut curl_up, mut curl_down) = (vec![], vec![], vec![], vec![]);
    for run in 0..a.runs {
        let key = format!("run{run}.zst");
        let start = Instant::now();
        let (_, content) = remote.upload(&file, &key).unwrap();
        ours_up.push(start.elapsed());
        let back = dir.path().join("back.zst");
        let start = Instant::now();
        remote.download(&key, &back, &content.sha256).unwrap();
        ours_down.push(start.elapsed());
        std::fs::remove_file(&back).unwrap();
        remote.delete(&key).unwrap();

        let url = format!("{}/bench/plain/run{run}.zst", moto.endpoint);
        curl_up.push(curl(&["-T", file.to_str().unwrap(), &url]));
        curl_down.push(curl(&["-o", back.to_str().unwrap(), &url]));
        std::fs::remove_file(&back).unwrap();
        curl(&["-X", "DELETE", &url]);
    }
    let median = |v: Vec<Duration>| migrate_bench::median(v).as_secs_f64();
    let mb = a.size_mb as f64 * 1.048_576;
    let (ou, od, cu, cd) = (
        median(ours_up),
        median(ours_down),
        median(curl_up),
        median(curl_down),
    );
    println!(
        "remote-bench: {} MiB in parts of {} MiB, {} run(s), moto {} on loopback (medians)",
        a.size_mb, a.part_mb, a.runs, moto.endpoint
    );
    println!("| transfer | belay remote | curl | curl / belay (throughput ratio) |");
    println!("|---|---|---|---|");
    println!(
        "| upload | {ou:.2} s ({:.0} MB/s) | {cu:.2} s ({:.0} MB/s) | **{:.2}** |",
        mb / ou,
        mb / cu,
        cu / ou
    );
    println!(
        "| download | {od:.2} s ({:.0} MB/s) | {cd:.2} s ({:.0} MB/s) | **{:.2}** |",
        mb / od,
        mb / cd,
        cd / od
    );
}
