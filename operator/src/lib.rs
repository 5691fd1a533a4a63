//! The BuilderPlayground operator: a controller that turns each `BuilderPlayground` into a
//! generator Job, a rendered PodSpec and one Pod, and reports every service's readiness.
//!
//! Pure parts ([`children`], [`status`], [`check`]) build objects, compute status and check
//! specs without a client; [`controller`] observes, applies and patches; [`server`] serves
//! metrics and health; [`webhook`] refuses invalid playgrounds at apply.

pub mod check;
pub mod children;
pub mod controller;
pub mod error;
pub mod events;
pub mod leader;
pub mod lifetime;
pub mod metrics;
pub mod run;
pub mod security;
pub mod server;
pub mod status;
pub mod webhook;
