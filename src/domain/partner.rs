//! ISV partners: the partner record, the org's partner settings (tiers, health weights and the
//! at-risk threshold) and the relationship health score with its explanation.
//!
//! The health score is a weighted mean of factor scores, each 0–100. A factor that cannot be
//! judged (no revenue target, no closed deals, no renewal date…) is left out and the other
//! weights share its part, so a missing fact never reads as a bad one.

use super::{Invalid, NoteId, OrgId, PartnerId, Ts, UserId, required_text};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    Prospect,
    Onboarding,
    Active,
    AtRisk,
    Churned,
}

impl PartnerStatus {
    pub const ALL: [PartnerStatus; 5] = [
        PartnerStatus::Prospect,
        PartnerStatus::Onboarding,
        PartnerStatus::Active,
        PartnerStatus::AtRisk,
        PartnerStatus::Churned,
    ];

    pub fn parse(raw: &str) -> Result<PartnerStatus, Invalid> {
        let norm = raw.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        PartnerStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == norm)
            .ok_or_else(|| {
                Invalid::new(
                    "status",
                    format!(
                        "`{}` is not one of: prospect, onboarding, active, at_risk, churned",
                        raw.trim()
                    ),
                )
            })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerStatus::Prospect => "prospect",
            PartnerStatus::Onboarding => "onboarding",
            PartnerStatus::Active => "active",
            PartnerStatus::AtRisk => "at_risk",
            PartnerStatus::Churned => "churned",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            PartnerStatus::Prospect => "Prospect",
            PartnerStatus::Onboarding => "Onboarding",
            PartnerStatus::Active => "Active",
            PartnerStatus::AtRisk => "At risk",
            PartnerStatus::Churned => "Churned",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    pub id: PartnerId,
    pub org: OrgId,
    pub name: String,
    pub website: String,
    /// One of the org's tiers (kept as text so renaming a tier never breaks a partner).
    pub tier: String,
    pub status: PartnerStatus,
    /// The partnership manager responsible.
    pub owner: UserId,
    pub region: String,
    pub categories: Vec<String>,
    pub contract_start: Option<Date>,
    pub renewal_date: Option<Date>,
    pub contacts: Vec<Contact>,
    pub tags: Vec<String>,
    /// Yearly revenue target in minor units (won deals sourced or influenced by the partner).
    pub revenue_target: Option<i64>,
    /// Why salesboard marked it at risk (cleared when someone sets another status).
    pub at_risk_reason: Option<String>,
    pub archived: bool,
    /// The last edit or note (its deals' changes count too, see [`HealthInputs`]).
    pub last_activity: Ts,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// Bumped by every change: the ETag of optimistic concurrency.
    pub version: u64,
}

/// A free-form note on a partner. Notes are never edited, only added.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: NoteId,
    pub at: Ts,
    pub by: Option<UserId>,
    pub by_label: String,
    pub text: String,
}

/// What the health score weighs, in the order the page explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Days since the last note, edit or change of one of its deals.
    Recency,
    /// Open pipeline the partner sourced, against three times its quarterly revenue target.
    SourcedPipeline,
    /// Deals sourced in the last 90 days against the 90 days before.
    PipelineTrend,
    /// Won share of its deals closed in the last 12 months.
    WinRate,
    /// Won this year against the target prorated to today.
    RevenueVsTarget,
    /// Share of its open deals past their expected close date.
    SlippedDeals,
    /// Days until the contract renews.
    Renewal,
}

