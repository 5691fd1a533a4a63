//! The BuilderPlayground operator: a controller that turns each `BuilderPlayground` into a
//! generator Job, a rendered PodSpec and one Pod, and reports every service's readiness.
//!
//! Pure parts ([`children`], [`status`]) build objects and compute status without a client;
//! [`controller`] observes, applies and patches; [`server`] serves metrics and health.

pub mod children;
pub mod controller;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod run;
pub mod security;
pub mod server;
pub mod status;
