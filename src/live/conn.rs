//! Live streams on connections of their own, served without hyper.
//!
//! A connection whose first request is `GET /live…` (how an `EventSource` usually opens) is
//! answered here: the request head is parsed with httparse, handed to the same router as every
//! other request (authentication, Origin check, rate limits, security headers, tracing: all
//! unchanged), and the response is written straight to the socket. An event stream then has
//! no length and `Connection: close` (its end is the connection's end, RFC 9112 §6.3), so each
//! update goes out as the hub's shared bytes in one write, with no chunk framing. A dashboard
//! stream's updates are written by the hub itself ([`super::direct`]); other streams (the
//! pipeline board's) go through their response body.
//!
//! A browser that has an idle kept-alive connection sends its stream request over it, to
//! hyper. That request is answered with a redirect to the same address and `Connection:
//! close` ([`own_connection_redirect`]): the browser follows it on another connection, a new
//! one once its idle ones are used up, so a few hops at most (each closes the connection it
//! came on; after [`MAX_HOPS`] hyper serves the stream where it is).
//!
//! Why: hyper gives every HTTP/1 connection an 8 KiB read buffer and an 8 KiB write buffer
//! for its whole life, with no setting to shrink them. An idle live stream needs neither, and
//! a dashboard left open all day is mostly idle; here it costs its task and socket. Every
//! other connection goes to hyper as before, and so does a stream asked for through a
//! reverse proxy (proxies keep pools of upstream connections; redirecting would only close
//! them), over HTTP/1.0 or HTTP/2 on a reused connection, or after the hops ran out: the
//! stream is the same either way. TLS connections always go to hyper.

use axum::Router;
use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a new connection may take to send its first bytes before hyper gets it anyway.
const FIRST_BYTES: Duration = Duration::from_secs(10);
/// How long a `/live` request head may take to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head taken (hyper's own default limit is far larger, but a `/live`
/// request carries a cookie and a short query).
const MAX_HEAD: usize = 32 * 1024;
const MAX_HEADERS: usize = 64;
/// The largest non-stream answer (an error) written here.
const MAX_BODY: usize = 1 << 20;

/// Marks a request that arrived on a connection of its own (served here, not by hyper).
#[derive(Clone, Copy, Debug)]
pub struct OwnConnection;

/// How many redirects a stream request gets before hyper serves it on the connection it came
/// on. Browsers keep at most 6 idle connections per site (Chromium and Firefox), and each hop
/// closes one.
pub const MAX_HOPS: u32 = 6;
/// A long write: the client stopped reading (its window stays full). The stream ends.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// For a stream requested over a connection hyper serves (one kept alive since an earlier
/// request): a `307` to the same address with `hop` counted up, closing that connection, so
/// the browser asks again on another. `None`: serve it here (it came on a connection of its
/// own, the server speaks TLS, which hyper always serves, a proxy forwarded it, or the hops
/// are used up).
pub fn own_connection_redirect(
    uri: &Uri,
    version: Version,
    headers: &axum::http::HeaderMap,
    own: Option<OwnConnection>,
    tls: bool,
) -> Option<axum::response::Response> {
    let proxied = ["via", "forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    if own.is_some() || tls || proxied || version != Version::HTTP_11 {
        return None;
    }
    let mut hop = 0u32;
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k == "hop" {
            hop = v.parse().unwrap_or(MAX_HOPS);
        } else {
            q.append_pair(&k, &v);
        }
    }
    if hop >= MAX_HOPS {
        return None;
    }
    q.append_pair("hop", &(hop + 1).to_string());
    let location = format!("{}?{}", uri.path(), q.finish());
    let mut r = axum::response::Response::new(Body::empty());
    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).ok()?);
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(r)
}