impl Factor {
    pub const ALL: [Factor; 7] = [
        Factor::Recency,
        Factor::SourcedPipeline,
        Factor::PipelineTrend,
        Factor::WinRate,
        Factor::RevenueVsTarget,
        Factor::SlippedDeals,
        Factor::Renewal,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Recency => "recency",
            Factor::SourcedPipeline => "sourced_pipeline",
            Factor::PipelineTrend => "pipeline_trend",
            Factor::WinRate => "win_rate",
            Factor::RevenueVsTarget => "revenue_vs_target",
            Factor::SlippedDeals => "slipped_deals",
            Factor::Renewal => "renewal",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Factor::Recency => "Recent activity",
            Factor::SourcedPipeline => "Sourced pipeline",
            Factor::PipelineTrend => "Pipeline trend",
            Factor::WinRate => "Win rate",
            Factor::RevenueVsTarget => "Revenue vs target",
            Factor::SlippedDeals => "Deals on schedule",
            Factor::Renewal => "Days to renewal",
        }
    }
    fn index(self) -> usize {
        Factor::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
    pub fn parse(raw: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.as_str() == raw.trim())
    }
}

/// The weight of each factor, 0–100 each (relative: they need not add up to 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights(pub [u8; 7]);

impl Default for Weights {
    fn default() -> Self {
        // Recency 25, sourced pipeline 20, trend 10, win rate 15, revenue 20, slipped 5,
        // renewal 5.
        Weights([25, 20, 10, 15, 20, 5, 5])
    }
}

impl Weights {
    pub fn get(&self, f: Factor) -> u8 {
        self.0[f.index()]
    }
    pub fn set(&mut self, f: Factor, w: u8) {
        self.0[f.index()] = w;
    }
}

/// An org's partner settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartnerSettings {
    /// Tiers in order, lowest first.
    pub tiers: Vec<String>,
    pub weights: Weights,
    /// A score below this marks an active or onboarding partner "at risk".
    pub at_risk_below: u8,
    pub version: u64,
}

impl Default for PartnerSettings {
    fn default() -> Self {
        PartnerSettings {
            tiers: ["Registered", "Silver", "Gold", "Platinum"]
                .map(String::from)
                .to_vec(),
            weights: Weights::default(),
            at_risk_below: 40,
            version: 1,
        }
    }
}

/// Health bands for filters and badges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    AtRisk,
    Watch,
    Healthy,
}

/// Scores from this up are "healthy".
pub const HEALTHY_FROM: u8 = 70;

