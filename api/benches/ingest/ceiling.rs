//! Ceilings A and B: bare axum servers, each in its own process (this binary, re-executed).

use super::load;
use super::server::Server;
use super::settings::{required, APP_SECRET_ENV};
use anyhow::{bail, ensure};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_adapters::channels::meta::SIGNATURE_HEADER;
use switchboard_adapters::channels::webhook::{hex_signature_matches, hmac_sha256};
use tokio::net::TcpListener;

/// Selects a ceiling server role when this binary is re-executed as one.
pub const ROLE_ENV: &str = "SWITCHBOARD_BENCH_ROLE";

/// The address a ceiling server binds.
pub const ROLE_ADDR_ENV: &str = "SWITCHBOARD_BENCH_ROLE_ADDR";

/// A child process, killed when dropped.
pub struct Child {
    process: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Child {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the ceiling server for `server` (A or B) and waits until it accepts connections.
pub fn spawn(server: Server, secret: &str) -> anyhow::Result<Child> {
    let role = match server {
        Server::Bare => "bare",
        Server::VerifyParse => "verify-parse",
        Server::Ours => bail!("ours is not a ceiling"),
    };
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let process = Command::new(std::env::current_exe()?)
        .env(ROLE_ENV, role)
        .env(ROLE_ADDR_ENV, addr.to_string())
        .env(APP_SECRET_ENV, secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let child = Child { process, addr };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        ensure!(Instant::now() < deadline, "the {role} server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

/// The child side: serves `role` on `SWITCHBOARD_BENCH_ROLE_ADDR` until killed, on the
/// same kind of runtime as `switchboard serve` (multi-threaded, one worker per core).
pub fn serve(role: &str) -> anyhow::Result<()> {
    let addr: SocketAddr = required(ROLE_ADDR_ENV)?.parse()?;
    let route = load::webhook_path("{integration_id}");
    let router = match role {
        "bare" => Router::new().route(&route, post(bare)),
        "verify-parse" => Router::new()
            .route(&route, post(verify_parse))
            .with_state(Arc::<str>::from(required(APP_SECRET_ENV)?)),
        other => bail!("unknown {ROLE_ENV} {other}"),
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        axum::serve(listener, router).await?;
        Ok(())
    })
}

/// Ceiling A: reads the body, answers 200.
async fn bare(_body: Bytes) -> StatusCode {
    StatusCode::OK
}

/// Ceiling B: checks `X-Hub-Signature-256` over the raw body, parses the JSON, answers 200.
async fn verify_parse(
    State(secret): State<Arc<str>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let expected = hmac_sha256(secret.as_bytes(), &[&body]);
    let signed = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("sha256="))
        .is_some_and(|given| hex_signature_matches(given, &expected));
    if !signed {
        return StatusCode::UNAUTHORIZED;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}
