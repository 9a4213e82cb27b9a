//! All settings, with every default in one place. Precedence: defaults < TOML file <
//! `SALESBOARD_SECTION__KEY` environment variables < command-line flags. Unknown keys and bad
//! values are rejected at start with the key's name and what was expected.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub data: DataConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub ingest: IngestConfig,
    pub analytics: AnalyticsConfig,
    pub live: LiveConfig,
    pub search: SearchConfig,
    pub backup: BackupConfig,
    pub audit: AuditConfig,
    pub import: ImportConfig,
    /// `"EUR/USD" = "1.085"`: 1 EUR is worth 1.085 USD. Events in a currency other than their
    /// organization's are converted at these rates (and refused without one).
    pub exchange_rates: crate::domain::money::Rates,
    pub log: LogConfig,
    pub bootstrap: BootstrapConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Mark cookies `Secure` and use the `__Host-` prefix. Default: on when TLS is configured.
    /// Turn on when a TLS-terminating proxy sits in front.
    pub secure_cookies: Option<bool>,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy you control).
    pub trust_proxy_headers: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// A request taking longer than this is answered with 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long in-flight requests may take to finish on shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Directory holding `salesboard.redb`, the JWT secret and the search index.
    pub dir: PathBuf,
    /// Memory for redb's page cache, in MiB (the largest part of the server's memory use).
    pub cache_mb: u64,
    /// Delete raw sales events older than this many days (rollups, customer and product
    /// figures stay). 0 keeps them forever.
    pub keep_raw_events_days: u32,
    /// Free disk space to keep, in MiB: sales ingest and imports are refused (507
    /// `storage_full`) while the disk holding the data file has less than this free, every other
    /// write below a quarter of it, so the disk never fills under the storage engine and reads
    /// go on. 0 turns the check off.
    pub min_free_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of an access token (JWT).
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Lifetime of a login session's refresh token family.
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// Browser only: parallel requests that race to rotate the same refresh cookie within this
    /// window are not treated as token theft. The API endpoint never uses a grace window.
    #[serde(with = "humantime_serde")]
    pub refresh_reuse_grace: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Login attempts per minute from one client address.
    pub login_per_ip_per_minute: u32,
    /// Login attempts per minute for one account name (existing or not).
    pub login_per_account_per_minute: u32,
    /// Token refreshes per minute from one client address.
    pub refresh_per_ip_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Most events accepted in one `POST /api/v1/events` request.
    pub max_events_per_request: usize,
    /// Requests that may wait for the writer; beyond this the API answers 503 + Retry-After.
    pub queue_requests: usize,
    /// Most events merged into one durable commit.
    pub max_events_per_commit: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Memory for cached KPI answers, in MiB. Answers are keyed by the org's data version, so
    /// a new event is reflected on the next read; 0 turns the cache off.
    pub cache_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// How often open dashboards are brought up to date after new data (each changed view is
    /// rendered once per tick, however many people watch it).
    #[serde(with = "humantime_serde")]
    pub tick: Duration,
    /// Updates a slow browser may fall behind by before it is told to reload instead.
    pub client_buffer: usize,
    /// Keep-alive comments on idle streams (for proxies that close quiet connections).
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Memory the index writer may buffer before it writes a segment, in MiB (at least 15 per
    /// indexing thread; two threads from 30).
    pub writer_mb: u64,
    /// Least time between two index commits: changes arriving meanwhile go in one commit.
    /// A change is searchable about this long after it is saved.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Write a backup this often while the server runs ("6h", "1d"); "0s" turns scheduled
    /// backups off.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// Scheduled backups kept (the oldest beyond this are removed).
    pub keep: usize,
    /// Where scheduled backups go (default: `backups` in the data directory).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Remove audit records older than this many days (checked hourly); 0 keeps them forever.
    /// The chain stays checkable: it goes on from the last removed record, and the removal is
    /// itself recorded.
    pub keep_days: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            every: Duration::ZERO,
            keep: 14,
            dir: None,
        }
    }
}

