//! Sales events as clients send them, and their validation into domain events with amounts in
//! the org's minor units. Validation reports the first problem of an item with its field path
//! (`lines[2].unit_price`).

use super::Ts;
use super::money::{Conversion, Currency, MoneyInput, Rates};
use serde::{Deserialize, Serialize};

pub const MAX_TEXT: usize = 200;
/// Largest single amount, in minor units (10 billion dollars in cents). With at most
/// 1,000,000 units a line and 500 lines an order, order totals stay far inside i64.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Largest order total (Σ lines), in minor units; keeps every sum of stored data far from
/// i64 overflow.
pub const MAX_ORDER: i64 = 100_000_000_000_000;
pub const MAX_LINES: usize = 500;
/// Dimension value used when a client leaves channel, region or category empty.
pub const UNSPECIFIED: &str = "unspecified";

/// What is wrong with one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ItemError {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl ItemError {
    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ItemError {
            code: "validation",
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The same error about the field of line `i`: `sku` becomes `lines[i].sku`.
    fn under_line(mut self, i: usize) -> Self {
        self.field = self.field.map(|f| format!("lines[{i}].{f}"));
        self
    }
}

// ---- input shapes ---------------------------------------------------------------------------

/// One event as clients send it; `type` says which kind.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = Event)]
pub enum RawEvent {
    SaleCompleted(RawSale),
    RefundProcessed(RawRefund),
    CustomerCreated(RawCustomer),
    TrafficRecorded(RawTraffic),
}

/// A completed order.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SaleCompleted)]
pub struct RawSale {
    /// The order id; sending the same id again is reported as a duplicate, never counted twice.
    pub id: String,
    /// RFC 3339 instant, e.g. `2026-11-20T14:03:00Z`.
    pub occurred_at: String,
    pub customer_id: Option<String>,
    /// ISO 4217 code; default the org's currency. Others need a configured exchange rate.
    pub currency: Option<String>,
    /// Default `unknown`.
    pub channel: Option<String>,
    /// Default `unknown`.
    pub region: Option<String>,
    /// At least one line.
    pub lines: Vec<RawLine>,
    /// Order-level discount (reduces net revenue).
    pub discount: Option<MoneyInput>,
    pub tax: Option<MoneyInput>,
    pub shipping: Option<MoneyInput>,
}

/// One line of an order.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SaleLine)]
pub struct RawLine {
    pub sku: String,
    pub name: Option<String>,
    /// Default `uncategorized`.
    pub category: Option<String>,
    /// At least 1.
    pub quantity: i64,
    pub unit_price: MoneyInput,
    /// Where given, margin is revenue minus cost.
    pub unit_cost: Option<MoneyInput>,
}

/// Money returned for (part of) an order; counted on the refund's own date.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefundProcessed)]
pub struct RawRefund {
    pub id: String,
    /// The order refunded; a refund that arrives before its order waits for it.
    pub order_id: String,
    pub occurred_at: String,
    pub currency: Option<String>,
    pub amount: MoneyInput,
    /// Returned units per SKU, for return rates.
    #[serde(default)]
    pub lines: Vec<RawRefundLine>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefundLine)]
pub struct RawRefundLine {
    pub sku: String,
    pub quantity: i64,
}

/// A customer signed up (name, email and region for lists and search).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CustomerCreated)]
pub struct RawCustomer {
    pub id: String,
    pub occurred_at: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
}

/// Visits in a period (for conversion rate = orders / visits).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TrafficRecorded)]
pub struct RawTraffic {
    pub id: String,
    pub occurred_at: String,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub visits: u64,
}

// ---- domain events --------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub quantity: i64,
    /// minor units, per unit
    pub unit_price: i64,
    pub unit_cost: Option<i64>,
}

