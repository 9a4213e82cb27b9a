//! Customer value and churn risk: a small, explainable recency/frequency model.
//!
//! - Typical gap `g` between purchases: (last − first) / (orders − 1) for repeat buyers, at
//!   least 7 days; 90 days for one-time buyers.
//! - Churn risk = 1 − e^(−r / (1.5·g)), with `r` the days since the last purchase: 0 right after
//!   a purchase, about 0.49 after one typical gap, 0.74 after two, approaching 1.
//! - Historical LTV = revenue (after discounts) − refunds.
//! - Predicted LTV = historical LTV + (1 − churn risk) × AOV × purchases per year (365 / g),
//!   i.e. the value of the next twelve months if the customer stays.

use super::Ts;
use serde::Serialize;

pub const ONE_TIME_GAP_DAYS: f64 = 90.0;
pub const MIN_GAP_DAYS: f64 = 7.0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Value {
    pub ltv: i64,
    pub predicted_ltv: i64,
    pub average_order_value: i64,
    pub churn_risk: f64,
    pub typical_gap_days: f64,
    pub days_since_last_purchase: f64,
    pub orders: i64,
}

pub fn value(
    orders: i64,
    revenue: i64,
    refunds: i64,
    first: Option<Ts>,
    last: Option<Ts>,
    now: Ts,
) -> Value {
    let day = 86_400_000_000f64;
    let gap = match (first, last) {
        (Some(f), Some(l)) if orders >= 2 => {
            (((l.0 - f.0) as f64 / day) / (orders - 1) as f64).max(MIN_GAP_DAYS)
        }
        _ => ONE_TIME_GAP_DAYS,
    };
    let since = last
        .map(|l| ((now.0 - l.0) as f64 / day).max(0.0))
        .unwrap_or(0.0);
    let churn = if orders == 0 {
        0.0
    } else {
        1.0 - (-since / (1.5 * gap)).exp()
    };
    let churn = (churn * 1000.0).round() / 1000.0;
    let aov = if orders > 0 { revenue / orders } else { 0 };
    let ltv = revenue - refunds;
    let future = (1.0 - churn) * aov as f64 * (365.0 / gap);
    Value {
        ltv,
        predicted_ltv: ltv + future.round() as i64,
        average_order_value: aov,
        churn_risk: churn,
        typical_gap_days: (gap * 10.0).round() / 10.0,
        days_since_last_purchase: (since * 10.0).round() / 10.0,
        orders,
    }
}

impl Value {
    /// The model's reading of this customer, in words; `money` formats minor units in the
    /// org's currency.
    pub fn explanation(&self, money: &dyn Fn(i64) -> String) -> String {
        if self.orders == 0 {
            return "No purchases yet, so there is no churn risk or value to estimate.".to_string();
        }
        let band = match self.churn_risk {
            c if c < 0.3 => "low",
            c if c < 0.6 => "medium",
            _ => "high",
        };
        format!(
            "{} order{}; last purchase {:.0} days ago against a typical gap of {:.0} days{}. Churn risk is {band} ({:.0}%). If they stay, the next twelve months are worth about {} more at their average order value.",
            self.orders,
            if self.orders == 1 { "" } else { "s" },
            self.days_since_last_purchase,
            self.typical_gap_days,
            if self.orders < 2 {
                " (assumed for one-time buyers)"
            } else {
                ""
            },
            self.churn_risk * 100.0,
            money(self.predicted_ltv - self.ltv)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn churn_grows_with_time_since_the_typical_gap() {
        // 3 orders over 60 days: typical gap 30 days.
        let v = |since_days: i64| {
            value(
                3,
                30_000,
                0,
                Some(Ts(0)),
                Some(Ts(60 * DAY)),
                Ts((60 + since_days) * DAY),
            )
        };
        assert_eq!(v(0).churn_risk, 0.0);
        assert_eq!(v(30).typical_gap_days, 30.0);
        assert!(
            (v(30).churn_risk - 0.487).abs() < 0.001,
            "{}",
            v(30).churn_risk
        );
        assert!(v(60).churn_risk > v(30).churn_risk);
        assert!(v(365).churn_risk > 0.99);
        assert_eq!(v(0).average_order_value, 10_000);
        // fresh customer: full year at AOV x 365/30 purchases
        assert_eq!(
            v(0).predicted_ltv,
            30_000 + (10_000.0 * 365.0 / 30.0f64).round() as i64
        );
        let money = |m: i64| format!("${:.2}", m as f64 / 100.0);
        assert!(v(30).explanation(&money).contains("typical gap of 30 days"));
        // The value of the next year is money in the currency, not minor units.
        let text = v(0).explanation(&money);
        assert!(text.contains("worth about $1216.67 more"), "{text}");
    }

    #[test]
    fn one_time_buyers_and_refunds() {
        let v = value(1, 5_000, 1_000, Some(Ts(0)), Some(Ts(0)), Ts(90 * DAY));
        assert_eq!(v.typical_gap_days, 90.0);
        assert_eq!(v.ltv, 4_000);
        assert!(
            v.explanation(&|m| m.to_string())
                .contains("assumed for one-time buyers")
        );
        let none = value(0, 0, 0, None, None, Ts(0));
        assert_eq!((none.churn_risk, none.predicted_ltv), (0.0, 0));
    }
}
