//! What an existing daemon needs from the runtime, driven in-process: its
//! own command line (`Usage`, clap errors, help and version leave no run
//! record), explicit readiness, the shutdown future and `drain` for
//! server frameworks, and listeners that follow the daemon's address.

use std::time::Duration;

use bgapp::testing::TestDriver;
use bgapp::{CancellationReason, ExecutionState, ExitReason, Readiness, TaskInstance, Usage};
use tokio::time::{sleep, Instant};

fn record(driver: &TestDriver, name: &str) -> Option<String> {
    std::fs::read_to_string(driver.path().join(format!("{name}.run"))).ok()
}

#[derive(clap::Parser, Debug)]
#[command(name = "exporter", version = "1.2.3")]
struct Cli {
    #[arg(short, long, default_value_t = 9586)]
    port: u16,
    #[arg(short, long)]
    verbose: bool,
}

async fn exporter(task: TaskInstance) -> anyhow::Result<()> {
    let cli: Cli = task.parse_args()?;
    task.set_status(format!("port {}", cli.port));
    Ok(())
}

#[tokio::test]
async fn help_version_and_bad_flags_are_not_runs() {
    let name = "adopt-clap";
    for (args, code) in [
        (&["--version"][..], 0),
        (&["--help"][..], 0),
        (&["--no-such-flag"][..], 2),
        (&["-p", "not-a-port"][..], 2),
    ] {
        let driver = TestDriver::new(name).args(args.iter().copied());
        let outcome = driver.run(exporter).await;
        assert_eq!(outcome.exit_code(), code, "{args:?}");
        assert_eq!(
            outcome.exit_reason(),
            &ExitReason::Usage { code },
            "{args:?}"
        );
        assert!(
            outcome.notifications().is_empty(),
            "no READY=1 for {args:?}: {:?}",
            outcome.notifications()
        );
        assert_eq!(record(&driver, name), None, "no run record for {args:?}");
    }
    // A command line it accepts is a run.
    let driver = TestDriver::new(name).args(["-p", "1234"]);
    let outcome = driver.run(exporter).await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(outcome.status(), Some("port 1234"));
    assert!(outcome.notifications().contains(&"READY=1".to_string()));
    assert!(record(&driver, name).is_some_and(|r| r.contains("exit=finished")));
}

#[tokio::test]
async fn a_clap_error_through_anyhow_is_a_usage_too() {
    use clap::Parser as _;
    for (args, code) in [(&["--version"][..], 0), (&["-p", "x"][..], 2)] {
        let driver = TestDriver::new("adopt-builder").args(args.iter().copied());
        let outcome = driver
            .run(|task: TaskInstance| async move {
                let _cli = Cli::try_parse_from(task.argv())?;
                anyhow::Ok(())
            })
            .await;
        assert_eq!(
            outcome.exit_reason(),
            &ExitReason::Usage { code },
            "{args:?}"
        );
        assert_eq!(record(&driver, "adopt-builder"), None);
    }
}

