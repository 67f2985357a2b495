//! The engine's integration tests: one binary, one module per concern.

mod common;
mod conformance;
mod persistence;
mod properties;
mod recall;
