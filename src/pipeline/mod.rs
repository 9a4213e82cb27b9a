//! Pipelines and opportunities as the API, the pages and the demo use them. Each operation
//! validates its input, checks the caller's scope, writes the record, its history and the
//! audit entry in one transaction, or nothing at all.
//!
//! Reads go through [`Books`]: every opportunity of an org decoded once per pipeline data
//! version and shared by all readers until the next change.

mod ops;
mod read;

pub use ops::*;
pub use read::*;
