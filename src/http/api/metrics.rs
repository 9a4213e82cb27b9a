//! KPI endpoints over the rollups: summary, timeseries, breakdown.

use super::Query;
use crate::analytics::{
    self, Compare, Dimension, Filters, Interval, Range, Series, SeriesQuery, Share, Summary,
};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::domain::org::Org;
use crate::error::{AppError, AppResult};
use crate::store::orgs;
use crate::store::sales;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A query-string type per endpoint, each with the filters every KPI endpoint shares, so an
/// unknown parameter (or one meant for another endpoint) is refused by name, and the OpenAPI
/// spec lists exactly what each endpoint reads.
macro_rules! kpi_query {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// First day (`2026-11-01`) or instant (`2026-11-01T09:00:00Z`) of the range,
            /// inclusive. Days are the org's local days. Default: the last 30 days.
            from: Option<String>,
            /// Last day or instant of the range, inclusive. Give both `from` and `to`, or neither.
            to: Option<String>,
            /// Only this sales channel (e.g. `online`).
            channel: Option<String>,
            /// Only this region (e.g. `EMEA`).
            region: Option<String>,
            /// Only this product category; `orders` then counts orders containing it.
            category: Option<String>,
            $($(#[$fm])* $field: $ty,)*
        }

        impl $name {
            fn common(&self) -> Common<'_> {
                Common {
                    from: self.from.as_deref(),
                    to: self.to.as_deref(),
                    channel: &self.channel,
                    region: &self.region,
                    category: &self.category,
                }
            }
        }
    };
}

/// The range and filters of any KPI query.
struct Common<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
    channel: &'a Option<String>,
    region: &'a Option<String>,
    category: &'a Option<String>,
}

kpi_query!(SummaryQuery {
    /// `previous_period` (default: the same length just before) or `previous_year`.
    compare: Option<String>,
});

kpi_query!(TimeseriesQuery {
    /// revenue (default), net_revenue, orders, units, refunds, discounts, margin,
    /// average_order_value, conversion_rate, new_customers, returning_customers or visits.
    metric: Option<String>,
    /// hour, day (default), week or month.
    interval: Option<String>,
    /// Split into one series per channel, region or category.
    group_by: Option<String>,
});

kpi_query!(BreakdownQuery {
    /// channel, region, category, product or customer.
    dimension: Option<String>,
    /// The metric to rank by (as for timeseries; products and customers: revenue,
    /// net_revenue, orders, units, refunds or margin).
    metric: Option<String>,
    /// How many groups, largest first: 1–100, default 10.
    limit: Option<usize>,
});

