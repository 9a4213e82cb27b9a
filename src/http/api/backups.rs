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
    let dir = state.cfg.backups_dir();
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
    responses((status = 201, description = "Written and checked", body = Made),
        (status = 409, description = "A backup is being written", body = crate::http::openapi::ErrorBody),
        (status = 507, description = "The disk is too full for a backup", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    op: Operator,
) -> AppResult<(StatusCode, Json<Made>)> {
    let slot = state
        .backups
        .claim()
        .map_err(|_| crate::http::pages::backups_busy())?;
    let (st, user) = (state.clone(), op.0.user().clone());
    // made and recorded in one blocking task: both happen even if the client goes away
    let made = tokio::task::spawn_blocking(move || {
        let made = crate::backups::make(&st, slot, false);
        let file = match &made.result {
            Ok((f, _)) => f.clone(),
            Err(e) => format!("failed: {e}"),
        };
        if let Err(e) = crate::backups::record(&st.store, &user, "backup.create", file, made.at) {
            tracing::warn!(error = %e, "could not record a backup in the audit log");
        }
        made
    })
    .await?;
    let (name, _) = match made.result {
        Ok(r) => r,
        Err(_) if made.disk_full => {
            return Err(AppError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "The disk is too full for a backup; nothing was written.",
            ));
        }
        Err(e) => return Err(AppError::internal(format!("backup failed: {e}"))),
    };
    let dir = state.cfg.backups_dir();
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
            check: made.check.map(checked),
        }),
    ))
}
