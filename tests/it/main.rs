//! The one integration test binary: real servers on port 0 with temp data dirs.

mod support;

mod api_errors;
mod api_keys;
mod audit;
mod auth;
mod backups;
mod browser;
mod cli;
mod disk_full;
mod events;
mod live;
mod openapi;
mod pages;
mod partners;
mod pipeline;
mod rbac;
mod search;
mod store_files;
mod tenancy;
mod tls;
