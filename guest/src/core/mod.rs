//! The pure core: domain types, validation and formulas. No I/O, no WIT, no SQL.

pub mod achievement;
pub mod budget;
pub mod burn;
pub mod curve;
pub mod digest;
pub mod error;
pub mod health;
pub mod objective;
pub mod signals;
pub mod status;
pub mod streak;
pub mod time;
pub mod window;

pub use error::PluginError;
