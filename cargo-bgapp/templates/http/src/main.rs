//! {{name}}: see README.md.
//!
//! An HTTP service on axum, socket-activated: systemd listens on
//! `{{port}}` and starts the task at the first connection. `GET /health`
//! answers `ok`; `GET /work/{ms}` answers after `ms` milliseconds, a
//! stand-in for a request's real work. Asked to stop, it stops accepting,
//! answers the requests in flight whole before the stop deadline, and
//! exits.
//!
//! Try it: `cargo bgapp run`, then `curl localhost:{{port}}/health`.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bgapp::TaskInstance;
use tokio::net::TcpListener;

#[bgapp::background_task(
    trigger = socket(listen = "{{port}}"),
    stop_timeout = "10s",
    ready = "explicit"
)]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    // The socket systemd passed; run by hand, `{{port}}`, or the address
    // after `--listen`.
    let listener = match task.args() {
        [] => task.tcp_listener().await?,
        [flag, address] if flag == "--listen" => task.tcp_listener_or(address.as_str())?,
        _ => return Err(bgapp::Usage::new("the only option is `--listen ADDRESS:PORT`").into()),
    };
    serve(task, listener).await
}

/// Serves until the task is asked to stop, then answers the requests in
/// flight until the stop deadline.
async fn serve(task: TaskInstance, listener: TcpListener) -> anyhow::Result<()> {
    tracing::info!("listening on {}", listener.local_addr()?);
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/work/{ms}", get(work));
    // `READY=1`: `systemctl start` returns once the socket is ours.
    task.ready();
    task.set_status("serving");
    let server = axum::serve(listener, app).with_graceful_shutdown(task.shutdown());
    match task.drain(server).await {
        Some(served) => served?,
        None => tracing::warn!("requests still in flight at the stop deadline were dropped"),
    }
    Ok(())
}

/// Works for `ms` milliseconds (at most a minute), then answers.
async fn work(Path(ms): Path<u64>) -> String {
    let ms = ms.min(60_000);
    tracing::debug!("working {ms} ms");
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("worked {ms} ms\n")
}

#[cfg(test)]
mod tests {
    use bgapp::CancellationReason;
    use bgapp::testing::TestDriver;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::serve;

    /// One HTTP/1.1 request on its own connection; the whole response.
    async fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn answers_and_finishes_requests_in_flight_at_stop() {
        let driver = TestDriver::new("{{name}}");
        let handle = driver.handle();
        // A port of the test's own instead of `{{port}}`, which may be taken.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();

        let client = tokio::spawn(async move {
            let health = get(address, "/health").await;
            assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
            assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
            // A request in flight when the stop comes is answered whole.
            let in_flight = tokio::spawn(get(address, "/work/300"));
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            handle.stop(CancellationReason::StopRequested);
            let answer = in_flight.await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
            assert!(answer.ends_with("worked 300 ms\n"), "{answer}");
        });

        let outcome = driver.run(|task| serve(task, listener)).await;
        client.await.unwrap();
        assert_eq!(outcome.exit_code(), 0, "{}", outcome.exit_reason());
        assert!(outcome.notifications().contains(&"READY=1".to_string()));
    }
}
