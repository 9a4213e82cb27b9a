//! What a dashboard shows, as it lives in the URL query: date range (preset or custom),
//! comparison, filters, and the chart's metric, interval and split. One canonical query string
//! per view, so links, bookmarks, the back button and the live hub all agree on what a view is.

pub use crate::analytics::Compare;
use crate::analytics::{self, Dimension, Filters, Interval, Range};
use crate::domain::Invalid;
use jiff::civil::Date;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    Today,
    Last7,
    Last30,
    Last90,
    ThisMonth,
    ThisQuarter,
    ThisYear,
    Custom,
}

impl Preset {
    pub const ALL: [Preset; 8] = [
        Preset::Today,
        Preset::Last7,
        Preset::Last30,
        Preset::Last90,
        Preset::ThisMonth,
        Preset::ThisQuarter,
        Preset::ThisYear,
        Preset::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Today => "today",
            Preset::Last7 => "7d",
            Preset::Last30 => "30d",
            Preset::Last90 => "90d",
            Preset::ThisMonth => "month",
            Preset::ThisQuarter => "quarter",
            Preset::ThisYear => "year",
            Preset::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Today => "Today",
            Preset::Last7 => "Last 7 days",
            Preset::Last30 => "Last 30 days",
            Preset::Last90 => "Last 90 days",
            Preset::ThisMonth => "This month",
            Preset::ThisQuarter => "This quarter",
            Preset::ThisYear => "This year",
            Preset::Custom => "Custom dates",
        }
    }
}

/// The metrics the chart can show, with their labels.
pub const CHART_METRICS: [(&str, &str); 10] = [
    ("revenue", "Revenue"),
    ("net_revenue", "Net revenue"),
    ("orders", "Orders"),
    ("average_order_value", "Average order"),
    ("conversion_rate", "Conversion"),
    ("new_customers", "New customers"),
    ("returning_customers", "Returning customers"),
    ("refunds", "Refunds"),
    ("units", "Units"),
    ("margin", "Margin"),
];

pub fn metric_label(metric: &str) -> &'static str {
    CHART_METRICS
        .iter()
        .find(|(m, _)| *m == metric)
        .map(|(_, l)| *l)
        .unwrap_or("Revenue")
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct View {
    pub preset: Preset,
    /// Only for `Custom`: the first and last day, inclusive.
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub compare: Compare,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
    pub metric: &'static str,
    /// `None`: chosen from the range length.
    pub interval: Option<Interval>,
    pub split: Option<Dimension>,
}

impl Default for View {
    fn default() -> Self {
        View {
            preset: Preset::Last30,
            from: None,
            to: None,
            compare: Compare::PreviousPeriod,
            channel: None,
            region: None,
            category: None,
            metric: "revenue",
            interval: None,
            split: None,
        }
    }
}

