//! `slo-host admin`: talk to a running `slo-host serve` (status, swap, rollback) over its
//! HTTP API.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};

/// What to ask the server.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCommand {
    /// Show the serving and previous version, invocation counts and version events.
    Status,
    /// Hot-swap the serving plugin to a component file (read by the server).
    Swap {
        /// The component file.
        path: std::path::PathBuf,
    },
    /// Switch back to the previous version.
    Rollback,
}

/// Where the server is and who asks.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminTarget {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:7878"
    )]
    pub url: String,
    /// A bearer token whose caller holds `host.admin`.
    #[arg(long, global = true, env = "SLO_HOST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Runs one admin command and prints the server's JSON answer.
pub fn run(target: &AdminTarget, command: &AdminCommand) -> anyhow::Result<ExitCode> {
    let (method, route, body) = match command {
        AdminCommand::Status => ("GET", "status", None),
        AdminCommand::Swap { path } => ("POST", "swap", Some(swap_body(path)?)),
        AdminCommand::Rollback => ("POST", "rollback", Some(json!({}))),
    };
    let url = format!("{}/admin/{route}", target.url.trim_end_matches('/'));
    let (status, answer) = request(method, &url, target.token.as_deref(), body.as_ref())?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    if (200..300).contains(&status) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: the server answered {status}");
        Ok(ExitCode::FAILURE)
    }
}

/// The server reads the file itself, so send it an absolute path.
fn swap_body(path: &Path) -> anyhow::Result<Value> {
    let absolute = std::path::absolute(path)?;
    Ok(json!({ "path": absolute }))
}

/// One JSON request: answers the status and the parsed body (non-JSON bodies as a string).
pub fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = token.map(|t| format!("Bearer {t}"));
    let response = match (method, body) {
        ("GET", _) => {
            let mut call = agent.get(url);
            if let Some(b) = &bearer {
                call = call.header("Authorization", b);
            }
            call.call()
        }
        (_, body) => {
            let mut call = agent.post(url).content_type("application/json");
            if let Some(b) = &bearer {
                call = call.header("Authorization", b);
            }
            call.send(body.map_or_else(String::new, Value::to_string))
        }
    };
    let mut response = response
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e} (is `slo-host serve` running?)"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string()?;
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, answer))
}
