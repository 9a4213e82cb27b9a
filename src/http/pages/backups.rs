//! `/admin/backups`: the backups the server keeps, the last result and check, back up now,
//! download and check a file. Only for the installation's operators (see [`crate::backups`]).

use super::{SectionPage, shell};
use crate::app::AppState;
use crate::auth::Operator;
use crate::error::{AppError, AppResult};
use crate::render::backups as r;
use crate::store::orgs;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use tower::ServiceExt;

/// Record what an operator did with backups (a failure to record is logged, not shown).
pub(crate) async fn record(state: &AppState, op: &Operator, action: &'static str, file: String) {
    let (user, now) = (op.0.user().clone(), state.clock.now());
    let r = state
        .db(move |s| Ok(crate::backups::record(s, &user, action, file, now)?))
        .await;
    if let Err(e) = r {
        tracing::warn!(
            code = e.code,
            action,
            "could not record a backup action in the audit log"
        );
    }
}

pub async fn backups_page(State(state): State<AppState>, op: Operator) -> AppResult<Response> {
    let org = op.0.user().org;
    let tz = state
        .db(move |s| Ok(s.read(|t| orgs::get(t, org))?))
        .await?
        .map(|o| o.tz())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let dir = state.cfg.backups_dir();
    let d = dir.clone();
    let files = tokio::task::spawn_blocking(move || crate::backups::listing(&d)).await?;
    let every = state.cfg.backup.every;
    let csrf = crate::auth::csrf::token(state.keys.secret(), op.0.0.session);
    let body = r::page(&r::View {
        csrf: &csrf,
        dir: dir.display().to_string(),
        every: (!every.is_zero()).then(|| humantime::format_duration(every).to_string()),
        keep: state.cfg.backup.keep,
        running: state.backups.running(),
        last: state.backups.last(),
        last_check: state.backups.last_check(),
        files,
        free: crate::store::free_bytes(&dir).or_else(|| state.store.free_space()),
        tz,
    });
    Ok(SectionPage {
        shell: shell(&state, &op.0, "Backups", "/admin/backups").await?,
        heading: "Backups".into(),
        back: None,
        actions: Vec::new(),
        error: None,
        body: body.into_string(),
    }
    .into_response())
}

/// Start a backup in the background and show the page, which says one is being written
/// (reload for the result). The action is recorded whatever becomes of the request.
pub async fn backup_now(State(state): State<AppState>, op: Operator) -> AppResult<Response> {
    let slot = state.backups.claim().map_err(|_| busy())?;
    let (st, user) = (state.clone(), op.0.user().clone());
    tokio::task::spawn_blocking(move || {
        let o = crate::backups::make(&st, slot, false);
        let file = o
            .result
            .map(|(f, _)| f)
            .unwrap_or_else(|e| format!("failed: {e}"));
        if let Err(e) = crate::backups::record(&st.store, &user, "backup.create", file, o.at) {
            tracing::warn!(error = %e, "could not record a backup in the audit log");
        }
    });
    Ok(Redirect::to("/admin/backups").into_response())
}

pub(crate) fn busy() -> AppError {
    AppError::conflict(
        None,
        "A backup is being written right now; its result will show here when it is done.",
    )
}

fn backup_path(state: &AppState, name: &str) -> AppResult<std::path::PathBuf> {
    crate::backups::find(&state.cfg.backups_dir(), name)
        .ok_or_else(|| AppError::not_found("Backup"))
}

/// The backup file itself (streamed; resumable with ranges).
pub async fn download(
    State(state): State<AppState>,
    op: Operator,
    Path(name): Path<String>,
    req: Request,
) -> AppResult<Response> {
    let path = backup_path(&state, &name)?;
    record(&state, &op, "backup.download", name.clone()).await;
    let mut res = tower_http::services::ServeFile::new_with_mime(
        &path,
        &"application/octet-stream"
            .parse()
            .map_err(AppError::internal)?,
    )
    .oneshot(req)
    .await
    .map_err(AppError::internal)?
    .into_response();
    if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
        res.headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Read a backup back whole and check it, then show the page with the result.
pub async fn check(
    State(state): State<AppState>,
    op: Operator,
    Path(name): Path<String>,
) -> AppResult<Response> {
    let path = backup_path(&state, &name)?;
    // a backup being written may remove the oldest file meanwhile
    if state.backups.running() {
        return Err(busy());
    }
    record(&state, &op, "backup.check", name).await;
    let st = state.clone();
    tokio::task::spawn_blocking(move || crate::backups::check(&st, &path)).await?;
    Ok(Redirect::to("/admin/backups").into_response())
}
