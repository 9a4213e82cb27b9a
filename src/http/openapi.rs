//! The OpenAPI 3.1 description of `/api/v1`, served at `/api/openapi.json` and browsable at
//! `/api/docs` (Swagger UI, compiled into the binary).
//!
//! Each handler carries its own `#[utoipa::path]`; `api::routes` registers handler and spec
//! entry together, so a route cannot exist without its documentation. This module adds what
//! every operation shares: the security schemes, the error envelope and the error answers.

use crate::domain::money::{Currency, MoneyInput};
use crate::domain::{
    ApiKeyId, NoteId, OpportunityId, OrgId, PartnerId, PipelineId, StageId, TeamId, Ts, UserId,
};
use crate::error::AppError;
use std::borrow::Cow;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A named string schema for a type that serializes as text.
macro_rules! text_schema {
    ($ty:ty, $desc:literal, $example:literal $(, $format:expr)?) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($desc))
                    .examples([$example])
                    $(.format(Some($format)))?
                    .into()
            }
        }
        impl ToSchema for $ty {}
    };
}

text_schema!(UserId, "A user id (ULID).", "01KAK7D2Y3N9Q8T0V4W6X8Z0AB");
text_schema!(TeamId, "A team id (ULID).", "01KAK7D2Y3N9Q8T0V4W6X8Z0AC");
text_schema!(
    ApiKeyId,
    "An API key id (ULID).",
    "01KAK7D2Y3N9Q8T0V4W6X8Z0AD"
);
text_schema!(
    PipelineId,
    "A pipeline id (ULID).",
    "01KAK7D2Y3N9Q8T0V4W6X8Z0AE"
);
text_schema!(StageId, "A stage id (ULID).", "01KAK7D2Y3N9Q8T0V4W6X8Z0AF");
text_schema!(
    OpportunityId,
    "An opportunity id (ULID).",
    "01KAK7D2Y3N9Q8T0V4W6X8Z0AG"
);
text_schema!(
    PartnerId,
    "A partner id (ULID).",
    "01KAK7D2Y3N9Q8T0V4W6X8Z0AH"
);
text_schema!(NoteId, "A note id (ULID).", "01KAK7D2Y3N9Q8T0V4W6X8Z0AJ");
text_schema!(
    Ts,
    "An instant in UTC (RFC 3339).",
    "2026-11-20T14:03:00Z",
    SchemaFormat::KnownFormat(KnownFormat::DateTime)
);
text_schema!(Currency, "An ISO 4217 currency code.", "USD");

impl PartialSchema for OrgId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("An organization id."))
            .into()
    }
}
impl ToSchema for OrgId {}

impl PartialSchema for MoneyInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^-?\d+(\.\d+)?$"))
                    .examples(["19.99"]),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "An amount in major units (e.g. dollars): a decimal string (exact) or a number. \
                 At most as many decimals as the currency has.",
            ))
            .into()
    }
}
impl ToSchema for MoneyInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Money")
    }
}

/// `{"error": {...}}`: the body of every error answer.
pub struct ErrorBody;

impl PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property("error", Ref::from_schema_name("ErrorDetail"))
            .required("error")
            .into()
    }
}
impl ToSchema for ErrorBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Error")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("ErrorDetail".into(), AppError::schema()));
    }
}

const DESCRIPTION: &str = "\
Sales events in, KPIs out. Every answer is JSON.

**Authentication.** `POST /auth/login` answers an access token (send it as \
`Authorization: Bearer …`) and a refresh token (use it once at `/auth/refresh` for a new \
pair). Machines that only send events use an org API key (`sbk_…`, created on the \
Integrations page or at `/api-keys`) as a Bearer token or in `X-Api-Key`.

**Errors** answer `{\"error\": {\"code\", \"message\", \"field\"}}` with a stable `code`: \
`bad_request` (400), `unauthorized` (401), `forbidden` (403), `not_found` (404), \
`conflict` (409), `validation` (422, `field` names the input), `rate_limited` (429, with \
`Retry-After`), `unavailable` (503, with `Retry-After`), `storage_full` (507, the data disk \
is full: nothing of the request was saved), `storage_unavailable` (503, with `Retry-After`: \
the data file is being reopened after a disk error), `internal` / `storage` (500).

**Money** in answers is in major units of the org's currency (e.g. dollars) as numbers; \
events send it as decimal strings or numbers and it is stored exactly in minor units.";

/// Fill in what every operation shares. `spec` comes from the routers' annotations.
pub fn finish(mut spec: OpenApi) -> OpenApi {
    spec.info = InfoBuilder::new()
        .title("salesboard API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .build();
    let components = spec.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT or sbk_ API key")
                .build(),
        ),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
    );
    let mut shared = Vec::new();
    ErrorBody::schemas(&mut shared);
    shared.push((ErrorBody::name().into_owned(), ErrorBody::schema()));
    for (name, schema) in shared {
        components.schemas.insert(name, schema);
    }
    spec.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);

    for (path, item) in spec.paths.paths.iter_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            // `security()` on an operation (an empty list) means "no sign-in needed".
            let public = op.security.as_ref().is_some_and(|s| s.is_empty());
            let mut add = |status: &str, why: &str| {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(why));
            };
            if public {
                add("401", "Wrong credentials");
                add(
                    "429",
                    "Too many attempts; retry after `Retry-After` seconds",
                );
            } else {
                add("401", "Not signed in, or the token expired or was revoked");
                add("403", "Signed in, but the role lacks the permission");
            }
            if op.request_body.is_some() {
                add("400", "The body is not valid JSON or has unknown fields");
            }
            if op.request_body.is_some() || op.parameters.is_some() {
                add("422", "An input is invalid; `field` names it");
            }
            if path.contains('{') {
                add("404", "No such record in this organization");
            }
            add(
                "500",
                "A bug or a storage failure (details in the server log)",
            );
        }
    }
    spec.tags = Some(
        [
            ("auth", "Sign in, tokens, your own account"),
            ("events", "Sales, refunds, customers and traffic in"),
            ("metrics", "KPIs over the rollups"),
            ("catalog", "Customers and products"),
            (
                "search",
                "Find partners, opportunities, customers, products and users",
            ),
            ("api keys", "Keys for machine clients"),
            ("admin", "Organization, users, teams, roles, audit log"),
        ]
        .into_iter()
        .map(|(n, d)| {
            utoipa::openapi::tag::TagBuilder::new()
                .name(n)
                .description(Some(d))
                .build()
        })
        .collect(),
    );
    spec
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
        .into()
}
