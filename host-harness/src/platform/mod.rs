//! The simulated platform around a plugin: the platform plugins it calls (catalog, health,
//! dependencies, maintenance, incidents) and the entity framework's pieces.

pub mod diff;
mod services;

pub use services::{HealthStatus, Maintenance, SimulatedPlatform};