fn filter(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

struct Scope {
    org: Org,
    range: Range,
    filters: Filters,
}

async fn scope(state: &AppState, org_id: crate::domain::OrgId, q: &Common<'_>) -> AppResult<Scope> {
    let org = state
        .db(move |s| Ok(s.read(|t| orgs::get(t, org_id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))?;
    let range = match (q.from, q.to) {
        (Some(f), Some(t)) => analytics::parse_range(f, t)?,
        (None, None) => {
            // Default: the last 30 days, today included, in the org's time zone.
            let today = analytics::day_number(org.today(state.clock.now()));
            Range::Days {
                from: today - 29,
                to: today,
            }
        }
        _ => {
            return Err(AppError::validation(
                if q.from.is_none() { "from" } else { "to" },
                "give both `from` and `to`, or neither",
            ));
        }
    };
    let filters = Filters {
        channel: filter(q.channel),
        region: filter(q.region),
        category: filter(q.category),
    };
    Ok(Scope {
        org,
        range,
        filters,
    })
}

impl Scope {
    /// Everything that shapes an answer besides the endpoint's own parameters.
    fn key(&self) -> String {
        format!(
            "{}|{}|{}|{:?}|{:?}",
            self.org.timezone,
            self.org.currency.code(),
            self.org.id.0,
            self.range,
            self.filters
        )
    }
}

/// Answer from the KPI cache, or compute in one read transaction (so the data version and the
/// data agree) and keep the serialized body.
async fn answer<T: Serialize>(
    state: &AppState,
    org: crate::domain::OrgId,
    key: String,
    compute: impl FnOnce(&redb::ReadTransaction) -> AppResult<T> + Send + 'static,
) -> AppResult<Response> {
    let cache = state.kpi_cache.clone();
    let body = state
        .db(move |s| {
            s.read(|t| {
                let version = sales::data_version(t, org)?;
                Ok(cache.get_or_try(org, version, key, || {
                    let v = compute(t)?;
                    serde_json::to_vec(&v)
                        .map(Bytes::from)
                        .map_err(|e| AppError::internal(format!("serializing: {e}")))
                }))
            })?
        })
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

fn range_text(r: Range) -> (String, String) {
    match r {
        Range::Days { from, to } => (
            analytics::day_date(from).to_string(),
            analytics::day_date(to).to_string(),
        ),
        Range::Instants { from, to } => (from.to_string(), to.to_string()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SummaryResponse {
    from: String,
    to: String,
    compare: &'static str,
    #[serde(flatten)]
    summary: Summary,
}

/// KPIs over a range, each with its comparison value and change.
///
/// Revenue, net revenue, orders, AOV, conversion, new and returning customers, refunds, units,
/// margin, discounts and visits.
#[utoipa::path(get, path = "/metrics/summary", tag = "metrics", params(SummaryQuery),
    responses((status = 200, description = "The KPIs", body = SummaryResponse)))]
pub async fn summary(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<SummaryQuery>,
) -> AppResult<Response> {
    let sc = scope(&state, a.user().org, &q.common()).await?;
    let compare = Compare::parse(q.compare.as_deref().unwrap_or("previous_period"))?;
    let (compare_name, previous) = (compare.as_str(), compare.range(sc.range));
    let key = format!("summary|{compare_name}|{}", sc.key());
    let (org, range, filters) = (sc.org, sc.range, sc.filters);
    answer(&state, org.id, key, move |t| {
        let now = analytics::total(t, &org, range, &filters)?;
        let prev = analytics::total(t, &org, previous, &filters)?;
        let (from, to) = range_text(range);
        Ok(SummaryResponse {
            from,
            to,
            compare: compare_name,
            summary: analytics::summary(&org, &now, &prev),
        })
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct TimeseriesResponse {
    metric: &'static str,
    interval: &'static str,
    currency: String,
    from: String,
    to: String,
    series: Vec<Series>,
}

/// One metric per hour, day, week or month, optionally one series per group.
#[utoipa::path(get, path = "/metrics/timeseries", tag = "metrics", params(TimeseriesQuery),
    responses((status = 200, description = "The series", body = TimeseriesResponse)))]
pub async fn timeseries(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<TimeseriesQuery>,
) -> AppResult<Response> {
    let metric = analytics::parse_metric(q.metric.as_deref())?;
    let interval = Interval::parse(q.interval.as_deref())?;
    let split = q
        .group_by
        .as_deref()
        .map(|g| Dimension::parse("group_by", g))
        .transpose()?;
    let sc = scope(&state, a.user().org, &q.common()).await?;
    let key = format!("timeseries|{metric}|{interval:?}|{split:?}|{}", sc.key());
    let (org, range, filters) = (sc.org, sc.range, sc.filters);
    answer(&state, org.id, key, move |t| {
        let series = analytics::timeseries(
            t,
            &org,
            &SeriesQuery {
                range,
                interval,
                split,
                filters: &filters,
                metric,
            },
        )??;
        let (from, to) = range_text(range);
        Ok(TimeseriesResponse {
            metric,
            interval: interval.as_str(),
            currency: org.currency.code().to_string(),
            from,
            to,
            series,
        })
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct BreakdownResponse {
    metric: &'static str,
    dimension: String,
    currency: String,
    from: String,
    to: String,
    items: Vec<Share>,
}

/// A metric by channel, region or category (with shares), or products or customers ranked.
#[utoipa::path(get, path = "/metrics/breakdown", tag = "metrics", params(BreakdownQuery),
    responses((status = 200, description = "The groups, largest first", body = BreakdownResponse)))]
pub async fn breakdown(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<BreakdownQuery>,
) -> AppResult<Response> {
    let metric = analytics::parse_metric(q.metric.as_deref())?;
    let dim_text = q.dimension.clone().ok_or_else(|| {
        AppError::validation(
            "dimension",
            "is required: channel, region, category, product or customer",
        )
    })?;
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 100"));
    }
    match dim_text.trim() {
        "product" => {
            return ranking(&state, &a, &q.common(), Ranked::Product, metric, limit).await;
        }
        "customer" => {
            return ranking(&state, &a, &q.common(), Ranked::Customer, metric, limit).await;
        }
        _ => {}
    }
    let dimension = Dimension::parse("dimension", &dim_text).map_err(|_| {
        AppError::validation(
            "dimension",
            format!(
                "`{}` is not channel, region, category, product or customer",
                dim_text.trim()
            ),
        )
    })?;
    let sc = scope(&state, a.user().org, &q.common()).await?;
    let key = format!("breakdown|{metric}|{dimension:?}|{limit}|{}", sc.key());
    let (org, range, filters) = (sc.org, sc.range, sc.filters);
    answer(&state, org.id, key, move |t| {
        let items = analytics::breakdown(t, &org, range, dimension, &filters, metric, limit)?;
        let (from, to) = range_text(range);
        Ok(BreakdownResponse {
            metric,
            dimension: dim_text.trim().to_string(),
            currency: org.currency.code().to_string(),
            from,
            to,
            items,
        })
    })
    .await
}

#[derive(Clone, Copy, Debug)]
enum Ranked {
    Product,
    Customer,
}

/// Products or customers ranked over the range (from their day and month rows).
async fn ranking(
    state: &AppState,
    a: &Authz<perm::SalesView>,
    q: &Common<'_>,
    kind: Ranked,
    metric: &'static str,
    limit: usize,
) -> AppResult<Response> {
    let (noun, unfiltered): (&str, &[(&str, &Option<String>)]) = match kind {
        Ranked::Product => ("products", &[("channel", q.channel), ("region", q.region)]),
        Ranked::Customer => ("customers", &[("category", q.category)]),
    };
    if !analytics::RANKING_METRICS.contains(&metric) {
        return Err(AppError::validation(
            "metric",
            format!(
                "{noun} can be ranked by {}",
                analytics::RANKING_METRICS.join(", ")
            ),
        ));
    }
    for (field, v) in unfiltered {
        if filter(v).is_some() {
            let by = match kind {
                Ranked::Product => "category only",
                Ranked::Customer => "channel and region only",
            };
            return Err(AppError::validation(
                *field,
                format!("{noun} rankings can be filtered by {by}"),
            ));
        }
    }
    let sc = scope(state, a.user().org, q).await?;
    let key = format!("ranking|{kind:?}|{metric}|{limit}|{}", sc.key());
    let (org, range, f) = (sc.org, sc.range, sc.filters);
    answer(state, org.id, key, move |t| {
        let items = match kind {
            Ranked::Product => {
                analytics::product_breakdown(t, &org, range, f.category.as_deref(), metric, limit)?
            }
            Ranked::Customer => analytics::customer_breakdown(
                t,
                &org,
                range,
                f.channel.as_deref(),
                f.region.as_deref(),
                metric,
                limit,
            )?,
        };
        let (from, to) = range_text(range);
        Ok(BreakdownResponse {
            metric,
            dimension: match kind {
                Ranked::Product => "product",
                Ranked::Customer => "customer",
            }
            .into(),
            currency: org.currency.code().to_string(),
            from,
            to,
            items,
        })
    })
    .await
}