/// What axum serves: every accepted connection except the ones answered here.
pub struct Rest {
    rx: mpsc::Receiver<(TcpStream, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for Rest {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for Rest {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The acceptor stopped (shutdown): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Accept connections on `listener` until `stop` resolves: those opening a live stream are
/// served here with `router`, the others are passed on through the returned listener. The
/// tracker follows the connections served here (close it and wait on it at shutdown).
pub fn split(
    listener: TcpListener,
    router: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<(Rest, TaskTracker)> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(256);
    let tracker = TaskTracker::new();
    let tasks = tracker.clone();
    let acceptor = tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            let (tcp, remote) = tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                },
            };
            // Small writes (one update, one short answer) go out at once.
            let _ = tcp.set_nodelay(true);
            let (tx, router) = (tx.clone(), router.clone());
            tasks.spawn(async move {
                if opens_live(&tcp).await {
                    serve(tcp, remote, router).await;
                } else {
                    let _ = tx.send((tcp, remote)).await;
                }
            });
        }
    });
    Ok((
        Rest {
            rx,
            local,
            acceptor,
        },
        tracker,
    ))
}

/// Connection errors concern one client; others (out of file descriptors) pass with time.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Whether the connection's first bytes (peeked, so hyper can still read them) open a live
/// stream. A request line split across packets goes to hyper, which serves it just as well.
async fn opens_live(tcp: &TcpStream) -> bool {
    let mut first = [0u8; 10];
    match tokio::time::timeout(FIRST_BYTES, tcp.peek(&mut first)).await {
        Ok(Ok(n)) => is_live_request_line(&first[..n]),
        _ => false,
    }
}

fn is_live_request_line(first: &[u8]) -> bool {
    first.len() == 10 && first.starts_with(b"GET /live") && matches!(first[9], b'?' | b'/' | b' ')
}

/// Answer one request on `tcp`, then close it.
async fn serve(mut tcp: TcpStream, remote: SocketAddr, router: Router) {
    let mut req = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut tcp)).await {
        Ok(Ok(Some(req))) => req,
        Ok(Ok(None)) | Ok(Err(Refused::Io)) | Err(_) => return,
        Ok(Err(Refused::Status(status))) => {
            return answer(tcp, status, &axum::http::HeaderMap::new(), &[]).await;
        }
    };
    req.extensions_mut().insert(ConnectInfo(remote));
    req.extensions_mut().insert(OwnConnection);
    // Boxed: the router's future is large, and a task keeps the size of its largest state
    // for its whole life (this one lives as long as the stream).
    let Ok(response) = Box::pin(router.oneshot(req)).await;
    let (mut parts, body) = response.into_parts();
    let stream = parts.status == StatusCode::OK
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !stream {
        return match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(body) => answer(tcp, parts.status, &parts.headers, &body).await,
            Err(_) => {
                let none = axum::http::HeaderMap::new();
                answer(tcp, StatusCode::INTERNAL_SERVER_ERROR, &none, &[]).await
            }
        };
    }
    tracing::debug!(peer = %remote, "live stream on a connection of its own");
    metrics::counter!("live_streams_own_connection_total").increment(1);
    let mut head = head(parts.status, &parts.headers);
    head.extend_from_slice(b"\r\n");
    if tcp.write_all(&head).await.is_err() {
        return;
    }
    drop(head);
    // A dashboard stream: the hub writes its updates (see `super::direct`).
    if let Some(direct) = parts.extensions.remove::<super::direct::DirectStream>() {
        drop((parts, body));
        return direct.run(tcp).await;
    }
    stream_body(&mut tcp, body).await;
    let _ = tcp.shutdown().await;
}