impl View {
    /// Parse query pairs. Empty values mean "not set" (a form sends every field); unknown
    /// names are ignored (so an old bookmark keeps working); bad values are refused by name.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<View, Invalid> {
        let mut v = View::default();
        let mut explicit_preset = false;
        for (k, raw) in pairs {
            let val = raw.trim();
            if val.is_empty() {
                continue;
            }
            let text = || Some(val.chars().take(100).collect::<String>());
            match k {
                "range" => {
                    v.preset = Preset::ALL
                        .into_iter()
                        .find(|p| p.as_str() == val)
                        .ok_or_else(|| {
                            Invalid::new("range", format!("`{val}` is not a known date range"))
                        })?;
                    explicit_preset = true;
                }
                "from" | "to" => {
                    let d: Date = val.parse().map_err(|_| {
                        Invalid::new(
                            if k == "from" { "from" } else { "to" },
                            format!("`{val}` is not a date like 2026-11-20"),
                        )
                    })?;
                    if k == "from" {
                        v.from = Some(d);
                    } else {
                        v.to = Some(d);
                    }
                }
                "compare" => v.compare = Compare::parse(val)?,
                "channel" => v.channel = text(),
                "region" => v.region = text(),
                "category" => v.category = text(),
                "metric" => {
                    v.metric = CHART_METRICS
                        .iter()
                        .find(|(m, _)| *m == val)
                        .map(|(m, _)| *m)
                        .ok_or_else(|| {
                            Invalid::new("metric", format!("`{val}` is not a chart metric"))
                        })?
                }
                "interval" => v.interval = Some(Interval::parse(Some(val))?),
                "split" => {
                    v.split = match val {
                        "none" => None,
                        _ => Some(Dimension::parse("split", val)?),
                    }
                }
                _ => {}
            }
        }
        // Dates without a preset mean custom dates; a preset other than custom ignores them.
        if !explicit_preset && (v.from.is_some() || v.to.is_some()) {
            v.preset = Preset::Custom;
        }
        if v.preset == Preset::Custom {
            match (v.from, v.to) {
                (Some(f), Some(t)) if f <= t => {
                    if (t - f).get_days() > 3660 {
                        return Err(Invalid::new("from", "the range can be at most ten years"));
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(Invalid::new("from", "must be on or before the end date"));
                }
                _ => {
                    return Err(Invalid::new(
                        if v.from.is_none() { "from" } else { "to" },
                        "custom dates need both a start and an end date",
                    ));
                }
            }
        } else {
            v.from = None;
            v.to = None;
        }
        Ok(v)
    }

    /// Parse a raw (percent-encoded) query string.
    pub fn from_query(query: &str) -> Result<View, Invalid> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        View::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The canonical query string (without `?`): only what differs from the defaults, in a
    /// fixed order.
    pub fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if self.preset != Preset::Last30 {
            q.append_pair("range", self.preset.as_str());
        }
        if let (Some(f), Some(t)) = (self.from, self.to) {
            q.append_pair("from", &f.to_string());
            q.append_pair("to", &t.to_string());
        }
        if self.compare != Compare::PreviousPeriod {
            q.append_pair("compare", self.compare.as_str());
        }
        for (k, v) in [
            ("channel", &self.channel),
            ("region", &self.region),
            ("category", &self.category),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        if self.metric != "revenue" {
            q.append_pair("metric", self.metric);
        }
        if let Some(i) = self.interval {
            q.append_pair("interval", i.as_str());
        }
        if let Some(d) = self.split {
            q.append_pair("split", d.as_str());
        }
        q.finish()
    }

    /// `/dashboard?…` for this view.
    pub fn href(&self) -> String {
        let q = self.query();
        if q.is_empty() {
            "/dashboard".into()
        } else {
            format!("/dashboard?{q}")
        }
    }

    /// A changed copy (for drill-down and switch links).
    pub fn with(&self, change: impl FnOnce(&mut View)) -> View {
        let mut v = self.clone();
        change(&mut v);
        v
    }

    /// Narrowed to one day (a click on a chart point).
    pub fn on_day(&self, day: Date) -> View {
        self.with(|v| {
            v.preset = Preset::Custom;
            v.from = Some(day);
            v.to = Some(day);
            v.interval = None;
        })
    }

    pub fn filters(&self) -> Filters {
        Filters {
            channel: self.channel.clone(),
            region: self.region.clone(),
            category: self.category.clone(),
        }
    }

    /// The local days the view covers, given today's date in the org's time zone.
    pub fn days(&self, today: Date) -> (Date, Date) {
        let back = |n: i64| {
            today
                .checked_sub(jiff::Span::new().days(n))
                .unwrap_or(today)
        };
        match self.preset {
            Preset::Today => (today, today),
            Preset::Last7 => (back(6), today),
            Preset::Last30 => (back(29), today),
            Preset::Last90 => (back(89), today),
            Preset::ThisMonth => (today.first_of_month(), today),
            Preset::ThisQuarter => {
                let m = (today.month() - 1) / 3 * 3 + 1;
                (Date::new(today.year(), m, 1).unwrap_or(today), today)
            }
            Preset::ThisYear => (today.first_of_year(), today),
            Preset::Custom => (self.from.unwrap_or(today), self.to.unwrap_or(today)),
        }
    }

