//! What the system is doing: shutting down, going to sleep, waking up.

use bgapp_manifest::TaskManifest;
use tokio::sync::mpsc;

use crate::lifecycle::Control;
use crate::CancellationReason;

/// Why a SIGTERM arrived: an operator stop, or the system shutting down.
pub(crate) async fn stop_reason() -> CancellationReason {
    CancellationReason::StopRequested
}

/// Watches logind for sleep and shutdown, where it is reachable.
pub(crate) fn watch(_tx: mpsc::UnboundedSender<Control>, _manifest: &TaskManifest) {}
