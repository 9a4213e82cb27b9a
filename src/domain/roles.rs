//! Roles and permissions as data. Both origin documents' role sets (VP / Sales Manager /
//! Partnership Manager, and admin / manager / analyst / viewer) map onto one list of
//! permissions, each granted with a scope. Handlers never compare roles: they ask an extractor
//! for a permission and get back the scope they hold it at.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How far a granted permission reaches.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Records the user owns.
    Own,
    /// Records of the user's team (the team they manage or belong to).
    Team,
    /// Every record of the organization.
    Org,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::Team => "team",
            Scope::Org => "org",
        }
    }
}

macro_rules! enum_with_names {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal : $desc:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        pub enum $name { $( #[serde(rename = $text)] $variant ),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn description(self) -> &'static str {
                match self { $($name::$variant => $desc),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let s = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| {
                        let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("`{s}` is not one of: {}", names.join(", "))
                    })
            }
        }
    };
}

enum_with_names!(
    /// A role a user holds in their organization.
    Role {
        Owner => "owner": "Owns the organization: everything an admin can do, and manages other owners and admins.",
        Admin => "admin": "Runs the organization: users, integrations and all data.",
        Vp => "vp": "VP of sales or partnerships: sees and edits everything in the business, no user admin.",
        Manager => "manager": "Sales manager: runs a team, its pipeline, goals and status reports.",
        PartnershipManager => "partnership_manager": "Manages their own ISV partners and opportunities.",
        Analyst => "analyst": "Reads everything, runs advanced analytics and exports.",
        Viewer => "viewer": "Read-only access to dashboards, partners and pipeline.",
    }
);

enum_with_names!(
    /// Something a user may do.
    Permission {
        SalesView => "sales.view": "See sales dashboards, customers and products.",
        SalesEdit => "sales.edit": "Import and correct sales data.",
        AnalyticsAdvanced => "analytics.advanced": "Forecasts, anomaly detection and custom analysis.",
        ReportsExport => "reports.export": "Export reports and data as CSV.",
        UsersManage => "users.manage": "Add users, change roles, disable accounts, manage teams.",
        IntegrationsManage => "integrations.manage": "Configure API keys, webhooks and CRM sync.",
        PartnersView => "partners.view": "See ISV partners and their health.",
        PartnersEdit => "partners.edit": "Create and change partners.",
        PipelineView => "pipeline.view": "See opportunities and the forecast.",
        PipelineEdit => "pipeline.edit": "Create and move opportunities.",
        StatusSubmit => "status.submit": "Submit weekly status reports.",
        StatusViewTeam => "status.view_team": "Read the team's weekly status roll-up.",
        GoalsManage => "goals.manage": "Set quarterly goals and quotas.",
        CommissionsView => "commissions.view": "See commission statements.",
        CommissionsManage => "commissions.manage": "Define commission structures and rules.",
        AlertsManage => "alerts.manage": "Create and change alerts.",
        DashboardsManage => "dashboards.manage": "Create and share custom dashboards.",
        AuditView => "audit.view": "Read the audit log.",
    }
);

use Permission as P;
use Scope::{Org, Own, Team};

/// Everything at org scope.
const ALL_ORG: &[(Permission, Scope)] = &[
    (P::SalesView, Org),
    (P::SalesEdit, Org),
    (P::AnalyticsAdvanced, Org),
    (P::ReportsExport, Org),
    (P::UsersManage, Org),
    (P::IntegrationsManage, Org),
    (P::PartnersView, Org),
    (P::PartnersEdit, Org),
    (P::PipelineView, Org),
    (P::PipelineEdit, Org),
    (P::StatusSubmit, Own),
    (P::StatusViewTeam, Org),
    (P::GoalsManage, Org),
    (P::CommissionsView, Org),
    (P::CommissionsManage, Org),
    (P::AlertsManage, Org),
    (P::DashboardsManage, Org),
    (P::AuditView, Org),
];

const VP: &[(Permission, Scope)] = &[
    (P::SalesView, Org),
    (P::SalesEdit, Org),
    (P::AnalyticsAdvanced, Org),
    (P::ReportsExport, Org),
    (P::PartnersView, Org),
    (P::PartnersEdit, Org),
    (P::PipelineView, Org),
    (P::PipelineEdit, Org),
    (P::StatusSubmit, Own),
    (P::StatusViewTeam, Org),
    (P::GoalsManage, Org),
    (P::CommissionsView, Org),
    (P::CommissionsManage, Org),
    (P::AlertsManage, Org),
    (P::DashboardsManage, Org),
    (P::AuditView, Org),
];

const MANAGER: &[(Permission, Scope)] = &[
    (P::SalesView, Org),
    (P::SalesEdit, Org),
    (P::AnalyticsAdvanced, Org),
    (P::ReportsExport, Org),
    (P::IntegrationsManage, Org),
    (P::PartnersView, Org),
    (P::PartnersEdit, Team),
    (P::PipelineView, Team),
    (P::PipelineEdit, Team),
    (P::StatusSubmit, Own),
    (P::StatusViewTeam, Team),
    (P::GoalsManage, Team),
    (P::CommissionsView, Team),
    (P::AlertsManage, Org),
    (P::DashboardsManage, Org),
];