impl SaleLine {
    /// Quantity × unit price. Validation bounds both, so this cannot overflow for stored data.
    pub fn value(&self) -> i64 {
        self.unit_price.saturating_mul(self.quantity)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub id: String,
    pub at: Ts,
    pub customer: Option<String>,
    pub channel: String,
    pub region: String,
    pub lines: Vec<SaleLine>,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
}

impl Sale {
    pub fn gross(&self) -> i64 {
        self.lines
            .iter()
            .fold(0i64, |acc, l| acc.saturating_add(l.value()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub order_id: String,
    pub at: Ts,
    pub amount: i64,
    /// (sku, quantity); empty means "the order as a whole".
    pub lines: Vec<(String, i64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCreated {
    pub id: String,
    pub at: Ts,
    pub email: Option<String>,
    pub name: Option<String>,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub id: String,
    pub at: Ts,
    pub channel: String,
    pub region: String,
    pub visits: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Sale(Sale),
    Refund(Refund),
    Customer(CustomerCreated),
    Traffic(Traffic),
}

/// The kind of an event; ids are unique per org and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Sale = 1,
    Refund = 2,
    Customer = 3,
    Traffic = 4,
}

impl Event {
    pub fn kind(&self) -> Kind {
        match self {
            Event::Sale(_) => Kind::Sale,
            Event::Refund(_) => Kind::Refund,
            Event::Customer(_) => Kind::Customer,
            Event::Traffic(_) => Kind::Traffic,
        }
    }
    pub fn id(&self) -> &str {
        match self {
            Event::Sale(e) => &e.id,
            Event::Refund(e) => &e.id,
            Event::Customer(e) => &e.id,
            Event::Traffic(e) => &e.id,
        }
    }
    pub fn at(&self) -> Ts {
        match self {
            Event::Sale(e) => e.at,
            Event::Refund(e) => e.at,
            Event::Customer(e) => e.at,
            Event::Traffic(e) => e.at,
        }
    }
}

// ---- validation -----------------------------------------------------------------------------

fn ident(field: &str, v: &str) -> Result<String, ItemError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(ItemError::field(field, "is required"));
    }
    if v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) {
        return Err(ItemError::field(
            field,
            format!("must be 1 to {MAX_TEXT} printable characters"),
        ));
    }
    Ok(v.to_string())
}

fn dim(field: &str, v: Option<&str>) -> Result<String, ItemError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(UNSPECIFIED.to_string()),
        Some(s) => ident(field, s),
    }
}

fn opt_text(field: &str, v: Option<&str>) -> Result<Option<String>, ItemError> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| ident(field, s))
        .transpose()
}

fn timestamp(field: &str, v: &str) -> Result<Ts, ItemError> {
    let v = v.trim();
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(Ts::from_timestamp(t));
    }
    Err(ItemError::field(
        field,
        format!("`{v}` is not an RFC 3339 time with offset, like 2026-11-20T14:03:00Z"),
    ))
}

fn money(
    cur: &Conversion,
    field: &str,
    v: &MoneyInput,
    allow_negative: bool,
) -> Result<i64, ItemError> {
    let m = cur.to_minor(v).map_err(|e| ItemError::field(field, e.0))?;
    if m < 0 && !allow_negative {
        return Err(ItemError::field(field, "must not be negative"));
    }
    if m.abs() > MAX_AMOUNT {
        return Err(ItemError::field(
            field,
            format!("must be at most {}", cur.target.format_minor(MAX_AMOUNT)),
        ));
    }
    Ok(m)
}

fn opt_money(cur: &Conversion, field: &str, v: Option<&MoneyInput>) -> Result<i64, ItemError> {
    v.map(|m| money(cur, field, m, false))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// What an org accepts: amounts in its currency (or converted at the configured rates), and
/// with raw-event retention on, nothing older than the retention window (such an event could
/// not be checked for duplicates against expired ones).
#[derive(Clone, Copy, Debug)]
pub struct Intake<'a> {
    pub currency: &'a Currency,
    pub rates: &'a Rates,
    /// The oldest `occurred_at` accepted; `None`: any.
    pub oldest: Option<Ts>,
}

