//! The benchmark's baseline: the same app with plain `#[tokio::main]`,
//! waiting for SIGTERM or Ctrl-C and exiting.

use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() {
    eprintln!("hello");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
