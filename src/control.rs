//! The local control socket: `data/control.sock`, readable and writable by the server's user
//! only. Commands run on the server machine (`salesboard backup` while the server runs) send
//! one JSON line and read one back. Access to the socket is access to the data directory, as
//! with the data file itself, so there is no other authentication.

use crate::app::AppState;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SOCKET: &str = "control.sock";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Write a backup to `path` (absolute, on the server machine).
    Backup { path: PathBuf, compress: bool },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// What happened, for people.
    pub message: String,
    pub records: u64,
    pub bytes: u64,
    pub millis: u64,
}

/// Run one request against the running server's store.
async fn handle(state: &AppState, req: Request) -> Reply {
    match req {
        Request::Backup { path, compress } => {
            let now = state.clock.now();
            let store = state.store.clone();
            let started = std::time::Instant::now();
            let r = tokio::task::spawn_blocking(move || {
                crate::store::backup::write(&store, &path, compress, now)
            })
            .await;
            let millis = started.elapsed().as_millis() as u64;
            match r {
                Ok(Ok(w)) => Reply {
                    ok: true,
                    message: "backup written".into(),
                    records: w.header.records(),
                    bytes: w.bytes,
                    millis,
                },
                Ok(Err(e)) => Reply {
                    ok: false,
                    message: e.to_string(),
                    records: 0,
                    bytes: 0,
                    millis,
                },
                Err(e) => Reply {
                    ok: false,
                    message: format!("the backup task failed: {e}"),
                    records: 0,
                    bytes: 0,
                    millis,
                },
            }
        }
    }
}

/// Listen on `dir/control.sock` until the returned task is aborted.
#[cfg(unix)]
pub fn spawn(state: AppState, dir: &Path) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let path = dir.join(SOCKET);
    // A socket file left by a server that did not stop cleanly (this process holds the data
    // file's lock, so no other server uses it).
    let _ = std::fs::remove_file(&path);
    use std::os::unix::fs::MetadataExt;
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    // The socket file is the server's: only its own user may talk to it (checked per
    // connection too, for anyone who connected between bind and chmod).
    let owner = std::fs::metadata(&path)?.uid();
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            if stream.peer_cred().map(|c| c.uid()).ok() != Some(owner) {
                continue;
            }
            let state = state.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut line = String::new();
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    tokio::io::AsyncReadExt::take(BufReader::new(r), 64 * 1024)
                        .read_line(&mut line),
                )
                .await;
                if !matches!(read, Ok(Ok(_))) {
                    return;
                }
                let reply = match serde_json::from_str::<Request>(&line) {
                    Ok(req) => handle(&state, req).await,
                    Err(e) => Reply {
                        ok: false,
                        message: format!("unreadable request: {e}"),
                        records: 0,
                        bytes: 0,
                        millis: 0,
                    },
                };
                let mut out = serde_json::to_vec(&reply).unwrap_or_default();
                out.push(b'\n');
                let _ = w.write_all(&out).await;
            });
        }
    }))
}

/// Send `req` to the server running on `dir` and wait for its reply.
#[cfg(unix)]
pub fn send(dir: &Path, req: &Request) -> anyhow::Result<Reply> {
    use std::io::{BufRead, Write};
    let path = dir.join(SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        anyhow::anyhow!(
            "the server holds the data file but its control socket {} does not answer ({e})",
            path.display()
        )
    })?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut reply = String::new();
    std::io::BufReader::new(s).read_line(&mut reply)?;
    Ok(serde_json::from_str(&reply)?)
}

#[cfg(not(unix))]
pub fn spawn(_state: AppState, _dir: &Path) -> std::io::Result<tokio::task::JoinHandle<()>> {
    Ok(tokio::spawn(async {}))
}

#[cfg(not(unix))]
pub fn send(_dir: &Path, _req: &Request) -> anyhow::Result<Reply> {
    anyhow::bail!("the server is running; stop it to back up from the command line")
}
