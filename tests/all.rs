//! All integration tests, built as one binary (faster to link than one per file).

// Test helpers may fail loudly: a panic here is a failed test, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod suite;
