//! The simulated platform around a plugin: the platform plugins it calls (catalog, health,
//! dependencies, maintenance, incidents) the native entity kinds and
//! their derivers, automation conditions, and the simulation that runs it all.

pub mod conditions;
pub mod native_kinds;
pub mod persistence;
mod services;
pub mod simulation;
pub mod state_sync;

pub use services::{HealthStatus, Maintenance, SimulatedPlatform};
pub use simulation::{Records, Simulation, SimulationError};