/// Write a whole answer (anything but a stream) with its length, then close: first reading
/// what the client may still send (a late body), so that closing does not reset the
/// connection before the answer was read.
async fn answer(
    mut tcp: TcpStream,
    status: StatusCode,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) {
    use tokio::io::AsyncReadExt;
    let mut out = head(status, headers);
    if !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
    {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if tcp.write_all(&out).await.is_err() || tcp.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    let mut left = 64 * 1024usize;
    let drain = async {
        while left > 0 {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Write the stream's frames as they come, until it ends or the client goes away (read EOF
/// or a failed write; whatever else the client sends is ignored).
async fn stream_body(tcp: &mut TcpStream, mut body: Body) {
    use std::task::Poll;
    let mut ignored = [0u8; 64];
    loop {
        // The next frame; `None` when the client is gone. Polled by hand rather than with
        // `select!` on `readable()`: that links and unlinks a waiter on the socket at every
        // update, this keeps the socket's one read waker (thousands of streams wake at once).
        let next = std::future::poll_fn(|cx| {
            loop {
                match tcp.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => match tcp.try_read(&mut ignored) {
                        Ok(0) => return Poll::Ready(None),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return Poll::Ready(None),
                    },
                    Poll::Ready(Err(_)) => return Poll::Ready(None),
                    Poll::Pending => break,
                }
            }
            std::pin::Pin::new(&mut body).poll_frame(cx).map(Some)
        })
        .await;
        match next {
            Some(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data()
                    && !write(tcp, &data).await
                {
                    return;
                }
            }
            Some(Some(Err(_))) | Some(None) | None => return,
        }
    }
}

/// Write all of `data`; `false` when the client is gone or stopped reading. Almost every
/// update fits the socket's buffer at once, without a timer.
async fn write(tcp: &mut TcpStream, data: &[u8]) -> bool {
    let done = match tcp.try_write(data) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(_) => return false,
    };
    done == data.len()
        || matches!(
            tokio::time::timeout(WRITE_TIMEOUT, tcp.write_all(&data[done..])).await,
            Ok(Ok(()))
        )
}

/// Why a request head was not taken.
#[derive(Debug, PartialEq)]
enum Refused {
    /// The connection failed or closed mid-head: nothing to answer.
    Io,
    /// Answer with this status and close.
    Status(StatusCode),
}

/// Read and parse the request head. `None`: the client closed before sending one.
async fn read_head(tcp: &mut TcpStream) -> Result<Option<Request<Body>>, Refused> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(2048);
    loop {
        if buf.len() >= MAX_HEAD {
            return Err(Refused::Status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
        let before = buf.len();
        buf.reserve(2048.min(MAX_HEAD - before));
        let n = tcp.read_buf(&mut buf).await.map_err(|_| Refused::Io)?;
        if n == 0 {
            return if before == 0 {
                Ok(None)
            } else {
                Err(Refused::Io)
            };
        }
        // Parsed once the head's blank line is in (not again on every small read).
        if ends_head(&buf[before.saturating_sub(3)..])
            && let Some(req) = parse_head(&buf)?
        {
            return Ok(Some(req));
        }
    }
}

/// Whether `bytes` hold the blank line that ends a head (httparse also takes bare LFs).
fn ends_head(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && bytes.get(i + 2) == Some(&b'\n')))
}

/// The request in `buf`, or `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Request<Body>>, Refused> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refused::Status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
        Err(_) => return Err(bad_request()),
    }
    let method =
        Method::from_bytes(parsed.method.unwrap_or("").as_bytes()).map_err(|_| bad_request())?;
    let uri: Uri = parsed
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| bad_request())?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .version(version)
        .body(Body::empty())
        .map_err(|_| bad_request())?;
    let map = req.headers_mut();
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad_request())?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| bad_request())?;
        map.append(name, value);
    }
    // A body (never sent with GET by a browser) would be left unread on a closing connection.
    if map.contains_key(header::TRANSFER_ENCODING)
        || map
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0")
    {
        return Err(bad_request());
    }
    Ok(Some(req))
}

fn bad_request() -> Refused {
    Refused::Status(StatusCode::BAD_REQUEST)
}