#[tokio::test]
async fn a_usage_error_leaves_the_last_run_as_the_next_start_sees_it() {
    let driver = TestDriver::new("adopt-usage");
    let handle = driver.handle();
    handle.stop(CancellationReason::StopRequested);
    let outcome = driver
        .run(|task: TaskInstance| async move {
            task.cancelled().await;
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
    let before = record(&driver, "adopt-usage").expect("a stopped run is recorded");
    // Refused after its first `.await` (the run had started): the record
    // is put back as it was.
    let outcome = driver
        .run(|_task: TaskInstance| async move {
            tokio::task::yield_now().await;
            Err::<(), _>(Usage::new("`--port` needs a number"))
        })
        .await;
    assert_eq!(outcome.exit_code(), bgapp::exit::USAGE);
    assert_eq!(
        record(&driver, "adopt-usage").as_deref(),
        Some(before.as_str())
    );
    let outcome = driver.run(|_task: TaskInstance| async move {}).await;
    assert_eq!(
        outcome.previous_execution_state(),
        ExecutionState::ClosedByUser
    );
}

#[tokio::test(start_paused = true)]
async fn explicit_readiness_waits_for_the_task() {
    let driver = TestDriver::new("adopt-ready").configure(|m| m.ready = Readiness::Explicit);
    let outcome = driver
        .run(|task: TaskInstance| async move {
            sleep(Duration::from_secs(1)).await;
            task.set_status("bound");
            task.ready();
            sleep(Duration::from_secs(1)).await;
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
    let notes = outcome.notifications();
    let ready = notes
        .iter()
        .position(|n| n == "READY=1")
        .expect("READY=1 sent");
    let bound = notes.iter().position(|n| n == "STATUS=bound").unwrap();
    assert!(
        bound < ready,
        "READY=1 only after the task said so: {notes:?}"
    );
    assert_eq!(notes[0], "STATUS=starting", "{notes:?}");

    // Ending before it said so fails the start.
    let outcome = driver
        .run(|_task: TaskInstance| async move {
            sleep(Duration::from_secs(1)).await;
        })
        .await;
    assert_eq!(outcome.exit_code(), bgapp::exit::FAILURE);
    assert!(
        matches!(outcome.exit_reason(), ExitReason::Failed { message } if message.contains("before it said it was ready")),
        "{:?}",
        outcome.exit_reason()
    );
    assert!(!outcome.notifications().contains(&"READY=1".to_string()));

    // By default READY=1 comes at the start, and ready() changes nothing.
    let driver = TestDriver::new("adopt-ready-default");
    let outcome = driver
        .run(|task: TaskInstance| async move {
            sleep(Duration::from_secs(1)).await;
            task.ready();
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
    let readies = outcome
        .notifications()
        .iter()
        .filter(|n| *n == "READY=1")
        .count();
    assert_eq!(readies, 1, "{:?}", outcome.notifications());
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_future_fires_on_cancellation_and_drain_stops_at_the_deadline() {
    let driver = TestDriver::new("adopt-drain").configure(|m| m.stop_timeout_ms = 2_000);
    let handle = driver.handle();
    let stopper = tokio::spawn(async move {
        sleep(Duration::from_secs(5)).await;
        handle.stop(CancellationReason::StopRequested);
    });
    let started = Instant::now();
    let outcome = driver
        .run(move |task: TaskInstance| async move {
            // Given away to another task, as a framework does.
            let shutdown = tokio::spawn(task.shutdown());
            shutdown.await.unwrap();
            assert_eq!(started.elapsed(), Duration::from_secs(5));
            // In-flight work that ends in time is awaited whole...
            let quick = task.drain(sleep(Duration::from_millis(500))).await;
            assert_eq!(quick, Some(()));
            // ...work that would not is given up just before the deadline.
            let slow = task.drain(sleep(Duration::from_secs(60))).await;
            assert_eq!(slow, None);
            let at = started.elapsed();
            assert!(
                at < Duration::from_secs(7) && at >= Duration::from_millis(6_800),
                "gave up at {at:?}"
            );
        })
        .await;
    stopper.await.unwrap();
    assert_eq!(outcome.exit_code(), 0, "{}", outcome.exit_reason());
    assert_eq!(
        outcome.exit_reason(),
        &ExitReason::Stopped {
            reason: CancellationReason::StopRequested
        }
    );
}

#[tokio::test]
async fn listeners_bind_the_daemons_own_address_when_none_was_passed() {
    let driver = TestDriver::new("adopt-listen");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    // A socket file an earlier run left behind does not stop the bind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let path = socket.clone();
    let outcome = driver
        .run(move |task: TaskInstance| async move {
            let tcp = task.tcp_listener_or(("127.0.0.1", 0))?;
            let addr = tcp.local_addr()?;
            assert!(addr.ip().is_loopback() && addr.port() != 0);
            let client = tokio::net::TcpStream::connect(addr);
            let (accepted, connected) = tokio::join!(tcp.accept(), client);
            accepted?;
            connected?;
            let unix = task.unix_listener_or(&path)?;
            let (accepted, connected) =
                tokio::join!(unix.accept(), tokio::net::UnixStream::connect(&path));
            accepted?;
            connected?;
            anyhow::Ok(())
        })
        .await;
    assert_eq!(outcome.exit_code(), 0, "{}", outcome.exit_reason());
    // A file that is not a socket is not removed.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "data").unwrap();
    let path = plain.clone();
    let outcome = driver
        .run(move |task: TaskInstance| async move { task.unix_listener_or(&path).map(drop) })
        .await;
    assert_eq!(outcome.exit_code(), 1);
    assert!(
        matches!(outcome.exit_reason(), ExitReason::Failed { message } if message.contains("is not a socket")),
        "{}",
        outcome.exit_reason()
    );
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "data");
}
