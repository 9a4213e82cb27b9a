//! Sales event ingest: one writer thread that merges concurrent requests into one durable
//! redb write transaction (group commit).

pub mod demo;
pub mod writer;

pub use writer::{SubmitError, Writer};
