//! The Import page: upload a file (events JSONL, orders CSV, Shopify orders export) and watch
//! it load; and "Load demo data" for a first look. Both run as background jobs that store
//! through the ingest writer.

use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::error::{AppError, AppResult};
use crate::import::job::{JobState, NewJob};
use crate::import::{self, Format};
use crate::render;
use crate::store::orgs;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use tokio::io::AsyncWriteExt;

type Editor = Authz<perm::SalesEdit>;

#[derive(Template, WebTemplate)]
#[template(path = "pages/import.html")]
pub struct ImportPage {
    shell: Shell,
    jobs: Vec<JobState>,
    max_mb: u64,
    error: Option<String>,
}

async fn page(state: &AppState, a: &Editor, error: Option<String>) -> AppResult<ImportPage> {
    Ok(ImportPage {
        shell: shell(state, &a.principal, "Import", "/import").await?,
        jobs: state.jobs.list(a.user().org),
        max_mb: state.cfg.import.max_upload_mb,
        error,
    })
}

pub async fn import_page(State(state): State<AppState>, a: Editor) -> AppResult<ImportPage> {
    page(&state, &a, None).await
}

fn uploads_dir(state: &AppState) -> std::path::PathBuf {
    state.cfg.data.dir.join("imports")
}

async fn org_of(state: &AppState, a: &Editor) -> AppResult<crate::domain::org::Org> {
    let id = a.user().org;
    state
        .db(move |s| Ok(s.read(|t| orgs::get(t, id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))
}

/// The form's fields: format (`None`: guess), dry run, file name and bytes saved to `path`.
async fn receive(
    form: &mut Multipart,
    path: &std::path::Path,
) -> AppResult<(Option<Format>, bool, Option<String>, u64)> {
    let (mut format, mut dry_run, mut name, mut size) = (None, false, None, 0u64);
    let cut_off = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request(format!("The upload was cut off: {e}"))
    };
    let save = |e: std::io::Error| match e {
        e if crate::store::out_of_space(&e) => AppError::new(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "The disk is full, so the upload could not be saved; nothing was imported.",
        ),
        _ => AppError::internal(format!("saving the upload: {e}")),
    };
    while let Some(mut field) = form.next_field().await.map_err(cut_off)? {
        match field.name().unwrap_or("") {
            "format" => {
                let v = field.text().await.map_err(cut_off)?;
                if v != "auto" {
                    format = Some(Format::parse(&v).ok_or_else(|| {
                        AppError::validation("format", format!("must be {}", Format::NAMES))
                    })?);
                }
            }
            "dry_run" => dry_run = true,
            "file" => {
                name = field.file_name().map(str::to_string);
                let mut out = tokio::fs::File::create(path).await.map_err(save)?;
                while let Some(chunk) = field.chunk().await.map_err(cut_off)? {
                    size += chunk.len() as u64;
                    out.write_all(&chunk).await.map_err(save)?;
                }
                out.flush().await.map_err(save)?;
            }
            _ => {}
        }
    }
    Ok((format, dry_run, name, size))
}

/// Receive the upload into a file next to the data, then start the job.
pub async fn upload(
    State(state): State<AppState>,
    a: Editor,
    mut form: Multipart,
) -> AppResult<Response> {
    // An upload is written to the data disk: not into the space kept for the data.
    state.store.check_room()?;
    let dir = uploads_dir(&state);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AppError::internal(format!("creating {}: {e}", dir.display())))?;
    let id = ulid::Ulid::generate().to_string();
    let path = dir.join(format!("{id}.upload"));
    let (format, dry_run, name, size) = match receive(&mut form, &path).await {
        Ok(r) => r,
        Err(e) => {
            // A cut-off or refused upload leaves nothing behind.
            tokio::fs::remove_file(&path).await.ok();
            return Err(e);
        }
    };
    let name = name.filter(|_| size > 0);
    let Some(name) = name else {
        tokio::fs::remove_file(&path).await.ok();
        let p = page(&state, &a, Some("Choose a file to import.".into())).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, p).into_response());
    };
    let org = org_of(&state, &a).await?;
    let format = match format {
        Some(f) => f,
        None => {
            let p = path.clone();
            let first = tokio::task::spawn_blocking(move || import::run::first_line(&p)).await;
            Format::guess(&first.ok().and_then(Result::ok).unwrap_or_default())
        }
    };
    let upload = path.clone();
    let rates = state.cfg.exchange_rates.clone();
    let oldest = state.cfg.oldest_event(state.clock.now());
    let job = state.jobs.start(
        NewJob {
            org: org.id,
            title: format!("{name} ({})", format.name()),
            total: size,
            dry_run,
            errors_file: dir.join(format!("{id}.errors.csv")),
        },
        state.writer.clone(),
        move |sink| {
            let result = std::fs::File::open(&upload)
                .map_err(import::ImportError::from)
                .and_then(|f| {
                    let pricing = crate::domain::events::Intake {
                        currency: &org.currency,
                        rates: &rates,
                        oldest,
                    };
                    import::read(format, f, &pricing, 0, 5_000, sink)
                });
            std::fs::remove_file(&upload).ok();
            result.map_err(anyhow::Error::from)
        },
    );
    Ok(Redirect::to(&format!("/import/jobs/{job}")).into_response())
}

