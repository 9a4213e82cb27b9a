//! KPI endpoints over the rollups.

use super::{Json, Query};
use crate::analytics::{self, Filters, Range, Summary};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::error::{AppError, AppResult};
use crate::store::orgs;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    region: Option<String>,
    category: Option<String>,
    compare: Option<String>,
}

#[derive(Serialize)]
pub struct SummaryResponse {
    from: String,
    to: String,
    compare: &'static str,
    #[serde(flatten)]
    summary: Summary,
}

fn filter(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub async fn summary(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<SummaryQuery>,
) -> AppResult<Json<SummaryResponse>> {
    let org_id = a.user().org;
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
    let (compare_name, previous) = match q.compare.as_deref().unwrap_or("previous_period") {
        "previous_period" => ("previous_period", range.previous_period()),
        "previous_year" => ("previous_year", range.previous_year()),
        other => {
            return Err(AppError::validation(
                "compare",
                format!("`{other}` is not previous_period or previous_year"),
            ));
        }
    };
    let filters = Filters {
        channel: filter(q.channel),
        region: filter(q.region),
        category: filter(q.category),
    };
    let org2 = org.clone();
    let (now, prev) = state
        .db(move |s| {
            Ok(s.read(|t| {
                Ok((
                    analytics::total(t, &org2, range, &filters)?,
                    analytics::total(t, &org2, previous, &filters)?,
                ))
            })?)
        })
        .await?;
    let (from, to) = match range {
        Range::Days { from, to } => (
            analytics::day_date(from).to_string(),
            analytics::day_date(to).to_string(),
        ),
        Range::Instants { from, to } => (from.to_string(), to.to_string()),
    };
    Ok(Json(SummaryResponse {
        from,
        to,
        compare: compare_name,
        summary: analytics::summary(&org, &now, &prev),
    }))
}