impl<'a> Intake<'a> {
    /// How this event's amounts convert, given the currency it names (none: the org's own).
    fn conversion(&self, given: Option<&str>) -> Result<Conversion<'a>, ItemError> {
        self.rates
            .conversion(self.currency, given)
            .ok_or_else(|| ItemError {
                code: "currency_mismatch",
                field: Some("currency".into()),
                message: currency_mismatch(given.unwrap_or_default(), self.currency),
            })
    }
}

/// Why an amount in currency `code` is refused for an org whose currency is `org`.
pub fn currency_mismatch(code: &str, org: &Currency) -> String {
    format!(
        "`{}` differs from the organization's currency {} and no exchange rate is configured",
        code.trim(),
        org.code()
    )
}

fn bad_event(e: serde_json::Error) -> ItemError {
    ItemError {
        code: "bad_event",
        field: None,
        message: e.to_string(),
    }
}

/// Parse and validate one event from its JSON text (one item of a batch, one JSONL line).
pub fn parse(json: &str, cur: &Intake) -> Result<Event, ItemError> {
    validate_raw(read_raw(json).map_err(bad_event)?, cur)
}

/// An event's JSON read into its input shape. serde reads an internally tagged enum by first
/// buffering the whole object (every key and value) to find the tag, then reading the variant
/// from the buffer. When `type` is the first key, as clients send it, the variant is read
/// straight from the text instead; any other order takes serde's way.
fn read_raw(json: &str) -> Result<RawEvent, serde_json::Error> {
    let type_first = json
        .trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with("\"type\""));
    if !type_first {
        return serde_json::from_str(json);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let raw = serde::Deserializer::deserialize_map(&mut de, TypeFirst)?;
    de.end()?;
    Ok(raw)
}

/// The `type` of an event, read on its own.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Tag {
    SaleCompleted,
    RefundProcessed,
    CustomerCreated,
    TrafficRecorded,
}

/// Reads an event object whose first key is `type`.
struct TypeFirst;

impl<'de> serde::de::Visitor<'de> for TypeFirst {
    type Value = RawEvent;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawEvent, A::Error> {
        // (the key, checked by the caller to be `type`)
        map.next_key::<serde::de::IgnoredAny>()?;
        let tag: Tag = map.next_value()?;
        let rest = serde::de::value::MapAccessDeserializer::new(map);
        Ok(match tag {
            Tag::SaleCompleted => RawEvent::SaleCompleted(RawSale::deserialize(rest)?),
            Tag::RefundProcessed => RawEvent::RefundProcessed(RawRefund::deserialize(rest)?),
            Tag::CustomerCreated => RawEvent::CustomerCreated(RawCustomer::deserialize(rest)?),
            Tag::TrafficRecorded => RawEvent::TrafficRecorded(RawTraffic::deserialize(rest)?),
        })
    }
}

/// Validate an event already in the input shape (e.g. built from a CSV row).
pub fn validate_raw(raw: RawEvent, p: &Intake) -> Result<Event, ItemError> {
    let e = validate_shape(raw, p)?;
    match p.oldest {
        Some(oldest) if e.at() < oldest => Err(ItemError {
            code: "too_old",
            field: Some("occurred_at".into()),
            message: format!(
                "is before {oldest}, the start of the raw-event retention window; such an event cannot be checked for duplicates"
            ),
        }),
        _ => Ok(e),
    }
}