impl Band {
    pub fn of(score: u8, at_risk_below: u8) -> Band {
        if score < at_risk_below {
            Band::AtRisk
        } else if score < HEALTHY_FROM {
            Band::Watch
        } else {
            Band::Healthy
        }
    }
    pub fn parse(raw: &str) -> Result<Band, Invalid> {
        match raw.trim() {
            "at_risk" => Ok(Band::AtRisk),
            "watch" => Ok(Band::Watch),
            "healthy" => Ok(Band::Healthy),
            other => Err(Invalid::new(
                "health",
                format!("`{other}` is not one of: at_risk, watch, healthy"),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Band::AtRisk => "at_risk",
            Band::Watch => "watch",
            Band::Healthy => "healthy",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Band::AtRisk => "At risk",
            Band::Watch => "Watch",
            Band::Healthy => "Healthy",
        }
    }
}

/// The facts the health score is computed from (gathered from the partner and its deals).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthInputs {
    pub days_since_activity: i64,
    /// Open amount of deals the partner sourced.
    pub open_sourced: i64,
    /// Deals it sourced that were created in the last 90 days, and in the 90 days before.
    pub new_recent: u32,
    pub new_before: u32,
    /// Its deals (sourced or influenced) won and lost in the last 12 months.
    pub won_12m: u32,
    pub lost_12m: u32,
    /// Won amount of its deals closing this calendar year.
    pub won_this_year: i64,
    pub revenue_target: Option<i64>,
    /// Share of the calendar year gone, 0–1.
    pub year_elapsed: f64,
    pub open_deals: u32,
    pub slipped_deals: u32,
    /// Days until the renewal date (negative: overdue).
    pub days_to_renewal: Option<i64>,
}

/// One factor's part of a score.
#[derive(Clone, Debug, PartialEq)]
pub struct FactorScore {
    pub factor: Factor,
    /// 0–100; `None` when the factor does not apply (its weight goes to the others).
    pub score: Option<u8>,
    /// The fact behind the score, in words.
    pub detail: String,
    pub weight: u8,
    /// Points of the total score this factor gives (the contributions add up to the score).
    pub contribution: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    pub score: u8,
    pub factors: Vec<FactorScore>,
}

impl Health {
    /// The applicable factors with the lowest scores (for the at-risk reason), weakest first.
    pub fn weakest(&self, n: usize) -> Vec<&FactorScore> {
        let mut f: Vec<&FactorScore> = self
            .factors
            .iter()
            .filter(|f| f.score.is_some() && f.weight > 0)
            .collect();
        f.sort_by_key(|f| f.score);
        f.truncate(n);
        f
    }
}

fn pct(part: f64, whole: f64) -> u8 {
    if whole <= 0.0 {
        return 0;
    }
    (100.0 * part / whole).clamp(0.0, 100.0).round() as u8
}

fn plural(n: impl Into<i64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Each factor's score and words, before weighting.
fn factor(f: Factor, i: &HealthInputs, money: &dyn Fn(i64) -> String) -> (Option<u8>, String) {
    match f {
        Factor::Recency => {
            let d = i.days_since_activity.max(0);
            let score = match d {
                0..=7 => 100,
                90.. => 0,
                _ => pct((90 - d) as f64, 83.0),
            };
            let text = match d {
                0 => "activity today".to_string(),
                _ => format!("{} since the last activity", plural(d, "day", "days")),
            };
            (Some(score), text)
        }
        Factor::SourcedPipeline => match i.revenue_target.filter(|t| *t > 0) {
            None => (
                None,
                format!(
                    "{} open, no revenue target to compare with",
                    money(i.open_sourced)
                ),
            ),
            Some(t) => {
                // Three times a quarter's target is full coverage.
                let want = t as f64 * 0.75;
                (
                    Some(pct(i.open_sourced as f64, want)),
                    format!(
                        "{} open against {} (3× a quarter's target)",
                        money(i.open_sourced),
                        money(want.round() as i64)
                    ),
                )
            }
        },
        Factor::PipelineTrend => {
            let (r, b) = (i.new_recent, i.new_before);
            let text = format!(
                "{} sourced in the last 90 days, {} in the 90 before",
                plural(r, "deal", "deals"),
                b
            );
            match (r, b) {
                (0, 0) => (None, "no deal sourced in the last 180 days".into()),
                (_, 0) => (Some(100), text),
                _ => (Some(pct(f64::from(r), f64::from(b))), text),
            }
        }
        Factor::WinRate => {
            let closed = i.won_12m + i.lost_12m;
            if closed == 0 {
                return (None, "no deal closed in the last 12 months".into());
            }
            let score = pct(f64::from(i.won_12m), f64::from(closed));
            (
                Some(score),
                format!(
                    "{} won of {} closed in the last 12 months",
                    i.won_12m, closed
                ),
            )
        }
        Factor::RevenueVsTarget => match i.revenue_target.filter(|t| *t > 0) {
            None => (None, "no revenue target set".into()),
            Some(t) => {
                let expected = t as f64 * i.year_elapsed.clamp(0.0, 1.0);
                let score = if expected <= 0.0 {
                    100
                } else {
                    pct(i.won_this_year as f64, expected)
                };
                (
                    Some(score),
                    format!(
                        "{} won this year, {} expected by now (yearly target {})",
                        money(i.won_this_year),
                        money(expected.round() as i64),
                        money(t)
                    ),
                )
            }
        },
        Factor::SlippedDeals => {
            if i.open_deals == 0 {
                return (None, "no open deal".into());
            }
            let on_time = i.open_deals.saturating_sub(i.slipped_deals);
            (
                Some(pct(f64::from(on_time), f64::from(i.open_deals))),
                format!(
                    "{} of {} past the expected close date",
                    i.slipped_deals,
                    plural(i.open_deals, "open deal", "open deals")
                ),
            )
        }
        Factor::Renewal => match i.days_to_renewal {
            None => (None, "no renewal date".into()),
            Some(d) if d < 0 => (
                Some(0),
                format!("renewal overdue by {}", plural(-d, "day", "days")),
            ),
            Some(d) if d >= 90 => (Some(100), format!("renews in {}", plural(d, "day", "days"))),
            Some(d) => (
                Some(pct(d as f64, 90.0)),
                format!("renews in {}", plural(d, "day", "days")),
            ),
        },
    }
}

/// The health score of a partner from its facts and the org's weights.
pub fn health(i: &HealthInputs, w: &Weights, money: &dyn Fn(i64) -> String) -> Health {
    let mut factors: Vec<FactorScore> = Factor::ALL
        .into_iter()
        .map(|f| {
            let (score, detail) = factor(f, i, money);
            FactorScore {
                factor: f,
                score,
                detail,
                weight: w.get(f),
                contribution: 0.0,
            }
        })
        .collect();
    let total: u32 = factors
        .iter()
        .filter(|f| f.score.is_some())
        .map(|f| u32::from(f.weight))
        .sum();
    if total == 0 {
        // Nothing to judge by: neither good nor bad.
        return Health { score: 50, factors };
    }
    for f in &mut factors {
        if let Some(s) = f.score {
            f.contribution = f64::from(f.weight) * f64::from(s) / f64::from(total);
        }
    }
    let score = factors.iter().map(|f| f.contribution).sum::<f64>().round() as u8;
    Health {
        score: score.min(100),
        factors,
    }
}

/// The at-risk reason when `h` is below the threshold, naming the weakest factors.
pub fn at_risk_reason(h: &Health, threshold: u8, day: Date) -> Option<String> {
    if h.score >= threshold {
        return None;
    }
    let weakest: Vec<String> = h
        .weakest(2)
        .iter()
        .map(|f| format!("{} ({})", f.factor.label().to_lowercase(), f.detail))
        .collect();
    Some(format!(
        "Health {} fell below {} on {day}{}",
        h.score,
        threshold,
        if weakest.is_empty() {
            String::new()
        } else {
            format!("; weakest: {}", weakest.join("; "))
        }
    ))
}

// ---------- validation of the text fields ----------

/// Trimmed optional text of at most `max` characters, without control characters.
pub fn optional_text(field: &'static str, v: &str, max: usize) -> Result<String, Invalid> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    required_text(field, v, max)
}

/// A note's text: 1–10,000 characters; line breaks and tabs allowed, other control
/// characters not.
pub fn parse_note(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(Invalid::new("text", "is required"));
    }
    if v.chars().count() > 10_000 {
        return Err(Invalid::new("text", "must be at most 10000 characters"));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Invalid::new("text", "must not contain control characters"));
    }
    Ok(v.to_string())
}

