//! `slo-host call`: one RPC procedure, its JSON answer on stdout.

use std::process::ExitCode;

use super::{load, open_database, RunOptions};
use crate::host::{Caller, HostConfig, PluginHost};

/// Calls `procedure` with `input` as `caller`; exit code 1 and the typed error on failure.
pub fn run(
    options: &RunOptions,
    procedure: &str,
    input: &str,
    caller: Caller,
) -> anyhow::Result<ExitCode> {
    let host = PluginHost::new(HostConfig::default(), open_database(options)?)?;
    load(&host, options.plugin.as_deref())?;
    match host.call_rpc(procedure, input, &caller) {
        Ok(output) => {
            let value: serde_json::Value = serde_json::from_str(&output)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
