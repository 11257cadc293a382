//! The statistics endpoint (`stats_listen`): an HTTP server on the session's
//! runtime that serves the exports of `super`, the dashboard page and its
//! event stream until the session stops.
//!
//! Routes: `GET /` the dashboard (dashboard.html, compiled in), `GET
//! /events` its Server-Sent Events stream (`events`), `GET /metrics`
//! (Prometheus), `GET /stats` (JSON) and `GET /stats.bin` (the binary
//! snapshot, `binary`). When `stats_token` is set, every
//! request must carry it (`Authorization: Bearer <token>` or `?token=`,
//! the second because a page's EventSource cannot set headers).
//!
//! On a loopback address the `Host` header must name an IP address or
//! `localhost`: a web page whose own host name an attacker pointed at
//! 127.0.0.1 (DNS rebinding) would otherwise read the endpoint as its own
//! origin.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Weak;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use super::events::Dashboard;
use super::{export, ExportFormat};
use crate::engine::session::SessionCore;
use crate::engine::torrent::TorrentId;

/// The dashboard page: HTML, CSS and script in one file, no external
/// resources.
const DASHBOARD_HTML: &str = include_str!("dashboard.html");

type Body = BoxBody<Bytes, Infallible>;

/// Serves the routes above on `addr` until the session stops. Answers the
/// bound address.
pub(crate) async fn serve(
    core: Weak<SessionCore>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use hyper::service::service_fn;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let shutdown = match core.upgrade() {
        Some(c) => c.shutdown.clone(),
        None => return Err(std::io::Error::other("session gone")),
    };
    let dashboard = Dashboard::new();
    tokio::spawn(dashboard.clone().run(core.clone(), shutdown.clone()));
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let core = core.clone();
            let dashboard = dashboard.clone();
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let reply = if local.ip().is_loopback() && !host_is_local(&req) {
                    text(StatusCode::FORBIDDEN, "the Host header must be an IP address or localhost\n")
                } else {
                    match core.upgrade() {
                        Some(core) => respond(&core, &dashboard, &req),
                        None => text(StatusCode::SERVICE_UNAVAILABLE, "session stopped\n"),
                    }
                };
                async move { Ok::<_, Infallible>(reply) }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok((local, task))
}

/// Answers one request.
fn respond<B>(core: &SessionCore, dashboard: &Dashboard, req: &Request<B>) -> Response<Body> {
    let token = core.settings.read().stats_token.clone();
    if !token.is_empty() && !authorized(req, &token) {
        return text(
            StatusCode::UNAUTHORIZED,
            "a token is required: Authorization: Bearer <token> or ?token=\n",
        );
    }
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let (format, ctype) = match req.uri().path() {
        "/" => return full(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD_HTML),
        "/events" => return events(core, dashboard, req),
        "/metrics" => (ExportFormat::Prometheus, "text/plain; version=0.0.4"),
        "/stats" => (ExportFormat::Json, "application/json"),
        "/stats.bin" => {
            return full(StatusCode::OK, "application/octet-stream", super::binary::export_binary(core))
        }
        _ => return text(StatusCode::NOT_FOUND, "try /, /events, /metrics, /stats or /stats.bin\n"),
    };
    match export(core, format) {
        Ok(body) => full(StatusCode::OK, ctype, body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}

/// `GET /events[?peers=<torrent id>]`: the stream, listing the peers of
/// the given torrent in each message.
fn events<B>(core: &SessionCore, dashboard: &Dashboard, req: &Request<B>) -> Response<Body> {
    let peers_of = match query_param(req, "peers") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(id) => Some(TorrentId(id)),
            Err(_) => return text(StatusCode::BAD_REQUEST, "peers=<torrent id>: a number\n"),
        },
    };
    match dashboard.subscribe(core, peers_of) {
        Ok(stream) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(stream.boxed())
            .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response\n")),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "too many event streams open\n"),
    }
}

/// Whether `req` carries `token` in its Authorization header or its query.
fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let from_header = header.is_some_and(|given| same_secret(given, token));
    let from_query = query_param(req, "token").is_some_and(|given| same_secret(&given, token));
    from_header | from_query
}

/// Whether the request's `Host` (without its port) is an IP address or
/// `localhost`, or absent (HTTP/1.0 clients; browsers always send it).
fn host_is_local<B>(req: &Request<B>) -> bool {
    let Some(host) = req.headers().get(hyper::header::HOST) else { return true };
    let Ok(host) = host.to_str() else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(ip, _)| ip),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Compares two secrets in time that depends on neither: their SHA-256
/// digests (of fixed length, whatever the inputs' lengths) are compared
/// byte by byte without stopping at the first difference.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The percent-decoded value of the first `name=` parameter of the query.
fn query_param<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            let v = v.replace('+', " ");
            percent_encoding::percent_decode_str(&v).decode_utf8_lossy().into_owned()
        })
    })
}

/// A whole response: text, or bytes (a `Vec<u8>` goes in as it is).
fn full(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    full(status, "text/plain; charset=utf-8", body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn token_from_header_or_query() {
        assert!(authorized(&req("/", Some("Bearer s3cret")), "s3cret"));
        assert!(authorized(&req("/events?peers=1&token=s3cret", None), "s3cret"));
        assert!(authorized(&req("/?token=a%20b", None), "a b"), "percent-decoded");
        assert!(!authorized(&req("/", None), "s3cret"));
        assert!(!authorized(&req("/", Some("Bearer s3cre")), "s3cret"));
        assert!(!authorized(&req("/", Some("s3cret")), "s3cret"), "the Bearer scheme is required");
        assert!(!authorized(&req("/?token=", None), "s3cret"));
        assert!(!authorized(&req("/?tokens3cret", None), "s3cret"));
    }

    #[test]
    fn host_must_be_an_address_or_localhost() {
        let with_host = |h: &str| Request::builder().header("host", h).body(()).unwrap();
        for ok in ["127.0.0.1:9100", "127.0.0.1", "[::1]:9100", "localhost:9100", "LOCALHOST", "10.0.0.2:80"]
        {
            assert!(host_is_local(&with_host(ok)), "{ok}");
        }
        for bad in ["evil.example:9100", "evil.example", "127.0.0.1.evil.example", "[::1", ""] {
            assert!(!host_is_local(&with_host(bad)), "{bad}");
        }
        assert!(host_is_local(&req("/", None)), "no Host header (HTTP/1.0)");
    }

    #[test]
    fn same_secret_compares_whole_values() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }
}
