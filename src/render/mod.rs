//! maud components shared by pages: fragments that are also swapped in alone by htmx.

pub mod audit;
pub mod backups;
pub mod catalog;
pub mod chart;
pub mod dashboard;
pub mod import;
pub mod partners;
pub mod pipeline;
pub mod search;
pub mod toast;
pub mod users;

/// A count with thousands grouped: 1234567 -> "1,234,567".
pub fn grouped(v: u64) -> String {
    crate::domain::money::group_digits(&v.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::grouped(0), "0");
        assert_eq!(super::grouped(999), "999");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(1234567), "1,234,567");
    }
}