/// A website: blank, or an http(s) address with a domain name (a bare domain gets
/// `https://`); stored as parsed, so it always links to a web page.
pub fn parse_website(raw: &str) -> Result<String, Invalid> {
    let v = optional_text("website", raw, 300)?;
    if v.is_empty() {
        return Ok(v);
    }
    let bad = || Invalid::new("website", format!("`{}` is not a web address", raw.trim()));
    let full = if v.contains("://") {
        v
    } else {
        format!("https://{v}")
    };
    let url = url::Url::parse(&full).map_err(|_| bad())?;
    let domain = url.domain().unwrap_or_default();
    if !matches!(url.scheme(), "http" | "https")
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(url.to_string())
}

/// A list of short labels (tags, categories): trimmed, blank ones dropped, duplicates
/// (case-insensitive) removed, at most `max_items`.
pub fn parse_labels(
    field: &'static str,
    raw: &[String],
    max_items: usize,
) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for r in raw {
        let v = optional_text(field, r, 40)?;
        if !v.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&v)) {
            out.push(v);
        }
    }
    if out.len() > max_items {
        return Err(Invalid::new(
            field,
            format!("at most {max_items} are allowed"),
        ));
    }
    Ok(out)
}

/// Labels from one comma-separated text (the forms' way of sending a list).
pub fn split_labels(raw: &str) -> Vec<String> {
    raw.split(',').map(|s| s.trim().to_string()).collect()
}

