//! HTTP suite
