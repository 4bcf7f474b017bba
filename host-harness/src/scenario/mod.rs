//! Scenarios: JSON files that drive the harness through simulated time and assert on what the
//! plugin did (scenario-format.md), and the report they produce.

pub mod model;
pub mod parse;
pub mod run;

pub use parse::{parse, parse_file, Scenario};
pub use run::run;