impl BackupConfig {
    pub fn dir(&self, data: &Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data.join("backups"))
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            writer_mb: 64,
            commit_interval: Duration::from_millis(200),
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            tick: Duration::from_millis(250),
            client_buffer: 8,
            heartbeat: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Largest file the Import page accepts, in MiB (the CLI has no limit).
    pub max_upload_mb: u64,
    /// About how many sales and refunds "Load demo data" creates (a year of history).
    pub demo_events: u64,
    /// Opportunities (with stage history) "Load demo data" puts in the first pipeline when
    /// the organization has none.
    pub demo_deals: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            max_upload_mb: 512,
            demo_events: 100_000,
            demo_deals: 120,
        }
    }
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig { cache_mb: 64 }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_events_per_request: 10_000,
            queue_requests: 1024,
            max_events_per_commit: 50_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `salesboard=debug,tower_http=info`, ...
    pub level: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// On first run (no accounts yet) create this organization...
    pub org_name: String,
    /// ...with an owner account of this email and a printed one-time password.
    pub owner_email: String,
    pub timezone: String,
    pub currency: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            tls_cert: None,
            tls_key: None,
            secure_cookies: None,
            trust_proxy_headers: false,
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::from("data"),
            cache_mb: 256,
            keep_raw_events_days: 0,
            min_free_mb: 128,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 6,
            refresh_per_ip_per_minute: 120,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            org_name: "My Organization".into(),
            owner_email: "owner@salesboard.local".into(),
            timezone: "UTC".into(),
            currency: "USD".into(),
        }
    }
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Build the config from the layers. `env` is the process environment (passed in so tests
    /// can supply their own).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        cli: &Overrides,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let env_file = env
            .iter()
            .find(|(k, _)| k == "SALESBOARD_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let file = file.map(Path::to_path_buf).or(env_file);
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file.as_deref() {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        // Only our prefix; `SALESBOARD_CONFIG` names the file and is not a key.
        // `SALESBOARD_SERVER__LISTEN` is the key `server.listen`.
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix("SALESBOARD_") {
                if rest == "CONFIG" {
                    continue;
                }
                let key = rest.to_lowercase().replace("__", ".");
                let value: figment::value::Value = v
                    .parse()
                    .unwrap_or_else(|_| figment::value::Value::from(v.clone()));
                fig = fig.merge(Serialized::default(&key, value));
            }
        }
        if let Some(v) = cli.listen {
            fig = fig.merge(("server.listen", v.to_string()));
        }
        if let Some(v) = &cli.data_dir {
            fig = fig.merge(("data.dir", v));
        }
        if let Some(v) = &cli.tls_cert {
            fig = fig.merge(("server.tls_cert", v));
        }
        if let Some(v) = &cli.tls_key {
            fig = fig.merge(("server.tls_key", v));
        }
        let cfg: Config = fig.extract().map_err(|e| {
            let msgs: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            ConfigError::Invalid(msgs.join("; "))
        })?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Rules serde cannot express.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: &str| Err(ConfigError::Invalid(format!("`{k}` {m}")));
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return bad(
                "server.tls_cert",
                "and `server.tls_key` must be given together",
            );
        }
        if self.backup.keep == 0 {
            return bad("backup.keep", "must be at least 1");
        }
        // (a hundred years: beyond it the cut-off time would overflow)
        for (k, v) in [
            ("audit.keep_days", self.audit.keep_days),
            ("data.keep_raw_events_days", self.data.keep_raw_events_days),
        ] {
            if v > 36_500 {
                return bad(k, "must be at most 36500 (0 keeps everything)");
            }
        }
        if !self.backup.every.is_zero() && self.backup.every < Duration::from_secs(1) {
            return bad(
                "backup.every",
                "must be at least 1s (or 0s for no scheduled backups)",
            );
        }
        if self.server.max_body_bytes < 1024 {
            return bad("server.max_body_bytes", "must be at least 1024");
        }
        if self.auth.access_token_ttl < Duration::from_secs(30) {
            return bad("auth.access_token_ttl", "must be at least 30s");
        }
        if self.auth.refresh_token_ttl <= self.auth.access_token_ttl {
            return bad(
                "auth.refresh_token_ttl",
                "must be longer than auth.access_token_ttl",
            );
        }
        let rl = &self.rate_limit;
        let ing = &self.ingest;
        for (k, v) in [
            (
                "rate_limit.login_per_ip_per_minute",
                u64::from(rl.login_per_ip_per_minute),
            ),
            (
                "rate_limit.login_per_account_per_minute",
                u64::from(rl.login_per_account_per_minute),
            ),
            (
                "rate_limit.refresh_per_ip_per_minute",
                u64::from(rl.refresh_per_ip_per_minute),
            ),
            (
                "ingest.max_events_per_request",
                ing.max_events_per_request as u64,
            ),
            ("ingest.queue_requests", ing.queue_requests as u64),
            (
                "ingest.max_events_per_commit",
                ing.max_events_per_commit as u64,
            ),
        ] {
            if v == 0 {
                return bad(k, "must be at least 1");
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad(
                "log.level",
                "is not a valid filter (e.g. `info` or `salesboard=debug`)",
            );
        }
        crate::domain::org::NewOrg::parse(
            &self.bootstrap.org_name,
            &self.bootstrap.timezone,
            &self.bootstrap.currency,
        )
        .map_err(|e| ConfigError::Invalid(format!("`bootstrap.{}` {}", e.field, e.message)))?;
        crate::domain::user::parse_email(&self.bootstrap.owner_email)
            .map_err(|e| ConfigError::Invalid(format!("`bootstrap.owner_email` {}", e.message)))?;
        Ok(())
    }

    /// The oldest event time accepted at `now` (raw-event retention), if any.
    pub fn oldest_event(&self, now: crate::domain::Ts) -> Option<crate::domain::Ts> {
        (self.data.keep_raw_events_days > 0).then(|| {
            crate::domain::Ts(now.0 - i64::from(self.data.keep_raw_events_days) * 86_400_000_000)
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.data.dir.join("salesboard.redb")
    }

    /// Where the server writes backups (`backup.dir`, default `backups` in the data directory).
    pub fn backups_dir(&self) -> PathBuf {
        self.backup.dir(&self.data.dir)
    }

    pub fn tls_enabled(&self) -> bool {
        self.server.tls_cert.is_some()
    }

    pub fn secure_cookies(&self) -> bool {
        self.server
            .secure_cookies
            .unwrap_or_else(|| self.tls_enabled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn example_file_documents_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let c = Config::load(Some(&path), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_then_env_then_cli() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nlisten = \"127.0.0.1:9001\"\nmax_body_bytes = 5000\n[data]\ndir = \"/from/file\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.server.listen.port(), 9001);
        assert_eq!(c.server.max_body_bytes, 5000);

        let e = env(&[
            ("SALESBOARD_SERVER__LISTEN", "127.0.0.1:9002"),
            ("SALESBOARD_AUTH__ACCESS_TOKEN_TTL", "5m"),
        ]);
        let c = Config::load(Some(&f), e.clone(), &Overrides::default()).unwrap();
        assert_eq!(c.server.listen.port(), 9002);
        assert_eq!(c.auth.access_token_ttl, Duration::from_secs(300));
        assert_eq!(c.data.dir, PathBuf::from("/from/file"));

        let cli = Overrides {
            listen: Some("127.0.0.1:9003".parse().unwrap()),
            data_dir: Some("/from/cli".into()),
            ..Default::default()
        };
        let c = Config::load(Some(&f), e, &cli).unwrap();
        assert_eq!(c.server.listen.port(), 9003);
        assert_eq!(c.data.dir, PathBuf::from("/from/cli"));
        assert_eq!(c.server.max_body_bytes, 5000);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server]\nlisten_addr = \"x\"\n").unwrap();
        let err = Config::load(Some(&f), env(&[]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");

        let err = Config::load(
            None,
            env(&[("SALESBOARD_SERVER__MAX_BODY_BYTES", "lots")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("max_body_bytes"), "{err}");

        let err = Config::load(
            None,
            env(&[("SALESBOARD_BOOTSTRAP__TIMEZONE", "Mars/Base")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bootstrap.timezone"), "{err}");

        let missing = dir.path().join("nope.toml");
        assert!(matches!(
            Config::load(Some(&missing), env(&[]), &Overrides::default()),
            Err(ConfigError::MissingFile(_))
        ));
    }
}
