//! Integration test modules.

mod batch;
mod cli;
mod health;
mod layers;
mod llm;
mod routing;
mod security;
mod store;
mod tui;
mod vault;
