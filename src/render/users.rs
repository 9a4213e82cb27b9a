//! Rows of the user administration table.

use crate::domain::Role;
use crate::domain::user::{Team, User};
use maud::{Markup, html};

/// Shown once after creating an account or resetting a password.
pub struct Notice {
    pub message: String,
    pub one_time_password: Option<String>,
}

impl Notice {
    pub fn created(u: &User, pw: Option<String>) -> Notice {
        Notice {
            message: format!("Account created for {} ({}).", u.name, u.email),
            one_time_password: pw,
        }
    }
    pub fn reset(u: &User, pw: Option<String>) -> Notice {
        Notice {
            message: format!(
                "Password reset for {}. Their open sessions have ended.",
                u.email
            ),
            one_time_password: pw,
        }
    }
}

fn status(u: &User) -> Markup {
    html! {
        @if u.disabled { span.badge.badge-muted { "Disabled" } }
        @else if u.must_change_password { span.badge.badge-warn { "Password not set" } }
        @else { span.badge.badge-ok { "Active" } }
    }
}

/// One user's row; `me` decides which controls are offered.
pub fn row(u: &User, teams: &[Team], me: &User, csrf: &str) -> Markup {
    let id = u.id.to_string();
    let is_me = u.id == me.id;
    let may_manage = me.role.may_assign(u.role, u.role) && !is_me;
    let team_name = u
        .team
        .and_then(|t| teams.iter().find(|x| x.id == t))
        .map(|t| t.name.as_str());
    html! {
        tr id={ "user-" (id) } {
            td data-label="User" {
                strong { (u.name) } @if is_me { " " span.badge { "you" } }
                br; small.muted { (u.email) }
            }
            td data-label="Role" {
                @if may_manage {
                    form.inline method="post" action={ "/admin/users/" (id) "/role" }
                        hx-post={ "/admin/users/" (id) "/role" } hx-target="closest tr" hx-swap="outerHTML" {
                        input type="hidden" name="_csrf" value=(csrf);
                        label.visually-hidden for={ "role-" (id) } { "Role of " (u.email) }
                        select id={ "role-" (id) } name="role" {
                            @for r in Role::ALL.iter().filter(|r| me.role.may_assign(u.role, **r)) {
                                option value=(r.as_str()) selected[*r == u.role] { (r.label()) }
                            }
                        }
                        button.btn.btn-small type="submit" { "Save" }
                    }
                } @else {
                    (u.role.label())
                }
            }
            td data-label="Team" {
                @if may_manage || me.role.has(crate::domain::Permission::UsersManage) {
                    form.inline method="post" action={ "/admin/users/" (id) "/team" }
                        hx-post={ "/admin/users/" (id) "/team" } hx-target="closest tr" hx-swap="outerHTML" {
                        input type="hidden" name="_csrf" value=(csrf);
                        label.visually-hidden for={ "team-" (id) } { "Team of " (u.email) }
                        select id={ "team-" (id) } name="team" {
                            option value="" selected[u.team.is_none()] { "No team" }
                            @for t in teams {
                                option value=(t.id.to_string()) selected[u.team == Some(t.id)] { (t.name) }
                            }
                        }
                        button.btn.btn-small type="submit" { "Save" }
                    }
                } @else {
                    (team_name.unwrap_or("—"))
                }
            }
            td data-label="Status" { (status(u)) }
            td data-label="Actions" {
                @if may_manage {
                    @let (verb, path) = if u.disabled { ("Enable", "enable") } else { ("Disable", "disable") };
                    form.inline method="post" action={ "/admin/users/" (id) "/" (path) }
                        hx-post={ "/admin/users/" (id) "/" (path) } hx-target="closest tr" hx-swap="outerHTML" {
                        input type="hidden" name="_csrf" value=(csrf);
                        button.btn.btn-small type="submit" { (verb) }
                    }
                    form.inline method="post" action={ "/admin/users/" (id) "/reset-password" } {
                        input type="hidden" name="_csrf" value=(csrf);
                        button.btn.btn-small type="submit" { "Reset password" }
                    }
                }
            }
        }
    }
}
