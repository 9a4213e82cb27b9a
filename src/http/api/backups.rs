//! Backups in the server's backups directory, for the installation's operators.

use super::Json;
use crate::app::AppState;
use crate::auth::Operator;
use crate::error::{AppError, AppResult};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct BackupFile {
    /// The file name; download it from `/admin/backups/{name}` (signed in as an operator).
    name: String,
    bytes: u64,
    /// When it was made (RFC 3339, UTC); absent when its header is unreadable.
    created_at: Option<String>,
    schema_version: Option<u32>,
    records: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCheck {
    at: crate::domain::Ts,
    file: String,
    passed: Vec<String>,
    problems: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Backups {
    /// Newest first.
    items: Vec<BackupFile>,
    /// The last check of a backup since the server started (each new backup is checked).
    last_check: Option<BackupCheck>,
    running: bool,
}

fn file(l: crate::backups::Listed) -> BackupFile {
    BackupFile {
        name: l.name,
        bytes: l.bytes,
        created_at: l.header.as_ref().map(|h| h.created_at.clone()),
        schema_version: l.header.as_ref().map(|h| h.schema_version),
        records: l.header.as_ref().map(|h| h.records()),
    }
}

fn checked(c: crate::backups::Checked) -> BackupCheck {
    BackupCheck {
        at: c.at,
        file: c.file,
        passed: c.passed,
        problems: c.problems,
    }
}

/// The backups in the server's backups directory (operators: owners of the first organization).
#[utoipa::path(get, path = "/admin/backups", tag = "admin",
    responses((status = 200, description = "The backups", body = Backups)))]
pub async fn list(State(state): State<AppState>, _op: Operator) -> AppResult<Json<Backups>> {
    let dir = state.cfg.backup.dir(&state.cfg.data.dir);
    let files = tokio::task::spawn_blocking(move || crate::backups::listing(&dir)).await?;
    Ok(Json(Backups {
        items: files.into_iter().map(file).collect(),
        last_check: state.backups.last_check().map(checked),
        running: state.backups.running(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Made {
    file: BackupFile,
    seconds: f64,
    /// The check of the new backup.
    check: Option<BackupCheck>,
}

/// Write a backup now (a consistent snapshot; serving and saving go on), then check it.
/// 409 while another backup is being written.
#[utoipa::path(post, path = "/admin/backups", tag = "admin",
    responses((status = 201, description = "Written and checked", body = Made)))]
pub async fn create(
    State(state): State<AppState>,
    op: Operator,
) -> AppResult<(StatusCode, Json<Made>)> {
    let st = state.clone();
    let made = tokio::task::spawn_blocking(move || crate::backups::make(&st, false))
        .await?
        .map_err(|_| AppError::conflict(None, "A backup is being written right now."))?;
    let (name, _) = made
        .result
        .map_err(|e| AppError::internal(format!("backup failed: {e}")))?;
    crate::http::pages::record_backup(&state, &op, "backup.create", name.clone()).await;
    let dir = state.cfg.backup.dir(&state.cfg.data.dir);
    let listed = tokio::task::spawn_blocking(move || crate::backups::listing(&dir)).await?;
    let f = listed
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(|| AppError::internal("the new backup is not in the folder"))?;
    Ok((
        StatusCode::CREATED,
        Json(Made {
            file: file(f),
            seconds: made.secs,
            check: state.backups.last_check().map(checked),
        }),
    ))
}
