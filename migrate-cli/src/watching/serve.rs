//! `/metrics` and `/health` over HTTP (`tiny_http`), served from the latest report the
//! watchman made, so both show the same numbers.

use std::sync::{Arc, Mutex};

use crate::error::CliError;

/// The latest report, as the two documents served; empty until the first round is done.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The status is failing: `/health` answers 503, so a load balancer or orchestrator
    /// probing it sees the failure without parsing the body.
    pub failing: bool,
    /// `/health`: the JSON of `migrate health`.
    pub json: String,
    /// `/metrics`: the Prometheus text.
    pub metrics: String,
}

/// The shared snapshot.
pub type Shared = Arc<Mutex<Snapshot>>;

/// Serves `snapshot` on `addr` from a thread of its own, until the process ends.
///
/// # Errors
///
/// [`CliError::Usage`] naming the address when it cannot be listened on.
pub fn start(addr: &str, snapshot: Shared) -> Result<(), CliError> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| CliError::Usage(format!("--listen {addr}: cannot listen there: {e}")))?;
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let now = snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let (body, kind, status) = match request.url().split('?').next() {
                // No report yet (the first round is still running) is not a healthy answer.
                Some("/metrics" | "/health") if now.json.is_empty() => (
                    "no report yet: the first round is running\n".to_owned(),
                    "text/plain",
                    503,
                ),
                Some("/metrics") => (
                    now.metrics,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    200,
                ),
                Some("/health") if now.failing => (now.json, "application/json", 503),
                Some("/health") => (now.json, "application/json", 200),
                _ => (
                    "not found: /metrics or /health\n".to_owned(),
                    "text/plain",
                    404,
                ),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("valid");
            let response = tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(header);
            // A client that went away is its own business.
            let _ = request.respond(response);
        }
    });
    Ok(())
}
