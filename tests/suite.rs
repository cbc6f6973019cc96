//! Integration test modules.

mod batch;
mod cli;
mod layers;
mod llm;
mod store;
