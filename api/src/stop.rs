//! The stop every background task of a process shares: a flag set once, when the process
//! begins to shut down.

use tokio::sync::watch;

/// Resolves once `stop` holds `true`, or once its sender is gone (nothing can tell it any
/// more, so it stops as well).
pub async fn told_to_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
