//! A real S3 API on loopback: moto's server (installed from PyPI by scripts/moto.sh, which
//! .ci/run runs first), started per test on a free port and killed in Drop; and a proxy in
//! front of it that answers 503 or drops the connection at random, for the retry tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::workspace;

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
}

impl Moto {
    /// Installs (once) and starts moto's server.
    pub fn start() -> Self {
        let out = Command::new("bash")
            .arg(workspace().join("scripts/moto.sh"))
            .output()
            .expect("running scripts/moto.sh");
        assert!(
            out.status.success(),
            "scripts/moto.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let port = free_port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while request(
            port,
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .is_none()
        {
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!("moto_server exited before answering ({status}); port {port} taken?");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Creates `bucket` (moto takes an unsigned request).
    pub fn bucket(&self, bucket: &str) {
        let answer = request(
            self.port,
            &format!(
                "PUT /{bucket} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
        .expect("moto answers");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

impl Moto {
    /// Every key in `bucket`, as moto lists them (`ListObjectsV2`, unsigned), staging copies
    /// included.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let answer = request(
            self.port,
            &format!(
                "GET /{bucket}?list-type=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            ),
        )
        .expect("moto answers");
        answer
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }
}

impl Moto {
    /// Puts `bytes` at `key` of `bucket` (unsigned, unconditional: someone else's object).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let head = format!(
            "PUT /{bucket}/{key} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        );
        let answer = exchange(self.port, &[head.as_bytes(), bytes].concat()).expect("moto answers");
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// The object at `key` of `bucket` (unsigned), if there is one.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let head =
            format!("GET /{bucket}/{key} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let answer = exchange(self.port, head.as_bytes()).expect("moto answers");
        if !answer.starts_with(b"HTTP/1.1 200") {
            return None;
        }
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        Some(answer[end..].to_vec())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `bytes` to the loopback port and reads the answer, bytes, to the end.
fn exchange(port: u16, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(bytes).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    Some(answer)
}

/// Sends `text` to the loopback port and reads the answer to the end.
fn request(port: u16, text: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(text.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// A proxy to `upstream` that, per connection, answers `503 Slow Down` or drops it (each with
/// chance `rate` in 1000, from a seeded generator), and otherwise passes bytes both ways.
pub struct Faulty {
    /// `http://127.0.0.1:PORT` of the proxy.
    pub endpoint: String,
    stop: Arc<AtomicBool>,
    /// Connections answered 503, and dropped.
    pub refused: Arc<AtomicU64>,
    pub dropped: Arc<AtomicU64>,
}

impl Faulty {
    pub fn start(upstream: u16, rate: u64, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (stop_, refused_, dropped_) = (stop.clone(), refused.clone(), dropped.clone());
        std::thread::spawn(move || {
            let mut state = seed.max(1);
            while !stop_.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 1000 {
                    r if r < rate => {
                        refused_.fetch_add(1, Ordering::SeqCst);
                        std::thread::spawn(move || slow_down(client));
                    }
                    r if r < 2 * rate => {
                        dropped_.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    _ => {
                        std::thread::spawn(move || pass(client, upstream));
                    }
                }
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            stop,
            refused,
            dropped,
        }
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads the request's head, answers 503 and closes.
fn slow_down(mut client: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>";
    let _ = write!(
        client,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.shutdown(Shutdown::Both);
}

/// Passes bytes both ways until either side closes.
fn pass(client: TcpStream, upstream: u16) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let there = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let _ = std::io::copy(&mut s_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = there.join();
}
