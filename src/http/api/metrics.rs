//! KPI endpoints over the rollups: summary, timeseries, breakdown.

use super::{Json, Query};
use crate::analytics::{
    self, Dimension, Filters, Interval, Range, Series, SeriesQuery, Share, Summary,
};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::domain::org::Org;
use crate::error::{AppError, AppResult};
use crate::store::orgs;
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// Query parameters every KPI endpoint shares.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    region: Option<String>,
    category: Option<String>,
    compare: Option<String>,
    metric: Option<String>,
    interval: Option<String>,
    group_by: Option<String>,
    dimension: Option<String>,
    limit: Option<usize>,
}

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

async fn scope(state: &AppState, org_id: crate::domain::OrgId, q: &KpiQuery) -> AppResult<Scope> {
    let org = state
        .db(move |s| Ok(s.read(|t| orgs::get(t, org_id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))?;
    let range = match (q.from.as_deref(), q.to.as_deref()) {
        (Some(f), Some(t)) => analytics::parse_range(f, t)?,
        (None, None) => {
            // Default: the last 30 days, today included, in the org's time zone.
            let today =
                analytics::day_number(state.clock.now().timestamp().to_zoned(org.tz()).date());
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
        channel: filter(&q.channel),
        region: filter(&q.region),
        category: filter(&q.category),
    };
    Ok(Scope {
        org,
        range,
        filters,
    })
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

#[derive(Serialize)]
pub struct SummaryResponse {
    from: String,
    to: String,
    compare: &'static str,
    #[serde(flatten)]
    summary: Summary,
}

pub async fn summary(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<KpiQuery>,
) -> AppResult<Json<SummaryResponse>> {
    let sc = scope(&state, a.user().org, &q).await?;
    let (compare_name, previous) = match q.compare.as_deref().unwrap_or("previous_period") {
        "previous_period" => ("previous_period", sc.range.previous_period()),
        "previous_year" => ("previous_year", sc.range.previous_year()),
        other => {
            return Err(AppError::validation(
                "compare",
                format!("`{other}` is not previous_period or previous_year"),
            ));
        }
    };
    let (org, range, filters) = (sc.org.clone(), sc.range, sc.filters);
    let (now, prev) = state
        .db(move |s| {
            Ok(s.read(|t| {
                Ok((
                    analytics::total(t, &org, range, &filters)?,
                    analytics::total(t, &org, previous, &filters)?,
                ))
            })?)
        })
        .await?;
    let (from, to) = range_text(sc.range);
    Ok(Json(SummaryResponse {
        from,
        to,
        compare: compare_name,
        summary: analytics::summary(&sc.org, &now, &prev),
    }))
}

#[derive(Serialize)]
pub struct TimeseriesResponse {
    metric: &'static str,
    interval: &'static str,
    currency: String,
    from: String,
    to: String,
    series: Vec<Series>,
}

pub async fn timeseries(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<KpiQuery>,
) -> AppResult<Json<TimeseriesResponse>> {
    let metric = analytics::parse_metric(q.metric.as_deref())?;
    let interval = Interval::parse(q.interval.as_deref())?;
    let split = q
        .group_by
        .as_deref()
        .map(|g| Dimension::parse("group_by", g))
        .transpose()?;
    let sc = scope(&state, a.user().org, &q).await?;
    let (org, range, filters) = (sc.org.clone(), sc.range, sc.filters);
    let series = state
        .db(move |s| {
            let r = s.read(|t| {
                analytics::timeseries(
                    t,
                    &org,
                    &SeriesQuery {
                        range,
                        interval,
                        split,
                        filters: &filters,
                        metric,
                    },
                )
            })?;
            Ok(r?)
        })
        .await?;
    let (from, to) = range_text(sc.range);
    let interval_name = match interval {
        Interval::Hour => "hour",
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
    };
    Ok(Json(TimeseriesResponse {
        metric,
        interval: interval_name,
        currency: sc.org.currency.code().to_string(),
        from,
        to,
        series,
    }))
}

#[derive(Serialize)]
pub struct BreakdownResponse {
    metric: &'static str,
    dimension: String,
    currency: String,
    from: String,
    to: String,
    items: Vec<Share>,
}

pub async fn breakdown(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<KpiQuery>,
) -> AppResult<Json<BreakdownResponse>> {
    let metric = analytics::parse_metric(q.metric.as_deref())?;
    let dim_text = q.dimension.clone().ok_or_else(|| {
        AppError::validation("dimension", "is required: channel, region or category")
    })?;
    let dimension = Dimension::parse("dimension", &dim_text)?;
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 100"));
    }
    let sc = scope(&state, a.user().org, &q).await?;
    let (org, range, filters) = (sc.org.clone(), sc.range, sc.filters);
    let items = state
        .db(move |s| {
            Ok(s.read(|t| {
                analytics::breakdown(t, &org, range, dimension, &filters, metric, limit)
            })?)
        })
        .await?;
    let (from, to) = range_text(sc.range);
    Ok(Json(BreakdownResponse {
        metric,
        dimension: dim_text.trim().to_string(),
        currency: sc.org.currency.code().to_string(),
        from,
        to,
        items,
    }))
}
