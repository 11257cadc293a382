//! The statistics endpoint (`stats_listen`): an HTTP server on the session's
//! runtime that serves the exports of `super` until the session stops.

use std::net::SocketAddr;
use std::sync::Weak;

use super::{export, ExportFormat};
use crate::engine::session::SessionCore;

/// Serves `GET /metrics` (Prometheus) and `GET /stats` (JSON) on `addr`
/// until the session stops. Answers the bound address.
pub(crate) async fn serve(
    core: Weak<SessionCore>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper::{Method, Response, StatusCode};

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let shutdown = match core.upgrade() {
        Some(c) => c.shutdown.clone(),
        None => return Err(std::io::Error::other("session gone")),
    };
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let core = core.clone();
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let core = core.clone();
                async move {
                    let reply = |status: StatusCode, ctype: &str, body: String| {
                        Response::builder()
                            .status(status)
                            .header("content-type", ctype)
                            .body(Full::new(Bytes::from(body)))
                    };
                    let Some(core) = core.upgrade() else {
                        return reply(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            "session stopped\n".into(),
                        );
                    };
                    let (format, ctype) = match (req.method(), req.uri().path()) {
                        (&Method::GET, "/metrics") => (ExportFormat::Prometheus, "text/plain; version=0.0.4"),
                        (&Method::GET, "/stats") => (ExportFormat::Json, "application/json"),
                        _ => {
                            return reply(
                                StatusCode::NOT_FOUND,
                                "text/plain",
                                "try /metrics or /stats\n".into(),
                            )
                        }
                    };
                    match export(&core, format) {
                        Ok(body) => reply(StatusCode::OK, ctype, body),
                        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
                    }
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok((local, task))
}
