//! Where alerts go: a line on stderr always, the `on_alert` command (run with `sh -c`, the
//! alert as one JSON object on its stdin) and the webhook (POSTed as JSON) when configured.
//! A delivery that fails is said on stderr; it never stops the watchman.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use belay_migrate::guard::watch::{Alert, AlertState};

use crate::output;

/// How long `on_alert` may run before it is killed.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// How long a webhook POST may take.
const WEBHOOK_LIMIT: Duration = Duration::from_secs(10);

/// The configured destinations.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// `on_alert`.
    pub command: Option<String>,
    /// `webhook`.
    pub webhook: Option<String>,
}

impl Destinations {
    /// Sends `alert` everywhere it goes.
    pub fn send(&self, alert: &Alert) {
        let json = serde_json::to_string(alert).expect("alerts serialize");
        let state = match alert.state {
            AlertState::Firing => "FIRING",
            AlertState::Resolved => "resolved",
        };
        output::stderr(&format!(
            "alert {state} {}: {}\n",
            alert.kind.as_str(),
            alert.message
        ));
        if let Some(command) = &self.command
            && let Err(why) = run_command(command, &json)
        {
            output::stderr(&format!("on_alert `{command}` failed: {why}\n"));
        }
        if let Some(url) = &self.webhook
            && let Err(why) = post(url, &json)
        {
            output::stderr(&format!("webhook {url} failed: {why}\n"));
        }
    }
}

/// Runs `command` with `json` on its stdin, waiting at most [`COMMAND_LIMIT`].
fn run_command(command: &str, json: &str) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is its own business.
        let _ = stdin.write_all(json.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("it exited with {status}")),
            Ok(None) if started.elapsed() > COMMAND_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "it ran past {}s and was killed",
                    COMMAND_LIMIT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// POSTs `json` to `url`.
fn post(url: &str, json: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(WEBHOOK_LIMIT))
        .build()
        .into();
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(json)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
