//! Health and metrics server.
