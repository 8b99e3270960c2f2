//! Integration suite