pub fn parse_contacts(raw: &[Contact]) -> Result<Vec<Contact>, Invalid> {
    if raw.len() > 50 {
        return Err(Invalid::new("contacts", "at most 50 are allowed"));
    }
    raw.iter()
        .filter(|c| {
            !(c.name.trim().is_empty()
                && c.role.trim().is_empty()
                && c.email.trim().is_empty()
                && c.phone.trim().is_empty())
        })
        .map(|c| {
            let email = optional_text("contacts", &c.email, 200)?;
            let email = if email.is_empty() {
                email
            } else {
                super::user::parse_email(&email).map_err(|_| {
                    Invalid::new("contacts", format!("`{email}` is not an email address"))
                })?
            };
            let phone = optional_text("contacts", &c.phone, 40)?;
            if phone
                .chars()
                .any(|ch| !(ch.is_ascii_digit() || " +-().ext".contains(ch)))
            {
                return Err(Invalid::new(
                    "contacts",
                    format!("`{phone}` is not a phone number"),
                ));
            }
            Ok(Contact {
                name: required_text("contacts", &c.name, 120)
                    .map_err(|_| Invalid::new("contacts", "every contact needs a name"))?,
                role: optional_text("contacts", &c.role, 120)?,
                email,
                phone,
            })
        })
        .collect()
}