const PARTNERSHIP_MANAGER: &[(Permission, Scope)] = &[
    (P::SalesView, Org),
    (P::PartnersView, Org),
    (P::PartnersEdit, Own),
    (P::PipelineView, Own),
    (P::PipelineEdit, Own),
    (P::StatusSubmit, Own),
    (P::CommissionsView, Own),
    (P::DashboardsManage, Own),
];

const ANALYST: &[(Permission, Scope)] = &[
    (P::SalesView, Org),
    (P::AnalyticsAdvanced, Org),
    (P::ReportsExport, Org),
    (P::PartnersView, Org),
    (P::PipelineView, Org),
    (P::DashboardsManage, Own),
];

const VIEWER: &[(Permission, Scope)] = &[
    (P::SalesView, Org),
    (P::PartnersView, Org),
    (P::PipelineView, Org),
];

impl Role {
    /// The permissions this role grants, each with its scope.
    pub fn grants(self) -> &'static [(Permission, Scope)] {
        match self {
            Role::Owner | Role::Admin => ALL_ORG,
            Role::Vp => VP,
            Role::Manager => MANAGER,
            Role::PartnershipManager => PARTNERSHIP_MANAGER,
            Role::Analyst => ANALYST,
            Role::Viewer => VIEWER,
        }
    }

    /// The scope at which this role holds `perm`, if at all.
    pub fn scope_of(self, perm: Permission) -> Option<Scope> {
        self.grants()
            .iter()
            .find(|(p, _)| *p == perm)
            .map(|(_, s)| *s)
    }

    pub fn has(self, perm: Permission) -> bool {
        self.scope_of(perm).is_some()
    }

    /// Whether `self` may give `target` (currently holding `from`) the role `to`, or disable them.
    /// Only owners create, change or remove owners and admins; nobody changes their own role.
    pub fn may_assign(self, from: Role, to: Role) -> bool {
        if !self.has(Permission::UsersManage) {
            return false;
        }
        let privileged = |r: Role| matches!(r, Role::Owner | Role::Admin);
        if privileged(from) || privileged(to) {
            return self == Role::Owner;
        }
        true
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Vp => "VP",
            Role::Manager => "Sales manager",
            Role::PartnershipManager => "Partnership manager",
            Role::Analyst => "Analyst",
            Role::Viewer => "Viewer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_can_view_sales_and_only_admins_manage_users() {
        for r in Role::ALL {
            assert!(r.has(P::SalesView), "{r}");
            assert_eq!(
                r.has(P::UsersManage),
                matches!(r, Role::Owner | Role::Admin),
                "{r}"
            );
        }
    }

    #[test]
    fn seed_document_permission_matrix_holds() {
        // From the analytics origin document: which roles hold which permission.
        let expect: &[(Permission, &[Role])] = &[
            (
                P::SalesEdit,
                &[Role::Owner, Role::Admin, Role::Vp, Role::Manager],
            ),
            (
                P::AnalyticsAdvanced,
                &[
                    Role::Owner,
                    Role::Admin,
                    Role::Vp,
                    Role::Manager,
                    Role::Analyst,
                ],
            ),
            (
                P::ReportsExport,
                &[
                    Role::Owner,
                    Role::Admin,
                    Role::Vp,
                    Role::Manager,
                    Role::Analyst,
                ],
            ),
            (
                P::IntegrationsManage,
                &[Role::Owner, Role::Admin, Role::Manager],
            ),
        ];
        for (perm, roles) in expect {
            for r in Role::ALL {
                assert_eq!(r.has(*perm), roles.contains(r), "{r} {perm}");
            }
        }
    }

    #[test]
    fn scopes_narrow_for_partnership_roles() {
        assert_eq!(
            Role::PartnershipManager.scope_of(P::PipelineEdit),
            Some(Scope::Own)
        );
        assert_eq!(Role::Manager.scope_of(P::PipelineEdit), Some(Scope::Team));
        assert_eq!(Role::Vp.scope_of(P::PipelineEdit), Some(Scope::Org));
        assert_eq!(Role::Viewer.scope_of(P::PipelineEdit), None);
    }

    #[test]
    fn only_owners_touch_privileged_roles() {
        assert!(Role::Owner.may_assign(Role::Viewer, Role::Admin));
        assert!(!Role::Admin.may_assign(Role::Viewer, Role::Admin));
        assert!(!Role::Admin.may_assign(Role::Owner, Role::Viewer));
        assert!(Role::Admin.may_assign(Role::Viewer, Role::Manager));
        assert!(!Role::Vp.may_assign(Role::Viewer, Role::Analyst));
    }

    #[test]
    fn names_parse_case_insensitively_and_reject_unknown() {
        assert_eq!(
            "Partnership_Manager".parse::<Role>(),
            Ok(Role::PartnershipManager)
        );
        assert!("boss".parse::<Role>().unwrap_err().contains("owner, admin"));
        assert_eq!("audit.view".parse::<Permission>(), Ok(P::AuditView));
    }
}
