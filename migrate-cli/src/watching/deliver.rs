//! Where alerts go: a line on stderr always, the `on_alert` command (run with `sh -c`, the
//! alert as one JSON object on its stdin) and the webhook (POSTed as JSON) when configured.
//! A delivery that fails is said on stderr and tried again on the next rounds (only where it
//! failed); it never stops the watchman.

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

/// Where an alert could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `on_alert`.
    Command,
    /// `webhook`.
    Webhook,
}

/// An alert some destination has not taken yet, tried again every round.
#[derive(Debug, Clone)]
pub struct Pending {
    alert: Alert,
    left: Vec<Destination>,
    tries: u32,
}

/// Rounds an undelivered alert is tried again before it is given up (said on stderr).
const TRIES: u32 = 10;

impl Destinations {
    /// Sends `alert` everywhere it goes; what did not take it is returned, to be retried.
    pub fn send(&self, alert: &Alert) -> Option<Pending> {
        let state = match alert.state {
            AlertState::Firing => "FIRING",
            AlertState::Resolved => "resolved",
        };
        output::stderr(&format!(
            "alert {state} {}: {}\n",
            alert.kind.as_str(),
            alert.message
        ));
        let left = self.deliver(alert, &[Destination::Command, Destination::Webhook]);
        (!left.is_empty()).then(|| Pending {
            alert: alert.clone(),
            left,
            tries: 1,
        })
    }

    /// Tries the alerts still `pending` again, in the order they were raised; those delivered
    /// everywhere, or tried [`TRIES`] times, leave the list.
    pub fn retry(&self, pending: &mut Vec<Pending>) {
        pending.retain_mut(|p| {
            p.left = self.deliver(&p.alert, &p.left);
            p.tries += 1;
            if !p.left.is_empty() && p.tries >= TRIES {
                output::stderr(&format!(
                    "alert {} {}: given up after {TRIES} tries\n",
                    p.alert.kind.as_str(),
                    p.alert.at
                ));
                return false;
            }
            !p.left.is_empty()
        });
    }

    /// Delivers `alert` to each of `to` that is configured; returns those that failed.
    fn deliver(&self, alert: &Alert, to: &[Destination]) -> Vec<Destination> {
        let json = serde_json::to_string(alert).expect("alerts serialize");
        let mut failed = Vec::new();
        for destination in to {
            let result = match destination {
                Destination::Command => self.command.as_ref().map(|command| {
                    run_command(command, &json)
                        .map_err(|why| format!("on_alert `{command}` failed: {why}"))
                }),
                Destination::Webhook => self.webhook.as_ref().map(|url| {
                    post(url, &json).map_err(|why| format!("webhook {url} failed: {why}"))
                }),
            };
            if let Some(Err(why)) = result {
                output::stderr(&format!("{why}\n"));
                failed.push(*destination);
            }
        }
        failed
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