/// The org's tier list: 1–20 distinct names.
pub fn parse_tiers(raw: &[String]) -> Result<Vec<String>, Invalid> {
    let tiers = parse_labels("tiers", raw, 20)?;
    if tiers.is_empty() {
        return Err(Invalid::new("tiers", "name at least one tier"));
    }
    Ok(tiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(v: i64) -> String {
        format!("${}", v / 100)
    }

    fn inputs() -> HealthInputs {
        HealthInputs {
            days_since_activity: 3,
            open_sourced: 300_000 * 100,
            new_recent: 4,
            new_before: 2,
            won_12m: 3,
            lost_12m: 1,
            won_this_year: 250_000 * 100,
            revenue_target: Some(400_000 * 100),
            year_elapsed: 0.5,
            open_deals: 4,
            slipped_deals: 1,
            days_to_renewal: Some(45),
        }
    }

    #[test]
    fn hand_computed_score_and_contributions() {
        let h = health(&inputs(), &Weights::default(), &money);
        let s = |f: Factor| {
            h.factors
                .iter()
                .find(|x| x.factor == f)
                .and_then(|x| x.score)
        };
        assert_eq!(s(Factor::Recency), Some(100));
        // 300k open of 0.75 × 400k = 300k: full.
        assert_eq!(s(Factor::SourcedPipeline), Some(100));
        assert_eq!(s(Factor::PipelineTrend), Some(100));
        assert_eq!(s(Factor::WinRate), Some(75));
        // 250k won of 200k expected by mid-year: capped at 100.
        assert_eq!(s(Factor::RevenueVsTarget), Some(100));
        assert_eq!(s(Factor::SlippedDeals), Some(75));
        assert_eq!(s(Factor::Renewal), Some(50));
        // (25·100 + 20·100 + 10·100 + 15·75 + 20·100 + 5·75 + 5·50) / 100 = 92.5
        assert_eq!(h.score, 93);
        let sum: f64 = h.factors.iter().map(|f| f.contribution).sum();
        assert!((sum - 92.5).abs() < 1e-9);
    }

    #[test]
    fn factors_that_do_not_apply_give_their_weight_to_the_others() {
        let i = HealthInputs {
            days_since_activity: 0,
            ..Default::default()
        };
        let h = health(&i, &Weights::default(), &money);
        // Only recency applies, and it is perfect.
        assert_eq!(h.score, 100);
        let applicable: Vec<Factor> = h
            .factors
            .iter()
            .filter(|f| f.score.is_some())
            .map(|f| f.factor)
            .collect();
        assert_eq!(applicable, vec![Factor::Recency]);
        // With no weight anywhere that applies, the score is neutral.
        let mut w = Weights::default();
        w.set(Factor::Recency, 0);
        assert_eq!(health(&i, &w, &money).score, 50);
    }

    #[test]
    fn recency_and_renewal_fall_linearly() {
        let mut i = HealthInputs {
            days_since_activity: 90,
            days_to_renewal: Some(-3),
            ..Default::default()
        };
        let h = health(&i, &Weights::default(), &money);
        assert_eq!(h.score, 0);
        let reason = at_risk_reason(&h, 40, Date::constant(2026, 11, 30)).unwrap_or_default();
        assert!(
            reason.starts_with("Health 0 fell below 40 on 2026-11-30"),
            "{reason}"
        );
        assert!(reason.contains("renewal overdue by 3 days"), "{reason}");
        i.days_since_activity = 48; // (90 − 48) / 83 = 50.6 %
        i.days_to_renewal = Some(90);
        let h = health(&i, &Weights::default(), &money);
        let s = |f: Factor| {
            h.factors
                .iter()
                .find(|x| x.factor == f)
                .and_then(|x| x.score)
        };
        assert_eq!(s(Factor::Recency), Some(51));
        assert_eq!(s(Factor::Renewal), Some(100));
        assert_eq!(at_risk_reason(&h, 40, Date::constant(2026, 11, 30)), None);
    }

    #[test]
    fn falling_trend_and_missed_target() {
        let i = HealthInputs {
            new_recent: 1,
            new_before: 4,
            revenue_target: Some(100 * 100),
            won_this_year: 0,
            year_elapsed: 0.25,
            ..inputs()
        };
        let h = health(&i, &Weights::default(), &money);
        let s = |f: Factor| {
            h.factors
                .iter()
                .find(|x| x.factor == f)
                .and_then(|x| x.score)
        };
        assert_eq!(s(Factor::PipelineTrend), Some(25));
        assert_eq!(s(Factor::RevenueVsTarget), Some(0));
        assert_eq!(h.weakest(1)[0].factor, Factor::RevenueVsTarget);
    }

    #[test]
    fn bands_follow_the_threshold() {
        assert_eq!(Band::of(39, 40), Band::AtRisk);
        assert_eq!(Band::of(40, 40), Band::Watch);
        assert_eq!(Band::of(70, 40), Band::Healthy);
        assert_eq!(Band::of(75, 80), Band::AtRisk);
    }

    #[test]
    fn text_fields_are_checked() {
        assert_eq!(parse_website("acme.io").as_deref(), Ok("https://acme.io/"));
        assert!(parse_website("not a site").is_err());
        assert!(parse_website("ftp://x.io").is_err());
        assert!(parse_website("javascript:alert(1)").is_err());
        assert!(parse_website("javascript://x.io/%0aalert(1)").is_err());
        assert!(parse_website("https://user@evil.io").is_err());
        assert_eq!(
            parse_website("HTTPS://Acme.io/partners").as_deref(),
            Ok("https://acme.io/partners")
        );
        assert_eq!(parse_website(" ").as_deref(), Ok(""));
        assert_eq!(
            parse_labels("tags", &split_labels("cloud, Cloud, ,security"), 20),
            Ok(vec!["cloud".to_string(), "security".to_string()])
        );
        assert!(
            parse_contacts(&[Contact {
                name: "Ann".into(),
                email: "nope".into(),
                ..Default::default()
            }])
            .is_err()
        );
        assert!(
            parse_contacts(&[Contact {
                email: "a@b.io".into(),
                ..Default::default()
            }])
            .is_err()
        );
        assert_eq!(
            parse_contacts(&[Contact::default()]).map(|c| c.len()),
            Ok(0)
        );
        assert!(parse_tiers(&[]).is_err());
        assert_eq!(PartnerStatus::parse("At risk"), Ok(PartnerStatus::AtRisk));
        assert!(PartnerStatus::parse("gone").is_err());
    }
}
