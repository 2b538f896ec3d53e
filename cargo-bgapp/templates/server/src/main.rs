//! {{name}}: see README.md.
//!
//! A socket-activated service, like a Windows IoT background app "waiting for input":
//! systemd listens on `{{port}}` and starts the task at the first
//! connection. The task answers each line a client sends with the same
//! line, until the client hangs up. Asked to stop, it stops accepting,
//! lets the requests in flight finish before the deadline, and exits.
//!
//! Try it: `cargo bgapp run`, then `nc localhost {{port}}` and type.

use bgapp::TaskInstance;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

// `args = "none"`: bgapp answers `--help` and `--version`.
#[bgapp::background_task(
    trigger = socket(listen = "{{port}}"),
    stop_timeout = "5s",
    args = "none"
)]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    // The socket systemd passed, or, run by hand, `{{port}}` bound here.
    let listener = task.tcp_listener().await?;
    serve(task, listener).await
}

/// Accepts connections until the task is asked to stop, then waits for the
/// connections still open until the stop deadline.
async fn serve(task: TaskInstance, listener: TcpListener) -> anyhow::Result<()> {
    tracing::info!("listening on {}", listener.local_addr()?);
    task.set_status("accepting connections");
    let mut connections = JoinSet::new();
    let stop = loop {
        tokio::select! {
            stop = task.cancelled() => break stop,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!("connection from {peer}");
                    connections.spawn(answer(task.clone(), stream));
                }
                // Too many open files, a connection reset before it was
                // accepted: not the listener's fault, keep going.
                Err(error) => tracing::warn!("failed to accept a connection: {error}"),
            },
            Some(ended) = connections.join_next() => log_connection_end(ended),
        }
    };

    drop(listener);
    tracing::info!(
        "stopping ({}): {} connections open",
        stop.reason(),
        connections.len()
    );
    task.set_status("stopping");
    let drained = tokio::time::timeout_at(stop.deadline(), async {
        while let Some(ended) = connections.join_next().await {
            log_connection_end(ended);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("{} connections did not finish in time", connections.len());
    }
    Ok(())
}

/// Answers one client: each line it sends comes back. Between requests,
/// a stop request closes the connection; a request already read is
/// answered first.
async fn answer(task: TaskInstance, stream: TcpStream) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    loop {
        let line = tokio::select! {
            // A request that has arrived is answered even when the stop
            // came at the same moment.
            biased;
            line = lines.next_line() => line?,
            _ = task.cancelled() => break,
        };
        let Some(line) = line else {
            break; // The client hung up.
        };
        writer.write_all(line.as_bytes()).await?;
        writer.write_all(b"\n").await?;
    }
    writer.shutdown().await
}

fn log_connection_end(ended: Result<std::io::Result<()>, tokio::task::JoinError>) {
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!("connection failed: {error}"),
        Err(error) => tracing::error!("connection task failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use bgapp::CancellationReason;
    use bgapp::testing::TestDriver;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    use super::serve;

    #[tokio::test]
    async fn answers_requests_and_stops_gracefully() {
        let driver = TestDriver::new("{{name}}");
        let handle = driver.handle();
        // A port of the test's own instead of `{{port}}`, which may be taken.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();

        let client = tokio::spawn(async move {
            let stream = TcpStream::connect(address).await.unwrap();
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            writer.write_all(b"hello\nworld\n").await.unwrap();
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("hello"));
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("world"));

            handle.stop(CancellationReason::StopRequested);
            // The server closes the connection.
            assert_eq!(lines.next_line().await.unwrap(), None);
        });

        let outcome = driver.run(|task| serve(task, listener)).await;
        client.await.unwrap();
        assert_eq!(outcome.exit_code(), 0);
        let notifications = outcome.notifications();
        assert!(
            notifications.contains(&"STATUS=stopping".to_string()),
            "{notifications:?}"
        );
    }
}
