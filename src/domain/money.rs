//! Currencies. Amounts are i64 minor units of the org's currency; never floats.

/// ISO 4217 codes with their number of minor-unit digits, sorted by code (see [`find_currency`]).
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
        if find_currency(&up).is_some() {
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

    /// Minor units in one major unit (100 for USD, 1 for JPY), for showing amounts as numbers.
    pub fn minor_per_unit(&self) -> f64 {
        10f64.powi(i32::from(self.minor_digits()))
    }

    /// An amount given in major units (e.g. 1234.5), displayed ("$1,234.50").
    pub fn display_units(&self, units: f64) -> String {
        self.display_minor((units * self.minor_per_unit()).round() as i64)
    }

    /// Digits after the decimal point (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u8 {
        find_currency(&self.0).map(|(_, d)| *d).unwrap_or(2)
    }
}

/// A code's entry in [`CURRENCIES`] (sorted by code: a binary search, as every amount of every
/// ingested event asks for its currency's digits).
fn find_currency(code: &str) -> Option<&'static (&'static str, u8)> {
    CURRENCIES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| &CURRENCIES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_currency_list_is_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, digits) in CURRENCIES {
            assert_eq!(Currency::parse(code).unwrap().minor_digits(), *digits);
        }
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn brief_amounts_for_axes_keep_the_currency() {
        let brief = |code: &str, v: f64| {
            Currency::parse(code)
                .unwrap()
                .display_brief(v, |x| format!("{:.1}k", x / 1000.0))
        };
        assert_eq!(brief("USD", 1500.0), "$1.5k");
        assert_eq!(brief("EUR", -2000.0), "-€2.0k");
        assert_eq!(brief("CHF", 12000.0), "12.0k CHF");
    }

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
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            MoneyInput::Text(s) => s.trim().into(),
            MoneyInput::Number(n) => n.to_string().into(),
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
        self.with_symbol(minor < 0, &grouped)
    }

    /// The sign for the few currencies written with one before the amount.
    pub fn symbol(&self) -> Option<&'static str> {
        match self.code() {
            "USD" => Some("$"),
            "EUR" => Some("€"),
            "GBP" => Some("£"),
            "JPY" => Some("¥"),
            "INR" => Some("₹"),
            _ => None,
        }
    }

    /// `amount` (already formatted, without sign) as money: "$1,234.50", "1,234.50 CHF".
    fn with_symbol(&self, negative: bool, amount: &str) -> String {
        let sign = if negative { "-" } else { "" };
        match self.symbol() {
            Some(sym) => format!("{sign}{sym}{amount}"),
            None => format!("{sign}{amount} {}", self.code()),
        }
    }

    /// A brief amount in currency units for chart axes: "$1.5k", "12k CHF".
    pub fn display_brief(&self, units: f64, brief: fn(f64) -> String) -> String {
        self.with_symbol(units < 0.0, &brief(units.abs()))
    }
}

/// Digits with a comma every three from the right: "1234567" -> "1,234,567".
pub fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
        // amounts in major units (as the KPI figures are) round to the minor unit
        assert_eq!(usd.display_units(1234.5), "$1,234.50");
        assert_eq!(usd.display_units(0.005), "$0.01");
        assert_eq!(
            Currency::parse("JPY").unwrap().display_units(1234.4),
            "¥1,234"
        );
        assert_eq!(Currency::parse("KWD").unwrap().minor_per_unit(), 1000.0);
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

// ---- exchange rates -------------------------------------------------------------------------

/// Configured exchange rates, `"EUR/USD" = "1.085"` meaning 1 EUR = 1.085 USD. The inverse
/// direction is derived when only one is given.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "std::collections::BTreeMap<String, String>")]
#[serde(into = "std::collections::BTreeMap<String, String>")]
pub struct Rates(std::collections::BTreeMap<(String, String), rust_decimal::Decimal>);

impl TryFrom<std::collections::BTreeMap<String, String>> for Rates {
    type Error = String;

    fn try_from(m: std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        use std::str::FromStr;
        let mut out = std::collections::BTreeMap::new();
        for (pair, rate) in m {
            let (a, b) = pair
                .split_once('/')
                .ok_or_else(|| format!("`{pair}`: write a pair as \"EUR/USD\""))?;
            let a = Currency::parse(a).map_err(|e| format!("`{pair}`: {}", e.message))?;
            let b = Currency::parse(b).map_err(|e| format!("`{pair}`: {}", e.message))?;
            let r = rust_decimal::Decimal::from_str(rate.trim())
                .ok()
                .filter(|r| *r > rust_decimal::Decimal::ZERO)
                .ok_or_else(|| format!("`{pair}`: `{rate}` is not a positive decimal rate"))?;
            out.insert((a.0, b.0), r);
        }
        Ok(Rates(out))
    }
}

impl From<Rates> for std::collections::BTreeMap<String, String> {
    fn from(r: Rates) -> Self {
        r.0.into_iter()
            .map(|((a, b), v)| (format!("{a}/{b}"), v.to_string()))
            .collect()
    }
}

