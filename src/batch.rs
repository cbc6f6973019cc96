//! Headless batch mode.
