//! Integration test modules.

mod batch;
mod checkpoint;
mod cli;
mod hardening;
mod hardening_tools;
mod health;
mod knowledge;
mod knowledge_tasks;
mod layers;
mod llm;
mod mcp;
mod mcp_cli;
mod mcp_engine;
mod mcp_npm;
mod mcp_serve;
mod memory;
mod real_servers;
mod replies;
mod resume;
mod routing;
mod security;
mod store;
mod store_pg;
mod tui;
mod vault;
mod workers;
