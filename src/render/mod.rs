//! maud components shared by pages: fragments that are also swapped in alone by htmx.

pub mod toast;
pub mod users;