impl Rates {
    /// How many units of `to` one unit of `from` is worth.
    pub fn rate(&self, from: &Currency, to: &Currency) -> Option<rust_decimal::Decimal> {
        if let Some(r) = self.0.get(&(from.0.clone(), to.0.clone())) {
            return Some(*r);
        }
        self.0
            .get(&(to.0.clone(), from.0.clone()))
            .and_then(|r| rust_decimal::Decimal::ONE.checked_div(*r))
    }
}

impl Rates {
    /// How amounts given in `code` (none or blank: `target` itself) become minor units of
    /// `target`; `None` when the currency differs and no rate is configured (or the code is
    /// not a currency).
    pub fn conversion<'a>(
        &self,
        target: &'a Currency,
        code: Option<&str>,
    ) -> Option<Conversion<'a>> {
        let same = Conversion {
            target,
            source: None,
        };
        let code = match code.map(str::trim) {
            None | Some("") => return Some(same),
            Some(c) if c.eq_ignore_ascii_case(target.code()) => return Some(same),
            Some(c) => c,
        };
        let source = Currency::parse(code).ok()?;
        let rate = self.rate(&source, target)?;
        Some(Conversion {
            target,
            source: Some((source, rate)),
        })
    }
}

/// How amounts of one event become minor units of the org's currency: as they are, or from
/// another currency at a configured rate.
#[derive(Clone, Debug)]
pub struct Conversion<'a> {
    pub target: &'a Currency,
    pub source: Option<(Currency, rust_decimal::Decimal)>,
}

impl Conversion<'_> {
    /// Minor units of the target currency. Without a rate this is exact (see
    /// [`Currency::to_minor`]); with one, the amount (exact in its own currency) is converted
    /// and rounded half to even to the target's minor unit.
    pub fn to_minor(&self, input: &MoneyInput) -> Result<i64, MoneyError> {
        let Some((source, rate)) = &self.source else {
            return self.target.to_minor(input);
        };
        let minor = source.to_minor(input)?;
        let major = rust_decimal::Decimal::new(minor, u32::from(source.minor_digits()));
        let converted = major
            .checked_mul(*rate)
            .ok_or_else(|| MoneyError(format!("`{}` is too large", input.text())))?
            .round_dp_with_strategy(
                u32::from(self.target.minor_digits()),
                rust_decimal::RoundingStrategy::MidpointNearestEven,
            );
        let scaled = converted
            .checked_mul(rust_decimal::Decimal::from(
                10i64.pow(u32::from(self.target.minor_digits())),
            ))
            .ok_or_else(|| MoneyError(format!("`{}` is too large", input.text())))?;
        i64::try_from(scaled).map_err(|_| MoneyError(format!("`{}` is too large", input.text())))
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    fn rates(pairs: &[(&str, &str)]) -> Result<Rates, String> {
        Rates::try_from(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn amounts_convert_at_the_configured_rate_rounding_half_to_even() {
        let r = rates(&[("EUR/USD", "1.085"), ("usd/jpy", "150")]).unwrap();
        let (usd, eur, jpy) = (
            Currency::parse("USD").unwrap(),
            Currency::parse("EUR").unwrap(),
            Currency::parse("JPY").unwrap(),
        );
        let conv = |from: &Currency, to: &'static Currency| Conversion {
            target: to,
            source: Some((from.clone(), r.rate(from, to).unwrap())),
        };
        let usd_static: &'static Currency = Box::leak(Box::new(usd.clone()));
        let eur_static: &'static Currency = Box::leak(Box::new(eur.clone()));
        let jpy_static: &'static Currency = Box::leak(Box::new(jpy.clone()));
        let t = |s: &str| MoneyInput::Text(s.into());
        // 10.00 EUR = 10.85 USD
        assert_eq!(conv(&eur, usd_static).to_minor(&t("10.00")), Ok(1085));
        // 0.10 EUR = 0.1085 USD -> 0.11; 0.50 EUR = 0.5425 USD -> 0.54
        assert_eq!(conv(&eur, usd_static).to_minor(&t("0.10")), Ok(11));
        assert_eq!(conv(&eur, usd_static).to_minor(&t("0.50")), Ok(54));
        // inverse: 10.85 USD = 10.00 EUR
        assert_eq!(conv(&usd, eur_static).to_minor(&t("10.85")), Ok(1000));
        // USD -> JPY has no minor unit
        assert_eq!(conv(&usd, jpy_static).to_minor(&t("1.99")), Ok(298));
        // the source currency's own precision still applies
        assert!(conv(&eur, usd_static).to_minor(&t("1.001")).is_err());
        assert_eq!(r.rate(&eur, &jpy), None);
    }

    #[test]
    fn bad_rates_are_refused_with_the_pair_named() {
        assert!(rates(&[("EURUSD", "1.1")]).unwrap_err().contains("EURUSD"));
        assert!(rates(&[("EUR/XYZ", "1.1")]).unwrap_err().contains("XYZ"));
        assert!(
            rates(&[("EUR/USD", "-1")])
                .unwrap_err()
                .contains("positive")
        );
    }
}
