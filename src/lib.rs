//! az-os: a terminal agent that runs tasks with language models through a ReAct
//! loop, routes them to the cheapest capable model and records everything in
//! SQLite, or in a PostgreSQL server shared by many machines.
//!
//! Layers, bottom up: [`util`], [`config`], [`store`], [`llm`], [`engine`]; the
//! front ends [`batch`], [`cli`], [`mcp_serve`] (az-os as an MCP server) and
//! [`worker`] (a worker on the shared queue) drive the engine through its protocol.

pub mod audit;
pub mod batch;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod engine;
pub mod health;
pub mod knowledge;
pub mod llm;
pub mod logging;
pub mod mcp;
pub mod mcp_serve;
pub mod memory;
pub mod redact;
pub mod sandbox;
pub mod setup;
pub mod store;
pub mod tui;
pub mod util;
pub mod vault;
pub mod worker;
