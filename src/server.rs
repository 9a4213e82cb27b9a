//! Start and stop the HTTP server.

use crate::app::{AppState, router, spawn_upkeep};
use crate::auth::{accounts, jwt::JwtKeys};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::Store;
use anyhow::Context;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A server listening in the background (used by `serve` and by tests).
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    /// Printed once on first run: the bootstrap login details.
    pub bootstrap: Option<accounts::Bootstrapped>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        let scheme = if self.state.cfg.tls_enabled() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Stop accepting, let in-flight requests finish (up to `server.shutdown_grace`), close the
    /// data file.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let grace = self.state.cfg.server.shutdown_grace;
        match tokio::time::timeout(grace + std::time::Duration::from_secs(1), &mut self.task).await
        {
            Ok(joined) => joined
                .context("server task failed")?
                .context("server error")?,
            Err(_) => {
                tracing::warn!(
                    "in-flight requests did not finish within the shutdown grace period"
                );
                self.task.abort();
            }
        }
        // The indexer commits what it has and lets go of the data file.
        let search = self.state.search.clone();
        tokio::task::spawn_blocking(move || search.stop())
            .await
            .context("stopping the search indexer")?;
        // Background tasks and threads still hold the store: close the file itself, so that
        // the next start needs no crash recovery.
        let store = self.state.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .context("closing the data file")?;
        Ok(())
    }

    /// Wait until the server stops by itself (it does not, short of an error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task)
            .await
            .context("server task failed")?
            .context("server error")
    }
}

/// Open the store, bootstrap on first run, bind, and serve in the background.
pub async fn start(cfg: Config, clock: SharedClock) -> anyhow::Result<Running> {
    let cfg = Arc::new(cfg);
    let db_path = cfg.db_path();
    let store = {
        let p = db_path.clone();
        let cache = usize::try_from(cfg.data.cache_mb << 20).unwrap_or(usize::MAX);
        tokio::task::spawn_blocking(move || Store::open_with_cache(&p, cache)).await??
    };
    store.set_min_free(cfg.data.min_free_mb << 20);
    let store = Arc::new(store);
    let keys = Arc::new(
        JwtKeys::load_or_create(&cfg.data.dir)
            .with_context(|| format!("reading the token secret in {}", cfg.data.dir.display()))?,
    );
    let bootstrap = {
        let (s, b, now) = (store.clone(), cfg.bootstrap.clone(), clock.now());
        tokio::task::spawn_blocking(move || accounts::bootstrap_if_empty(&s, &b, now))
            .await?
            .map_err(|e| anyhow::anyhow!("first-run setup failed: {}", e.message))?
    };
    let state = AppState::new(store, cfg.clone(), clock, keys).context(
        "opening the search index (delete the data directory's search folder to rebuild it)",
    )?;
    let routes = router(state.clone());
    let app = routes
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let upkeep = spawn_upkeep(&state);
    // Without the socket the server still serves; only `salesboard backup` while it runs needs
    // it (a data directory whose path is too long for a socket, say).
    let control = crate::control::spawn(state.clone(), &cfg.data.dir).unwrap_or_else(|e| {
        tracing::warn!(error = %e, dir = %cfg.data.dir.display(), "no control socket: `salesboard backup` will not work while the server runs");
        tokio::spawn(async {})
    });
    let scheduled = crate::backups::spawn(&state);
    let live = state.live.spawn(
        state.store.clone(),
        state.clock.clone(),
        state.writer.subscribe(),
        cfg.live.tick,
    );

    let (addr, task) = if let (Some(cert), Some(key)) = (&cfg.server.tls_cert, &cfg.server.tls_key)
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
            .await
            .with_context(|| {
                format!(
                    "loading TLS certificate {} and key {}",
                    cert.display(),
                    key.display()
                )
            })?;
        let std_listener = std::net::TcpListener::bind(cfg.server.listen)
            .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let handle = axum_server::Handle::new();
        let h2 = handle.clone();
        let grace = cfg.server.shutdown_grace;
        let hub = state.live.clone();
        tokio::spawn(async move {
            let _ = stop_rx.await;
            hub.close();
            h2.graceful_shutdown(Some(grace));
        });
        let server = axum_server::from_tcp_rustls(std_listener, tls)?.handle(handle);
        let task = tokio::spawn(async move {
            let r = server.serve(app).await;
            upkeep.abort();
            control.abort();
            if let Some(b) = &scheduled {
                b.abort();
            }
            live.abort();
            r
        });
        (addr, task)
    } else {
        let listener = tokio::net::TcpListener::bind(cfg.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        let hub = state.live.clone();
        // Live streams opened on a connection of their own are served without hyper's
        // per-connection buffers (src/live/conn.rs); axum gets every other connection.
        // `tap_io` adds nothing but lets axum hand out the peer address (`ConnectInfo`).
        let (listener, own) = crate::live::conn::split(listener, routes, hub.closed())?;
        let listener = listener.tap_io(|_| {});
        let grace = cfg.server.shutdown_grace;
        let task = tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                    hub.close();
                })
                .await;
            // Streams on connections of their own ended with the hub; let them finish
            // writing (a gzip trailer) within the grace period.
            own.close();
            let _ = tokio::time::timeout(grace, own.wait()).await;
            upkeep.abort();
            control.abort();
            if let Some(b) = &scheduled {
                b.abort();
            }
            live.abort();
            r
        });
        (addr, task)
    };
    Ok(Running {
        addr,
        state,
        bootstrap,
        stop: Some(stop_tx),
        task,
    })
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is called (not when
/// first polled), so a signal that arrives right after start-up is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {},
                        _ = i.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