fn validate_shape(raw: RawEvent, p: &Intake) -> Result<Event, ItemError> {
    match raw {
        RawEvent::SaleCompleted(s) => {
            let cur = &p.conversion(s.currency.as_deref())?;
            if s.lines.is_empty() {
                return Err(ItemError::field("lines", "must have at least one line"));
            }
            if s.lines.len() > MAX_LINES {
                return Err(ItemError::field(
                    "lines",
                    format!("must have at most {MAX_LINES} lines"),
                ));
            }
            let mut lines = Vec::with_capacity(s.lines.len());
            for (i, l) in s.lines.iter().enumerate() {
                // Field paths are only built for an error (this loop is hot in bulk imports).
                let under = |e: ItemError| e.under_line(i);
                if !(1..=1_000_000).contains(&l.quantity) {
                    return Err(ItemError::field(
                        format!("lines[{i}].quantity"),
                        "must be between 1 and 1000000",
                    ));
                }
                let sku = ident("sku", &l.sku).map_err(under)?;
                lines.push(SaleLine {
                    name: opt_text("name", l.name.as_deref())
                        .map_err(under)?
                        .unwrap_or_else(|| sku.clone()),
                    sku,
                    category: dim("category", l.category.as_deref()).map_err(under)?,
                    quantity: l.quantity,
                    unit_price: money(cur, "unit_price", &l.unit_price, false).map_err(under)?,
                    unit_cost: l
                        .unit_cost
                        .as_ref()
                        .map(|c| money(cur, "unit_cost", c, false))
                        .transpose()
                        .map_err(under)?,
                });
            }
            let sale = Sale {
                id: ident("id", &s.id)?,
                at: timestamp("occurred_at", &s.occurred_at)?,
                customer: opt_text("customer_id", s.customer_id.as_deref())?,
                channel: dim("channel", s.channel.as_deref())?,
                region: dim("region", s.region.as_deref())?,
                lines,
                discount: opt_money(cur, "discount", s.discount.as_ref())?,
                tax: opt_money(cur, "tax", s.tax.as_ref())?,
                shipping: opt_money(cur, "shipping", s.shipping.as_ref())?,
            };
            let total = sale.lines.iter().try_fold(0i64, |acc, l| {
                l.unit_price
                    .checked_mul(l.quantity)
                    .and_then(|v| acc.checked_add(v))
            });
            if total.is_none_or(|t| t > MAX_ORDER) {
                return Err(ItemError::field(
                    "lines",
                    format!(
                        "the order total is larger than {}",
                        cur.target.format_minor(MAX_ORDER)
                    ),
                ));
            }
            if sale.discount > sale.gross() {
                return Err(ItemError::field(
                    "discount",
                    "is larger than the order's line total",
                ));
            }
            Ok(Event::Sale(sale))
        }
        RawEvent::RefundProcessed(r) => {
            let cur = &p.conversion(r.currency.as_deref())?;
            let mut lines = Vec::with_capacity(r.lines.len());
            for (i, l) in r.lines.iter().enumerate() {
                if !(1..=1_000_000).contains(&l.quantity) {
                    return Err(ItemError::field(
                        format!("lines[{i}].quantity"),
                        "must be between 1 and 1000000",
                    ));
                }
                lines.push((ident(&format!("lines[{i}].sku"), &l.sku)?, l.quantity));
            }
            let amount = money(cur, "amount", &r.amount, false)?;
            if amount == 0 {
                return Err(ItemError::field("amount", "must be more than zero"));
            }
            Ok(Event::Refund(Refund {
                id: ident("id", &r.id)?,
                order_id: ident("order_id", &r.order_id)?,
                at: timestamp("occurred_at", &r.occurred_at)?,
                amount,
                lines,
            }))
        }
        RawEvent::CustomerCreated(c) => Ok(Event::Customer(CustomerCreated {
            id: ident("id", &c.id)?,
            at: timestamp("occurred_at", &c.occurred_at)?,
            email: opt_text("email", c.email.as_deref())?.map(|e| e.to_lowercase()),
            name: opt_text("name", c.name.as_deref())?,
            region: dim("region", c.region.as_deref())?,
        })),
        RawEvent::TrafficRecorded(t) => {
            let visits = i64::try_from(t.visits)
                .ok()
                .filter(|v| *v <= 1_000_000_000)
                .ok_or_else(|| ItemError::field("visits", "is too large"))?;
            Ok(Event::Traffic(Traffic {
                id: ident("id", &t.id)?,
                at: timestamp("occurred_at", &t.occurred_at)?,
                channel: dim("channel", t.channel.as_deref())?,
                region: dim("region", t.region.as_deref())?,
                visits,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Validate a JSON value through the same path the API and JSON-lines imports use.
    fn validate(value: serde_json::Value, p: &Intake) -> Result<Event, ItemError> {
        parse(&value.to_string(), p)
    }

    fn usd() -> Intake<'static> {
        Intake {
            currency: Box::leak(Box::new(Currency::parse("USD").unwrap())),
            rates: Box::leak(Box::default()),
            oldest: None,
        }
    }

    /// An event reads the same with `type` first (read straight into its shape) as with
    /// `type` elsewhere (serde's buffered way): the same event, or the same error.
    #[test]
    fn type_first_reads_like_any_other_key_order() {
        let cases = [
            (
                "sale_completed",
                r#""id":"o-1","occurred_at":"2026-11-20T14:03:00Z","customer_id":"c","lines":[{"sku":"a","category":"Hw","quantity":2,"unit_price":"1.50","unit_cost":0.5}],"tax":"0.10","shipping":1}"#,
            ),
            (
                "refund_processed",
                r#""id":"r","order_id":"o-1","occurred_at":"2026-11-21T00:00:00+01:00","amount":"1.00","lines":[{"sku":"a","quantity":1}]}"#,
            ),
            (
                "customer_created",
                r#""id":"c","occurred_at":"2026-11-20T14:03:00Z","email":"a@b.c","name":"A \"B\"","region":"EMEA"}"#,
            ),
            (
                "traffic_recorded",
                r#""id":"t","occurred_at":"2026-11-20T14:03:00Z","channel":"web","visits":12}"#,
            ),
            // bad items
            (
                "sale_completed",
                r#""id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[],"colour":"red"}"#,
            ),
            (
                "sale_completed",
                r#""id":"o","occurred_at":"2026-11-20T14:03:00Z"}"#,
            ),
            (
                "sale_completed",
                r#""id":7,"occurred_at":"2026-11-20T14:03:00Z","lines":[]}"#,
            ),
            (
                "sale_completed",
                r#""id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":1,"unit_price":"x"}]}"#,
            ),
            (
                "traffic_recorded",
                r#""id":"t","occurred_at":"yesterday","visits":-1}"#,
            ),
            ("sale_done", r#""id":"o"}"#),
        ];
        let p = usd();
        let outcome = |json: &str| match parse(json, &p) {
            Ok(e) => Ok(e),
            Err(e) => Err((e.code, e.field)),
        };
        for (kind, rest) in cases {
            let first = format!(r#" {{ "type" : "{kind}",{rest}"#);
            let body = rest.trim_end_matches('}');
            let last = format!(r#"{{{body},"type":"{kind}"}}"#);
            assert_eq!(outcome(&first), outcome(&last), "{first}");
        }
        let sale = format!(r#"{{"type":"sale_completed",{}"#, cases[0].1);
        assert!(outcome(&sale).is_ok());
        for bad in [
            format!("{sale} x"),
            format!("{sale}}}"),
            r#"{"type":7,"id":"o"}"#.to_string(),
            r#"{"type":"sale_completed","type":"sale_completed","id":"o"}"#.to_string(),
            r#"{"type":"sale_completed""#.to_string(),
        ] {
            assert_eq!(outcome(&bad).unwrap_err().0, "bad_event", "{bad}");
        }
    }

    #[test]
    fn another_currency_converts_at_a_configured_rate_or_is_refused() {
        let sale = json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z",
            "currency":"EUR","lines":[{"sku":"a","quantity":2,"unit_price":"10.00"}],"discount":"1.00"});
        let e = validate(sale.clone(), &usd()).unwrap_err();
        assert_eq!(e.code, "currency_mismatch");
        let rates = Rates::try_from(std::collections::BTreeMap::from([(
            "EUR/USD".to_string(),
            "1.10".to_string(),
        )]))
        .unwrap();
        let p = Intake {
            currency: usd().currency,
            rates: &rates,
            oldest: None,
        };
        let Event::Sale(s) = validate(sale, &p).unwrap() else {
            panic!()
        };
        assert_eq!((s.lines[0].unit_price, s.discount), (1100, 110));
    }

    #[test]
    fn a_full_sale_validates_to_minor_units() {
        let e = validate(
            json!({"type":"sale_completed","id":"ord-1001","occurred_at":"2026-11-20T14:03:00Z",
                   "customer_id":"c-42","currency":"USD","channel":"online","region":"EMEA",
                   "lines":[{"sku":"SKU-1","name":"Widget","category":"Hardware","quantity":2,"unit_price":"19.99","unit_cost":"7.50"}],
                   "discount":"0.00","tax":"3.20","shipping":5}),
            &usd(),
        )
        .unwrap();
        let Event::Sale(s) = e else { panic!() };
        assert_eq!(s.gross(), 3998);
        assert_eq!((s.tax, s.shipping, s.discount), (320, 500, 0));
        assert_eq!(s.lines[0].unit_cost, Some(750));
        assert_eq!(s.at.timestamp().to_string(), "2026-11-20T14:03:00Z");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":1,"unit_price":"1.001"}]}),
                "lines[0].unit_price",
            ),
            (
                json!({"type":"sale_completed","id":"o","occurred_at":"yesterday","lines":[{"sku":"a","quantity":1,"unit_price":"1"}]}),
                "occurred_at",
            ),
            (
                json!({"type":"sale_completed","id":" ","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":1,"unit_price":"1"}]}),
                "id",
            ),
            (
                json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[]}),
                "lines",
            ),
            (
                json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":0,"unit_price":"1"}]}),
                "lines[0].quantity",
            ),
            (
                json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z","discount":"5","lines":[{"sku":"a","quantity":1,"unit_price":"1"}]}),
                "discount",
            ),
            (
                json!({"type":"refund_processed","id":"r","order_id":"o","occurred_at":"2026-11-20T14:03:00Z","amount":"0"}),
                "amount",
            ),
            (
                json!({"type":"sale_completed","id":"o","currency":"EUR","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":1,"unit_price":"1"}]}),
                "currency",
            ),
        ];
        for (v, field) in cases {
            let e = validate(v.clone(), &usd()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{v}: {e:?}");
        }
        // amounts that could overflow sums are refused, never wrapped or saturated silently
        let huge = json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":1,"unit_price":"100000000000000"}]});
        assert_eq!(
            validate(huge, &usd()).unwrap_err().field.as_deref(),
            Some("lines[0].unit_price")
        );
        let many = json!({"type":"sale_completed","id":"o","occurred_at":"2026-11-20T14:03:00Z","lines":[{"sku":"a","quantity":1000000,"unit_price":"9000000000"}, {"sku":"b","quantity":1000000,"unit_price":"9000000000"}]});
        assert_eq!(
            validate(many, &usd()).unwrap_err().field.as_deref(),
            Some("lines")
        );
        let e = validate(json!({"type":"sale_made","id":"o"}), &usd()).unwrap_err();
        assert_eq!(e.code, "bad_event");
        let e = validate(json!({"type":"traffic_recorded","id":"t","occurred_at":"2026-11-20T14:03:00Z","visits":3,"bogus":1}), &usd()).unwrap_err();
        assert!(e.message.contains("bogus"), "{e:?}");
    }

    #[test]
    fn empty_dimensions_become_unspecified() {
        let e = validate(json!({"type":"traffic_recorded","id":"t","occurred_at":"2026-11-20T14:03:00+01:00","visits":3,"channel":""}), &usd()).unwrap();
        let Event::Traffic(t) = e else { panic!() };
        assert_eq!(
            (t.channel.as_str(), t.region.as_str()),
            (UNSPECIFIED, UNSPECIFIED)
        );
        assert_eq!(t.at.timestamp().to_string(), "2026-11-20T13:03:00Z");
    }
}