    pub fn range(&self, today: Date) -> Range {
        let (f, t) = self.days(today);
        Range::Days {
            from: analytics::day_number(f),
            to: analytics::day_number(t),
        }
    }

    /// The chosen interval, or one that gives a readable number of points.
    pub fn interval(&self, today: Date) -> Interval {
        if let Some(i) = self.interval {
            return i;
        }
        let (f, t) = self.days(today);
        match (t - f).get_days() {
            0..=1 => Interval::Hour,
            2..=92 => Interval::Day,
            93..=731 => Interval::Week,
            _ => Interval::Month,
        }
    }

    /// What the comparison is, in words.
    pub fn compare_label(&self) -> &'static str {
        match self.compare {
            Compare::PreviousPeriod => "the period before",
            Compare::PreviousYear => "the same dates a year earlier",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<View, Invalid> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        View::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    #[test]
    fn the_default_view_has_an_empty_query() {
        assert_eq!(parse("").unwrap(), View::default());
        assert_eq!(View::default().query(), "");
        assert_eq!(View::default().href(), "/dashboard");
    }

    #[test]
    fn queries_round_trip_in_canonical_order() {
        let q = "split=region&metric=orders&channel=online+shop&range=custom&from=2026-01-01&to=2026-01-31&compare=previous_year&interval=week";
        let v = parse(q).unwrap();
        assert_eq!(
            v.query(),
            "range=custom&from=2026-01-01&to=2026-01-31&compare=previous_year&channel=online+shop&metric=orders&interval=week&split=region"
        );
        assert_eq!(parse(&v.query()).unwrap(), v);
    }

    #[test]
    fn form_fields_left_empty_mean_not_set_and_dates_imply_custom() {
        let v = parse("range=&from=&to=&channel=&region=EMEA&split=none").unwrap();
        assert_eq!(v.query(), "region=EMEA");
        let v = parse("from=2026-02-01&to=2026-02-03").unwrap();
        assert_eq!(v.preset, Preset::Custom);
        // A preset wins over stale date fields.
        let v = parse("range=7d&from=2026-02-01&to=2026-02-03").unwrap();
        assert_eq!(v.query(), "range=7d");
    }

    #[test]
    fn bad_values_name_their_field() {
        for (q, field) in [
            ("range=fortnight", "range"),
            ("range=custom&from=2026-02-05&to=2026-02-01", "from"),
            ("range=custom&from=2026-02-05", "to"),
            ("from=yesterday", "from"),
            ("metric=vibes", "metric"),
            ("interval=minute", "interval"),
            ("split=sku", "split"),
            ("compare=last_week", "compare"),
        ] {
            assert_eq!(parse(q).unwrap_err().field, field, "{q}");
        }
    }

    #[test]
    fn presets_cover_the_expected_days() {
        let today = jiff::civil::date(2026, 11, 23);
        let days = |q: &str| parse(q).unwrap().days(today);
        assert_eq!(days("range=today"), (today, today));
        assert_eq!(days(""), (jiff::civil::date(2026, 10, 25), today));
        assert_eq!(days("range=month"), (jiff::civil::date(2026, 11, 1), today));
        assert_eq!(
            days("range=quarter"),
            (jiff::civil::date(2026, 10, 1), today)
        );
        assert_eq!(days("range=year"), (jiff::civil::date(2026, 1, 1), today));
        assert_eq!(
            parse("range=today").unwrap().interval(today),
            Interval::Hour
        );
        assert_eq!(parse("").unwrap().interval(today), Interval::Day);
        assert_eq!(parse("range=year").unwrap().interval(today), Interval::Week);
        let d = jiff::civil::date(2026, 11, 2);
        assert_eq!(
            View::default().on_day(d).query(),
            "range=custom&from=2026-11-02&to=2026-11-02"
        );
    }
}
