//! The outbound benchmark's platform and load tools: a fake Graph Send API on a local port, and
//! a helper that runs a fixed number of operations with a fixed number in flight.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fake Graph Send API: `POST /{page}/messages` answered 200 with a message id after the
/// configured latency. It counts calls and the time they spent inside it.
#[derive(Clone)]
pub struct FakeGraph {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<FakeState>,
}

struct FakeState {
    latency: Duration,
    origin: Instant,
    calls: AtomicUsize,
    busy_nanos: AtomicU64,
    /// Nanoseconds from `origin` to the phase's first call; 0 until there is one.
    first_call: AtomicU64,
}

impl FakeGraph {
    /// Starts the fake on `127.0.0.1:0`.
    pub async fn start(latency: Duration) -> anyhow::Result<Self> {
        let state = Arc::new(FakeState {
            latency,
            origin: Instant::now(),
            calls: AtomicUsize::new(0),
            busy_nanos: AtomicU64::new(0),
            first_call: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/{page}/messages", axum::routing::post(send_api))
            .with_state(state.clone())
            .merge(crate::fake_meta_app::routes());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { base, state })
    }

    /// Calls received in this phase.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::Relaxed)
    }

    /// Starts a new phase: forgets calls, busy time and the first call.
    pub fn reset(&self) {
        self.state.calls.store(0, Ordering::Relaxed);
        self.state.busy_nanos.store(0, Ordering::Relaxed);
        self.state.first_call.store(0, Ordering::Relaxed);
    }

    /// When the phase's first call arrived.
    pub fn first_call(&self) -> Option<Instant> {
        match self.state.first_call.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(self.state.origin + Duration::from_nanos(nanos)),
        }
    }

    /// Mean number of calls inside the fake over `wall`.
    pub fn mean_in_flight(&self, wall: Duration) -> f64 {
        self.state.busy_nanos.load(Ordering::Relaxed) as f64 / wall.as_nanos().max(1) as f64
    }
}

async fn send_api(
    State(state): State<Arc<FakeState>>,
    Path(_page): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    let entered = Instant::now();
    let since_origin = entered.duration_since(state.origin).as_nanos().max(1) as u64;
    let _ =
        state
            .first_call
            .compare_exchange(0, since_origin, Ordering::Relaxed, Ordering::Relaxed);
    let n = state.calls.fetch_add(1, Ordering::Relaxed);
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let recipient = body["recipient"]["id"].as_str().unwrap_or_default();
    let answer = json!({"recipient_id": recipient, "message_id": format!("m_{recipient}_{n}")});
    let spent = entered.elapsed().as_nanos() as u64;
    state.busy_nanos.fetch_add(spent, Ordering::Relaxed);
    (StatusCode::OK, axum::Json(answer))
}

/// Runs `operation(0..total)` with `concurrency` in flight; operations per second.
pub async fn concurrently<F, Fut>(
    total: usize,
    concurrency: usize,
    operation: F,
) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, total.max(1)) {
        let (next, operation) = (next.clone(), operation.clone());
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                operation(n).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
