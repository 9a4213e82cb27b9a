//! salesboard: a sales and partnership performance dashboard in one binary.
//!
//! Layout (see DESIGN.md): `domain` holds the rules and types with no I/O; `store` is the redb
//! data file; `auth` is identity and permissions; `http` holds thin handlers; `render` the
//! shared HTML components; `app` wires state and router; `server` runs it; `cli` is the
//! command line.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

// mimalloc instead of the system allocator: ingest and import allocate many small, short-lived
// values (keys, decoded records) and spent about a fifth of their time in glibc malloc/free.
// Set here rather than in main.rs so tests and benchmarks measure what the binary runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod analytics;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod export;
pub mod http;
pub mod import;
pub mod ingest;
pub mod live;
pub mod partners;
pub mod pipeline;
pub mod render;
pub mod search;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod verify;
