//! HTTP GET with a size bound, for .torrent URLs and the stats endpoint.
//!
//! reqwest's async client on a runtime of its own (the library's reqwest
//! already has everything it needs; its blocking client would add a feature
//! to the library's build). Proxy variables are ignored, as in the engine:
//! the endpoint is usually on this machine and must not be sent elsewhere.

use std::time::Duration;

/// How long one request may take, connection to last byte.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A reply: its status and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// GETs `url`, reading at most `limit` bytes of body (more is an error),
/// with `Authorization: Bearer <token>` when a token is given.
pub fn get(url: &str, token: Option<&str>, limit: usize) -> Result<Reply, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the HTTP runtime: {e}"))?;
    runtime.block_on(get_async(url, token, limit))
}

async fn get_async(url: &str, token: Option<&str>, limit: usize) -> Result<Reply, String> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("lt-cli/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.map_err(|e| format!("{url}: {}", with_causes(&e)))?;
    let too_large = || format!("{url}: the reply is larger than {limit} bytes");
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {}", with_causes(&e)))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply { status, body })
}

/// An error with its causes ("error sending request: connection refused"):
/// reqwest's own message names only the step that failed.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