/// The status line and the response's headers (framing headers left out: this connection
/// closes after the body), ending with the `Connection` and `Date` lines.
fn head(status: StatusCode, headers: &axum::http::HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
            || name == header::DATE
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"connection: close\r\ndate: ");
    out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_line_for_a_live_path_is_taken() {
        assert!(is_live_request_line(b"GET /live?"));
        assert!(is_live_request_line(b"GET /live/"));
        assert!(is_live_request_line(b"GET /live "));
        assert!(!is_live_request_line(b"GET /lively"));
        assert!(!is_live_request_line(b"GET /li"));
        assert!(!is_live_request_line(b"POST /live"));
        assert!(!is_live_request_line(b"GET /dashb"));
    }

    #[test]
    fn a_stream_asked_for_on_a_kept_connection_is_sent_to_ask_again_a_few_times() {
        let none = axum::http::HeaderMap::new();
        let uri: Uri = "/live?view=range%3D7d&v=4".parse().unwrap();
        let r = own_connection_redirect(&uri, Version::HTTP_11, &none, None, false).unwrap();
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let next = r.headers()[header::LOCATION].to_str().unwrap().to_string();
        assert_eq!(next, "/live?view=range%3D7d&v=4&hop=1");
        let mut uri: Uri = next.parse().unwrap();
        for hop in 2..=MAX_HOPS {
            let r = own_connection_redirect(&uri, Version::HTTP_11, &none, None, false).unwrap();
            let next = r.headers()[header::LOCATION].to_str().unwrap();
            assert!(next.ends_with(&format!("&hop={hop}")), "{next}");
            uri = next.parse().unwrap();
        }
        assert!(own_connection_redirect(&uri, Version::HTTP_11, &none, None, false).is_none());
        let first: Uri = "/live".parse().unwrap();
        assert!(
            own_connection_redirect(&first, Version::HTTP_11, &none, Some(OwnConnection), false)
                .is_none()
        );
        assert!(own_connection_redirect(&first, Version::HTTP_11, &none, None, true).is_none());
        assert!(own_connection_redirect(&first, Version::HTTP_2, &none, None, false).is_none());
        let mut proxied = axum::http::HeaderMap::new();
        proxied.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        assert!(own_connection_redirect(&first, Version::HTTP_11, &proxied, None, false).is_none());
        let hop = "/live/pipeline?hop=x".parse().unwrap();
        assert!(own_connection_redirect(&hop, Version::HTTP_11, &none, None, false).is_none());
    }

    #[test]
    fn a_request_head_becomes_a_request_with_every_header() {
        let head = b"GET /live?view=range%3D7d HTTP/1.1\r\nHost: sb.test\r\nCookie: a=1\r\nCookie: b=2\r\nAccept-Encoding: gzip\r\n\r\n";
        assert!(parse_head(&head[..20]).unwrap().is_none(), "partial");
        let req = parse_head(head).unwrap().unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().path(), "/live");
        assert_eq!(req.uri().query(), Some("view=range%3D7d"));
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers().get_all(header::COOKIE).iter().count(), 2);
        assert_eq!(req.headers()[header::HOST], "sb.test");
        let old = parse_head(b"GET /live HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(old.version(), Version::HTTP_10);
    }

    #[test]
    fn the_end_of_a_head_is_found_with_crlf_or_bare_lf() {
        assert!(ends_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(ends_head(b"GET / HTTP/1.1\nHost: x\n\n"));
        assert!(ends_head(b"\n\r\n"));
        assert!(!ends_head(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(!ends_head(b"\n\r"));
    }

    #[test]
    fn a_malformed_head_or_a_body_is_refused_with_a_status() {
        let status = |b: &[u8]| match parse_head(b) {
            Err(Refused::Status(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(b"GET /live HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET /live HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            400
        );
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("x-{i}: 1\r\n"))
            .collect();
        assert_eq!(
            status(format!("GET /live HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
    }

    #[test]
    fn the_head_leaves_out_framing_and_closes() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        h.insert(header::CONTENT_LENGTH, "10".parse().unwrap());
        h.append(header::SET_COOKIE, "a=1".parse().unwrap());
        h.append(header::SET_COOKIE, "b=2".parse().unwrap());
        let text = String::from_utf8(head(StatusCode::OK, &h)).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-type: text/event-stream\r\n"));
        assert!(text.contains("set-cookie: a=1\r\nset-cookie: b=2\r\n"));
        assert!(text.contains("connection: close\r\n"));
        assert!(text.contains("date: "));
        assert!(!text.contains("content-length"), "{text}");
    }
}
