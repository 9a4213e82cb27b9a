//! Currencies. Amounts are i64 minor units of the org's currency; never floats.

/// ISO 4217 codes with their number of minor-unit digits.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// A supported ISO 4217 currency code, e.g. `USD`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, super::Invalid> {
        let up = code.trim().to_ascii_uppercase();
        if CURRENCIES.iter().any(|(c, _)| *c == up) {
            Ok(Currency(up))
        } else {
            Err(super::Invalid::new(
                "currency",
                format!(
                    "`{}` is not a supported ISO 4217 currency code (e.g. USD, EUR, GBP)",
                    code.trim()
                ),
            ))
        }
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u8 {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == self.0)
            .map(|(_, d)| *d)
            .unwrap_or(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_checked_and_normalised() {
        assert_eq!(
            Currency::parse(" usd ").map(|c| c.code().to_string()),
            Ok("USD".into())
        );
        assert_eq!(Currency::parse("JPY").map(|c| c.minor_digits()), Ok(0));
        let err = Currency::parse("XYZ").unwrap_err();
        assert_eq!(err.field, "currency");
        assert!(err.message.contains("XYZ"));
    }
}

/// A money amount as sent by clients: a decimal string (`"19.99"`) or a JSON number (`19.99`).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum MoneyInput {
    Text(String),
    Number(serde_json::Number),
}

/// Why an amount was refused (the caller names the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyError(pub String);

impl MoneyInput {
    fn text(&self) -> String {
        match self {
            MoneyInput::Text(s) => s.trim().to_string(),
            MoneyInput::Number(n) => n.to_string(),
        }
    }
}

impl Currency {
    /// Exact conversion to minor units: `"19.99"` USD is 1999. More decimals than the currency
    /// has, or an amount beyond ±10^15 units, is an error, never rounded.
    pub fn to_minor(&self, input: &MoneyInput) -> Result<i64, MoneyError> {
        use rust_decimal::Decimal;
        use std::str::FromStr;
        let text = input.text();
        let d = Decimal::from_str(&text)
            .map_err(|_| MoneyError(format!("`{text}` is not a decimal amount like \"19.99\"")))?;
        let digits = u32::from(self.minor_digits());
        let d = d.normalize();
        if d.scale() > digits {
            return Err(MoneyError(format!(
                "`{text}` has more than {digits} decimal places for {}",
                self.code()
            )));
        }
        if d.abs() > Decimal::from(1_000_000_000_000_000i64) {
            return Err(MoneyError(format!("`{text}` is too large")));
        }
        let minor = d * Decimal::from(10i64.pow(digits));
        i64::try_from(minor).map_err(|_| MoneyError(format!("`{text}` is too large")))
    }

    /// Minor units as text for people, e.g. `1999` -> `19.99`.
    pub fn format_minor(&self, minor: i64) -> String {
        let digits = u32::from(self.minor_digits());
        if digits == 0 {
            return minor.to_string();
        }
        let scale = 10i64.pow(digits);
        let sign = if minor < 0 { "-" } else { "" };
        let a = minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            a / scale as u64,
            a % scale as u64,
            width = digits as usize
        )
    }

    /// Minor units for display, grouped and with the currency: `12345678` USD -> `$123,456.78`,
    /// EUR -> `€123,456.78`, other codes -> `123,456.78 CHF`.
    pub fn display_minor(&self, minor: i64) -> String {
        let plain = self.format_minor(minor.abs());
        let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
        let mut grouped = group_digits(int);
        if !frac.is_empty() {
            grouped.push('.');
            grouped.push_str(frac);
        }
        let sign = if minor < 0 { "-" } else { "" };
        let symbol = match self.code() {
            "USD" => Some("$"),
            "EUR" => Some("€"),
            "GBP" => Some("£"),
            "JPY" => Some("¥"),
            "INR" => Some("₹"),
            _ => None,
        };
        match symbol {
            Some(sym) => format!("{sign}{sym}{grouped}"),
            None => format!("{sign}{grouped} {}", self.code()),
        }
    }
}

/// Digits with a comma every three from the right: "1234567" -> "1,234,567".
pub fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod display_tests {
    use super::Currency;

    #[test]
    fn amounts_display_grouped_with_the_currency() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.display_minor(12_345_678), "$123,456.78");
        assert_eq!(usd.display_minor(-5), "-$0.05");
        assert_eq!(usd.display_minor(99_999), "$999.99");
        assert_eq!(
            Currency::parse("JPY").unwrap().display_minor(1_234_567),
            "¥1,234,567"
        );
        assert_eq!(
            Currency::parse("CHF").unwrap().display_minor(100_000),
            "1,000.00 CHF"
        );
    }
}

#[cfg(test)]
mod money_tests {
    use super::*;

    fn t(s: &str) -> MoneyInput {
        MoneyInput::Text(s.into())
    }

    #[test]
    fn exact_minor_units() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.to_minor(&t("19.99")), Ok(1999));
        assert_eq!(usd.to_minor(&t("19.9")), Ok(1990));
        assert_eq!(usd.to_minor(&t("0")), Ok(0));
        assert_eq!(usd.to_minor(&t("-5.01")), Ok(-501));
        assert_eq!(
            usd.to_minor(&t("19.990")),
            Ok(1999),
            "trailing zeros are fine"
        );
        assert!(usd.to_minor(&t("19.999")).is_err(), "never rounds");
        assert!(usd.to_minor(&t("abc")).is_err());
        assert!(usd.to_minor(&t("1e30")).is_err());
        let n: MoneyInput = serde_json::from_str("19.99").unwrap();
        assert_eq!(usd.to_minor(&n), Ok(1999));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.to_minor(&t("1500")), Ok(1500));
        assert!(jpy.to_minor(&t("1500.5")).is_err());
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(kwd.to_minor(&t("1.234")), Ok(1234));
    }

    #[test]
    fn formatting() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.format_minor(1999), "19.99");
        assert_eq!(usd.format_minor(-5), "-0.05");
        assert_eq!(Currency::parse("JPY").unwrap().format_minor(1500), "1500");
    }
}
