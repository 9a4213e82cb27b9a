//! The command line: `serve` (default), `org`, `user`.

use crate::auth::accounts::{self, ActingAs, NewUserInput, UserPatch};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Overrides};
use crate::domain::org::NewOrg;
use crate::store::{Store, migrate::SCHEMA_VERSION, orgs, users};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "salesboard",
    about = "Sales and partnership performance dashboard in one binary."
)]
pub struct Cli {
    /// TOML config file (also SALESBOARD_CONFIG). See config.example.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server (the default when no command is given).
    Serve(ServeArgs),
    /// Manage organizations (works on the data file while the server is stopped).
    #[command(subcommand)]
    Org(OrgCmd),
    /// Manage user accounts (works on the data file while the server is stopped).
    #[command(subcommand)]
    User(UserCmd),
    /// Load realistic demo sales data (deterministic; loading the same seed twice adds nothing).
    Demo(DemoArgs),
    /// Import sales history from a file (works on the data file while the server is stopped;
    /// use the Import page while it runs). Resumable and idempotent. Exit code 2 when some rows
    /// were refused (they are listed in the error report).
    Import(ImportArgs),
    /// Write a backup of all data to FILE: a consistent snapshot, compressed, with a checksum.
    /// While the server runs it makes the backup itself (serving goes on); otherwise this
    /// command reads the data file.
    Backup(BackupArgs),
    /// Restore a backup into the data directory (checked first; the server must be stopped).
    /// A directory with data is only replaced with --force, and its file is kept beside.
    Restore(RestoreArgs),
    /// Check a data file (default: the data directory's) or a backup end to end: every record
    /// decodes, references resolve, audit chains are intact, rollups match a recomputation from
    /// the raw events. Changes nothing; exit code 1 on any problem. The server must be stopped
    /// to check its data file (check a fresh backup instead while it runs).
    Verify(VerifyArgs),
    /// Rebuild the search index from the data file (works while the server is stopped; a
    /// running server rebuilds a missing or damaged index by itself).
    Reindex,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the backup (a new file; an existing one is replaced once the new one is
    /// complete).
    pub file: PathBuf,
    /// Store it uncompressed (larger, a little faster to write).
    #[arg(long)]
    pub no_compress: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A data file or a backup (default: the data directory's data file).
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A backup made by `salesboard backup`.
    pub file: PathBuf,
    /// Replace the data directory's current data file (kept beside it, renamed).
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file: JSON lines of events, or a CSV of orders (one row per line item).
    pub file: PathBuf,
    /// Organization name (default: the first organization).
    #[arg(long)]
    pub org: Option<String>,
    /// events-jsonl, orders-csv or shopify-orders-csv (default: guessed from the first line).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Check every row and report problems without storing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write refused rows as CSV (default: FILE.errors.csv).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
}

/// The import finished but refused some rows (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RowsRefused(pub String);

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Organization name (default: the first organization).
    #[arg(long)]
    pub org: Option<String>,
    /// About this many sales and refunds (daily traffic records come on top).
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Days of history, ending today.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Demo opportunities (with their stage history) for the first pipeline, when the
    /// organization has none yet.
    #[arg(long, default_value_t = 120)]
    pub deals: usize,
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8000 (default 127.0.0.1:8000).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Create an organization.
    Add {
        name: String,
        /// IANA time zone deciding day and week boundaries.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// ISO 4217 currency of the org's amounts.
        #[arg(long, default_value = "USD")]
        currency: String,
    },
    /// List organizations.
    List,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create an account. Without --password-stdin a one-time password is generated and printed.
    Add {
        /// Organization name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// owner, admin, vp, manager, partnership_manager, analyst or viewer.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts (of one organization, or all).
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Change an account's role.
    SetRole { email: String, role: String },
    /// Disable an account; its sessions end at once.
    Disable { email: String },
    /// Enable a disabled account.
    Enable { email: String },
    /// Set a new password (generated one-time password unless --password-stdin); sessions end.
    ResetPassword {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn long_version() -> &'static str {
    Box::leak(
        format!(
            "{} (schema version {}, {} {})",
            env!("CARGO_PKG_VERSION"),
            SCHEMA_VERSION,
            std::env::consts::OS,
            std::env::consts::ARCH
        )
        .into_boxed_str(),
    )
}

pub fn main() -> ExitCode {
    let cmd = Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .long_version(long_version());
    let cli = match Cli::from_arg_matches(&cmd.get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<RowsRefused>() => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, serve: Option<&ServeArgs>) -> anyhow::Result<Config> {
    let overrides = Overrides {
        listen: serve.and_then(|s| s.listen),
        data_dir: cli.data_dir.clone(),
        tls_cert: serve.and_then(|s| s.tls_cert.clone()),
        tls_key: serve.and_then(|s| s.tls_key.clone()),
    };
    Ok(Config::load(
        cli.config.as_deref(),
        std::env::vars(),
        &overrides,
    )?)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        None => serve(&cli, &ServeArgs::default()),
        Some(Command::Serve(a)) => serve(&cli, a),
        Some(Command::Org(c)) => {
            let cfg = load_config(&cli, None)?;
            org_cmd(&cfg, c)
        }
        Some(Command::User(c)) => {
            let cfg = load_config(&cli, None)?;
            user_cmd(&cfg, c)
        }
        Some(Command::Demo(a)) => {
            let cfg = load_config(&cli, None)?;
            demo_cmd(&cfg, a)
        }
        Some(Command::Import(a)) => {
            let cfg = load_config(&cli, None)?;
            import_cmd(&cfg, a)
        }
        Some(Command::Backup(a)) => {
            let cfg = load_config(&cli, None)?;
            backup_cmd(&cfg, a)
        }
        Some(Command::Restore(a)) => {
            let cfg = load_config(&cli, None)?;
            restore_cmd(&cfg, a)
        }
        Some(Command::Verify(a)) => {
            let cfg = load_config(&cli, None)?;
            verify_cmd(&cfg, a)
        }
        Some(Command::Reindex) => {
            let cfg = load_config(&cli, None)?;
            reindex_cmd(&cfg)
        }
    }
}

fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = load_config(cli, Some(args))?;
    crate::telemetry::init(&cfg.log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Store work runs on blocking threads and is short (microseconds to milliseconds);
        // tokio's default of 512 threads only adds memory when many requests arrive at once
        // (each thread keeps its own stack and allocator heap).
        .max_blocking_threads(64)
        .build()?;
    rt.block_on(async move {
        let running = crate::server::start(cfg, Arc::new(SystemClock)).await?;
        let stop = crate::server::shutdown_signal();
        let url = running.base_url();
        println!(
            "salesboard {} listening on {url}",
            env!("CARGO_PKG_VERSION")
        );
        println!("data file: {}", running.state.cfg.db_path().display());
        if let Some(b) = &running.bootstrap {
            println!();
            println!(
                "First run: created organization \"{}\" and its owner account.",
                b.org.name
            );
            println!("  Sign in at  {url}/login");
            println!("  email       {}", b.owner.email);
            println!(
                "  password    {}   (one-time: you will choose your own at first sign-in)",
                b.one_time_password
            );
            println!("This password is shown only now.");
            println!();
        }
        println!("Press Ctrl-C to stop.");
        stop.await;
        tracing::info!("shutting down: finishing in-flight requests");
        running.shutdown().await?;
        println!("salesboard stopped cleanly");
        anyhow::Ok(())
    })
}

fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let cache = usize::try_from(cfg.data.cache_mb << 20).unwrap_or(usize::MAX);
    let store = Store::open_with_cache(&cfg.db_path(), cache)?;
    store.set_min_free(cfg.data.min_free_mb << 20);
    Ok(store)
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(!pw.is_empty(), "no password on standard input");
    Ok(pw)
}

fn app_err(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message)
}

fn org_cmd(cfg: &Config, c: &OrgCmd) -> anyhow::Result<()> {
    let store = open_store(cfg)?;
    let now = SystemClock.now();
    match c {
        OrgCmd::Add {
            name,
            timezone,
            currency,
        } => {
            let new = NewOrg::parse(name, timezone, currency)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
            let org = accounts::create_org(&store, &ActingAs::cli(), new, now).map_err(app_err)?;
            println!(
                "created organization \"{}\" (id {}, {}, {})",
                org.name,
                org.id,
                org.timezone,
                org.currency.code()
            );
        }
        OrgCmd::List => {
            let list = store.read(orgs::list)?;
            if list.is_empty() {
                println!("no organizations yet: `salesboard org add NAME` creates one");
            }
            for o in list {
                println!(
                    "{:>4}  {:<30} {:<20} {}",
                    o.id,
                    o.name,
                    o.timezone,
                    o.currency.code()
                );
            }
        }
    }
    Ok(())
}

fn find_user(store: &Store, email: &str) -> anyhow::Result<crate::domain::user::User> {
    let e = crate::domain::user::parse_email(email)
        .map_err(|e| anyhow::anyhow!("email {}", e.message))?;
    store
        .read(|t| users::by_email(t, &e))?
        .ok_or_else(|| anyhow::anyhow!("no account with email {e}"))
}

fn user_cmd(cfg: &Config, c: &UserCmd) -> anyhow::Result<()> {
    let store = open_store(cfg)?;
    let now = SystemClock.now();
    let by = ActingAs::cli();
    match c {
        UserCmd::Add {
            org,
            email,
            role,
            name,
            password_stdin,
        } => {
            let o = store.read(|t| orgs::by_name(t, org))?.ok_or_else(|| {
                anyhow::anyhow!("no organization named \"{org}\" (see `salesboard org list`)")
            })?;
            let password = if *password_stdin {
                Some(read_password_line()?)
            } else {
                None
            };
            let input = NewUserInput {
                email: email.clone(),
                name: name.clone(),
                role: role.clone(),
                team: None,
                password,
            };
            let (u, pw) = accounts::create_user(&store, &by, o.id, input, now).map_err(app_err)?;
            println!(
                "created {} ({}) in \"{}\" as {}",
                u.email,
                u.name,
                o.name,
                u.role.label()
            );
            if let Some(pw) = pw {
                println!("one-time password: {pw}   (they choose their own at first sign-in)");
            }
        }
        UserCmd::List { org } => {
            let all = store.read(orgs::list)?;
            let chosen: Vec<_> = match org {
                Some(n) => all
                    .into_iter()
                    .filter(|o| o.name.eq_ignore_ascii_case(n.trim()))
                    .collect(),
                None => all,
            };
            anyhow::ensure!(
                !chosen.is_empty() || org.is_none(),
                "no organization named \"{}\"",
                org.as_deref().unwrap_or("")
            );
            for o in chosen {
                println!("{}:", o.name);
                for u in store.read(|t| users::list(t, o.id))? {
                    let state = if u.disabled {
                        "disabled"
                    } else if u.must_change_password {
                        "password not set"
                    } else {
                        "active"
                    };
                    println!(
                        "  {:<36} {:<24} {:<20} {}",
                        u.email,
                        u.name,
                        u.role.as_str(),
                        state
                    );
                }
            }
        }
        UserCmd::SetRole { email, role } => {
            let u = find_user(&store, email)?;
            let u = accounts::update_user(
                &store,
                &by,
                u.org,
                u.id,
                UserPatch {
                    role: Some(role.clone()),
                    ..Default::default()
                },
                now,
            )
            .map_err(app_err)?;
            println!("{} is now {}", u.email, u.role.label());
        }
        UserCmd::Disable { email } | UserCmd::Enable { email } => {
            let disable = matches!(c, UserCmd::Disable { .. });
            let u = find_user(&store, email)?;
            let u = accounts::update_user(
                &store,
                &by,
                u.org,
                u.id,
                UserPatch {
                    disabled: Some(disable),
                    ..Default::default()
                },
                now,
            )
            .map_err(app_err)?;
            println!(
                "{} is {}",
                u.email,
                if u.disabled {
                    "disabled; its sessions have ended"
                } else {
                    "enabled"
                }
            );
        }
        UserCmd::ResetPassword {
            email,
            password_stdin,
        } => {
            let u = find_user(&store, email)?;
            let password = if *password_stdin {
                Some(read_password_line()?)
            } else {
                None
            };
            let pw = accounts::reset_password(&store, &by, u.org, u.id, password, now)
                .map_err(app_err)?;
            println!("password of {} reset; their sessions have ended", u.email);
            if let Some(pw) = pw {
                println!("one-time password: {pw}   (they choose their own at first sign-in)");
            }
        }
    }
    Ok(())
}

fn demo_cmd(cfg: &Config, a: &DemoArgs) -> anyhow::Result<()> {
    use crate::ingest::demo;
    use crate::store::sales;
    anyhow::ensure!(
        (1..=100_000_000).contains(&a.events),
        "--events must be between 1 and 100000000"
    );
    anyhow::ensure!(
        (1..=3650).contains(&a.days),
        "--days must be between 1 and 3650"
    );
    let store = open_store(cfg)?;
    let org = find_org(&store, a.org.as_deref())?;
    let tz = org.tz();
    let spec = demo::Spec {
        events: a.events,
        days: a.days,
        seed: a.seed,
        last_day: SystemClock.now().timestamp().to_zoned(tz.clone()).date(),
    };
    let expected = a.events + 16 * u64::from(a.days);
    let bar = progress_bar(
        expected,
        "{bar:40} {pos}/{len} events  {per_sec}  ETA {eta}",
    );
    let started = std::time::Instant::now();
    let (mut new, mut dup) = (0u64, 0u64);
    demo::generate(&spec, &tz, 20_000, |batch| {
        let n = batch.len() as u64;
        let r = store.write_bulk(|txn| sales::apply(txn, &org, &batch))?;
        let accepted = sales::accepted(&r) as u64;
        new += accepted;
        dup += r.len() as u64 - accepted;
        bar.inc(n);
        anyhow::Ok(())
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "loaded demo data into \"{}\": {new} new events, {dup} already there, in {secs:.1} s ({:.0} events/s)",
        org.name,
        (new + dup) as f64 / secs.max(0.001)
    );
    anyhow::ensure!(a.deals <= 1_000_000, "--deals must be at most 1000000");
    match crate::pipeline::load_demo(&store, &org, a.deals, SystemClock.now()) {
        Ok(0) => println!("opportunities: the organization already has some (none added)"),
        Ok(n) => println!("opportunities: {n} demo deals with their stage history"),
        Err(e) => anyhow::bail!("demo opportunities: {}", e.message),
    }
    Ok(())
}

fn backup_cmd(cfg: &Config, a: &BackupArgs) -> anyhow::Result<()> {
    use crate::store::{StoreError, backup};
    let target = std::path::absolute(&a.file)?;
    if let Some(dir) = target.parent() {
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    }
    let started = std::time::Instant::now();
    let db = cfg.db_path();
    let (records, bytes) = match crate::store::read_only(&db) {
        Ok(opened) => {
            let w =
                backup::write_from(&opened.txn, &db, &target, !a.no_compress, SystemClock.now())?;
            (w.header.records(), w.bytes)
        }
        Err(StoreError::AlreadyOpen(_)) => {
            let reply = crate::control::send(
                &cfg.data.dir,
                &crate::control::Request::Backup {
                    path: target.clone(),
                    compress: !a.no_compress,
                },
            )?;
            anyhow::ensure!(
                reply.ok,
                "the server could not write the backup: {}",
                reply.message
            );
            (reply.records, reply.bytes)
        }
        Err(e) => return Err(e.into()),
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backup written: {} ({records} records, {:.1} MB, {secs:.1} s)",
        target.display(),
        bytes as f64 / 1e6
    );
    Ok(())
}

fn restore_cmd(cfg: &Config, a: &RestoreArgs) -> anyhow::Result<()> {
    let r = crate::store::backup::restore(&a.file, &cfg.data.dir, a.force, SystemClock.now())?;
    println!(
        "restored {} ({} records, schema {}, made {}) into {}",
        a.file.display(),
        r.header.records(),
        r.header.schema_version,
        r.header.created_at,
        cfg.data.dir.display()
    );
    if let Some(k) = r.kept {
        println!("the data file it replaced is kept as {}", k.display());
    }
    println!("the search index is rebuilt when the server starts");
    Ok(())
}

fn verify_cmd(cfg: &Config, a: &VerifyArgs) -> anyhow::Result<()> {
    let path = a.file.clone().unwrap_or_else(|| cfg.db_path());
    anyhow::ensure!(path.is_file(), "{} does not exist", path.display());
    let started = std::time::Instant::now();
    let report = if crate::verify::is_backup(&path) {
        println!("verifying the backup {}", path.display());
        crate::verify::backup_file(&path)
    } else {
        println!("verifying the data file {}", path.display());
        verify_with_progress(&path)?
    };
    for p in &report.passed {
        println!("  ok       {p}");
    }
    for s in &report.skipped {
        println!("  skipped  {s}");
    }
    for p in &report.problems {
        println!("  PROBLEM  {p}");
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.ok(),
        "verify found {} problem(s) in {secs:.1} s: restore a backup (salesboard restore FILE)",
        report.problems.len()
    );
    println!("no problems found ({secs:.1} s)");
    Ok(())
}

/// `verify::data_file` with a progress bar on the terminal (hidden when stderr is not one):
/// the events decoded, then the replay finishing and the comparison.
fn verify_with_progress(path: &std::path::Path) -> anyhow::Result<crate::verify::Report> {
    use crate::verify::Progress;
    use std::sync::atomic::Ordering;
    let progress = Progress::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let bar = progress_bar(
        0,
        "{spinner} {elapsed:>4} {bar:30} {pos}/{len} events  {msg}",
    );
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_length(progress.events.load(Ordering::Relaxed));
                bar.set_position(progress.decoded.load(Ordering::Relaxed));
                bar.set_message(match progress.phase.load(Ordering::Relaxed) {
                    Progress::DECODING => "reading and decoding every record",
                    Progress::REPLAYING => "recomputing the rollups",
                    _ => "comparing the rollups",
                });
                bar.tick();
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let report = crate::verify::data_file_with(path, &progress);
        done.store(true, Ordering::Relaxed);
        report
    });
    bar.finish_and_clear();
    Ok(report?)
}

