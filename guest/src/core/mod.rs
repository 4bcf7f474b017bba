//! The pure core: domain types, validation and formulas. No I/O, no WIT, no SQL.

pub mod error;
pub mod objective;
pub mod time;

pub use error::PluginError;
