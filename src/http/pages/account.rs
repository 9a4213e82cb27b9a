//! Sign in, sign out, and choosing a new password.

use super::{PublicShell, Shell, shell};
use crate::app::AppState;
use crate::auth::{Session, accounts, sessions};
use crate::error::{AppError, AppResult};
use crate::http::{ClientIp, cookies, safe_next};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    shell: PublicShell,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(Query(q): Query<NextQuery>) -> LoginPage {
    LoginPage {
        shell: PublicShell {
            title: "Sign in".into(),
        },
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let again = |status: StatusCode, msg: String| {
        let page = LoginPage {
            shell: PublicShell {
                title: "Sign in".into(),
            },
            email: f.email.clone(),
            next: next.clone(),
            error: Some(msg),
        };
        (status, page).into_response()
    };
    if let Err(wait) = state.limits.login(ip, &f.email) {
        let mut r = again(
            StatusCode::TOO_MANY_REQUESTS,
            AppError::rate_limited(wait).message,
        );
        r.headers_mut().insert(header::RETRY_AFTER, wait.into());
        return r;
    }
    let (keys, cfg, now) = (state.keys.clone(), state.cfg.clone(), state.clock.now());
    let (email, password) = (f.email.clone(), f.password.clone());
    let res = state
        .db(move |s| sessions::login(s, &keys, &cfg.auth, now, &email, &password))
        .await;
    match res {
        Ok(issued) => {
            let to = if issued.user.must_change_password {
                "/account/password".to_string()
            } else {
                next.clone()
            };
            let mut r = Redirect::to(&to).into_response();
            for c in cookies::for_session(&state.cfg, &issued) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(e) if e.code == "invalid_credentials" => again(StatusCode::UNAUTHORIZED, e.message),
        Err(e) => e.into_response(),
    }
}

pub async fn logout(State(state): State<AppState>, session: Result<Session, AppError>) -> Response {
    if let Ok(s) = session {
        let now = state.clock.now();
        if let Err(e) = state
            .db(move |st| sessions::logout(st, now, s.session))
            .await
        {
            return e.into_response();
        }
    }
    let mut r = Redirect::to("/login").into_response();
    for c in cookies::clear_session(&state.cfg) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/password.html")]
pub struct PasswordPage {
    shell: Shell,
    forced: bool,
    error: Option<String>,
    min_chars: usize,
}

pub async fn password_page(State(state): State<AppState>, s: Session) -> AppResult<PasswordPage> {
    let forced = s.user.must_change_password;
    Ok(PasswordPage {
        shell: shell(
            &state,
            &crate::auth::Principal(s),
            "Choose a new password",
            "",
        )
        .await?,
        forced,
        error: None,
        min_chars: crate::domain::user::MIN_PASSWORD_CHARS,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    s: Session,
    Form(f): Form<PasswordForm>,
) -> AppResult<Response> {
    let result = if f.new_password != f.confirm_password {
        Err(AppError::validation(
            "confirm_password",
            "does not match the new password",
        ))
    } else {
        let (user, keys, cfg, now) = (
            s.user.clone(),
            state.keys.clone(),
            state.cfg.clone(),
            state.clock.now(),
        );
        state
            .db(move |st| {
                // Every old session ends; this one gets a new session, in the same transaction.
                accounts::change_own_password(
                    st,
                    &user,
                    &f.current_password,
                    &f.new_password,
                    now,
                    |txn, u| sessions::open_family(txn, &keys, &cfg.auth, u, now),
                )
            })
            .await
    };
    match result {
        Ok(issued) => {
            let mut r = Redirect::to("/").into_response();
            for c in cookies::for_session(&state.cfg, &issued) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            Ok(r)
        }
        Err(e) if e.code == "validation" => {
            let forced = s.user.must_change_password;
            let page = PasswordPage {
                shell: shell(
                    &state,
                    &crate::auth::Principal(s),
                    "Choose a new password",
                    "",
                )
                .await?,
                forced,
                error: Some(e.message),
                min_chars: crate::domain::user::MIN_PASSWORD_CHARS,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}
