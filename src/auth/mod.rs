//! Authentication and authorization: password hashing, JWT access tokens, rotating refresh
//! tokens, rate limits, CSRF, and the extractors that yield the authenticated principal.

pub mod accounts;
pub mod apikeys;
pub mod csrf;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod sessions;

pub use extract::{Authz, Operator, Principal, Session, perm};