/// A progress bar of `len` steps drawn with `template` (indicatif's plain bar if the template
/// does not parse); hidden when stderr is not a terminal.
fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn reindex_cmd(cfg: &Config) -> anyhow::Result<()> {
    let store = open_store(cfg)?;
    let bar = progress_bar(0, "{bar:40} {pos}/{len} records  {per_sec}  ETA {eta}");
    let started = std::time::Instant::now();
    let n = crate::search::reindex(&store, &cfg.search, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "search index rebuilt: {n} records in {secs:.1} s ({:.0} records/s), in {}",
        n as f64 / secs.max(0.001),
        crate::search::dir_for(&store).display()
    );
    Ok(())
}

/// The named organization, or the first one.
fn find_org(store: &Store, name: Option<&str>) -> anyhow::Result<crate::domain::org::Org> {
    Ok(match name {
        Some(name) => store.read(|t| orgs::by_name(t, name))?.ok_or_else(|| {
            anyhow::anyhow!("no organization named \"{name}\" (see `salesboard org list`)")
        })?,
        None => store.read(orgs::list)?.into_iter().next().ok_or_else(|| {
            anyhow::anyhow!(
                "no organization yet: start the server once, or `salesboard org add NAME`"
            )
        })?,
    })
}

fn import_cmd(cfg: &Config, a: &ImportArgs) -> anyhow::Result<()> {
    use crate::import::{Format, run};
    use anyhow::Context;
    let format = a
        .format
        .as_deref()
        .map(|f| {
            Format::parse(f)
                .ok_or_else(|| anyhow::anyhow!("--format `{f}` is not one of {}", Format::NAMES))
        })
        .transpose()?;
    let size = std::fs::metadata(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?
        .len();
    let store = open_store(cfg)?;
    let org = find_org(&store, a.org.as_deref())?;
    let errors_path = a.errors.clone().unwrap_or_else(|| {
        let mut p = a.file.clone().into_os_string();
        p.push(".errors.csv");
        PathBuf::from(p)
    });
    let bar = progress_bar(size, "{bar:40} {bytes}/{total_bytes}  {msg}  ETA {eta}");
    let started = std::time::Instant::now();
    let opts = run::Options {
        format,
        dry_run: a.dry_run,
        errors_path,
        chunk_events: run::CHUNK_EVENTS,
        rates: cfg.exchange_rates.clone(),
        oldest: cfg.oldest_event(SystemClock.now()),
    };
    let report = run::import_file(&store, &org, &a.file, &opts, |bytes, rows| {
        bar.set_position(bytes);
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!("{rows} rows  {:.0} rows/s", rows as f64 / secs));
    })?;
    bar.finish_and_clear();
    let t = &report.total;
    if report.already_done {
        println!(
            "{} was imported into \"{}\" before ({} rows, {} events stored); nothing to do.",
            a.file.display(),
            org.name,
            t.rows,
            t.accepted
        );
        return Ok(());
    }
    let verb = if a.dry_run { "checked" } else { "imported" };
    let resumed = if report.resumed_at > 0 {
        format!(" (resumed after row {})", report.resumed_at)
    } else {
        String::new()
    };
    let stored = if a.dry_run {
        format!("{} valid events (nothing stored: dry run)", t.accepted)
    } else {
        format!("{} new events, {} already stored", t.accepted, t.duplicates)
    };
    println!(
        "{verb} {} as {} into \"{}\"{resumed}: {} rows, {stored}, {} skipped, {} refused, in {:.1} s ({:.0} rows/s)",
        a.file.display(),
        report.format.name(),
        org.name,
        t.rows,
        t.skipped,
        t.errors,
        report.seconds,
        (t.rows - report.resumed_at.min(t.rows)) as f64 / report.seconds.max(0.001)
    );
    if let Some(p) = report.errors_file {
        return Err(RowsRefused(format!(
            "{} rows were refused; see {} (line, column, reason)",
            t.errors,
            p.display()
        ))
        .into());
    }
    Ok(())
}
