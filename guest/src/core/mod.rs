//! The pure core: domain types, validation and formulas. No I/O, no WIT, no SQL.

pub mod budget;
pub mod error;
pub mod objective;
pub mod status;
pub mod time;
pub mod window;

pub use error::PluginError;
