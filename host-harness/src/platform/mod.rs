//! The simulated platform around a plugin: the platform plugins it calls (catalog, health,
//! dependencies, maintenance, incidents) and the entity framework's pieces.

pub mod conditions;
pub mod diff;
pub mod entity_store;
mod services;
pub mod simulation;

pub use services::{HealthStatus, Maintenance, SimulatedPlatform};
pub use simulation::{Records, Simulation, SimulationError};
