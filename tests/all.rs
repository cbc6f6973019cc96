//! All integration tests, built as one binary (faster to link than one per file).

mod common;
mod suite;