/// "Load demo data": a year of generated sales for this org.
pub async fn load_demo(State(state): State<AppState>, a: Editor) -> AppResult<Response> {
    use crate::ingest::demo;
    let org = org_of(&state, &a).await?;
    let tz = org.tz();
    let spec = demo::Spec {
        events: state.cfg.import.demo_events.clamp(1, 10_000_000),
        days: 365,
        seed: 42,
        last_day: org.today(state.clock.now()),
    };
    let total = spec.events + 16 * u64::from(spec.days);
    // A pipeline to look at as well (quick: written at once, before the sales job starts).
    // ...made only by someone who may edit every deal (they belong to the whole team).
    let may = a
        .user()
        .role
        .scope_of(crate::domain::Permission::PipelineEdit)
        == Some(crate::domain::Scope::Org);
    let deals = if may { state.cfg.import.demo_deals } else { 0 };
    let (o, now) = (org.clone(), state.clock.now());
    state
        .db_pipeline(org.id, move |s| {
            crate::pipeline::load_demo(s, &o, deals, now)
        })
        .await?;
    let id = ulid::Ulid::generate().to_string();
    let job = state.jobs.start(
        NewJob {
            org: org.id,
            title: "Demo data: a year of sales".into(),
            total,
            dry_run: false,
            errors_file: uploads_dir(&state).join(format!("{id}.errors.csv")),
        },
        state.writer.clone(),
        move |sink| {
            let mut done = 0u64;
            demo::generate(&spec, &tz, 5_000, |events| {
                done += events.len() as u64;
                sink(import::Chunk {
                    rows: events.len() as u64,
                    bytes: done,
                    events,
                    ..Default::default()
                })
            })?;
            Ok(())
        },
    );
    Ok(Redirect::to(&format!("/import/jobs/{job}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/import_job.html")]
pub struct JobPage {
    shell: Shell,
    panel: String,
}

fn job_of(state: &AppState, a: &Editor, id: &str) -> AppResult<JobState> {
    state
        .jobs
        .get(a.user().org, id)
        .ok_or_else(|| AppError::not_found("Import"))
}

pub async fn job_page(
    State(state): State<AppState>,
    a: Editor,
    Path(id): Path<String>,
) -> AppResult<JobPage> {
    let j = job_of(&state, &a, &id)?;
    Ok(JobPage {
        shell: shell(&state, &a.principal, "Import", "/import").await?,
        panel: render::import::progress(&j).into_string(),
    })
}

pub async fn job_progress(
    State(state): State<AppState>,
    a: Editor,
    Path(id): Path<String>,
) -> AppResult<maud::Markup> {
    Ok(render::import::progress(&job_of(&state, &a, &id)?))
}

pub async fn job_errors(
    State(state): State<AppState>,
    a: Editor,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let j = job_of(&state, &a, &id)?;
    let path = j
        .errors_file
        .ok_or_else(|| AppError::not_found("Error report"))?;
    let body = tokio::fs::read(&path)
        .await
        .map_err(|_| AppError::not_found("Error report"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{id}-errors.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}
