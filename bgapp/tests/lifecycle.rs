//! The lifecycle, driven in-process with the test driver on a paused
//! clock: deferrals, stop reasons and deadlines, exit statuses, previous
//! execution state, saved state trust, time limit, watchdog, sleep and
//! resume, fetch results, activations.

use std::time::Duration;

use bgapp::testing::TestDriver;
use bgapp::{
    Activation, CancellationReason, ExecutionState, ExitReason, FetchResult, LifecycleEvent,
    TaskInstance, Trigger, Trust,
};
use tokio::time::{sleep, Instant};

fn driver() -> TestDriver {
    TestDriver::new("lifecycle-test").configure(|m| m.stop_timeout_ms = 2_000)
}

async fn wait_and_save(task: TaskInstance) -> anyhow::Result<()> {
    let d = task.deferral();
    let stop = task.cancelled().await;
    task.state().save(&stop.reason().to_string())?;
    d.complete();
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_deferral_keeps_the_task_alive_until_completed() {
    let started = Instant::now();
    let outcome = driver()
        .run(|task: TaskInstance| async move {
            let d = task.deferral();
            tokio::spawn(async move {
                sleep(Duration::from_secs(30)).await;
                d.complete();
            });
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(outcome.exit_reason(), &ExitReason::Finished);
    assert!(started.elapsed() >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_deferral_completes() {
    let outcome = driver()
        .run(|task: TaskInstance| async move {
            let d = task.deferral();
            tokio::spawn(async move {
                sleep(Duration::from_secs(1)).await;
                drop(d);
            });
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_operator_stop_is_closed_by_user_and_a_shutdown_terminated() {
    let driver = driver();
    driver.handle().stop(CancellationReason::StopRequested);
    let first = driver.run(wait_and_save).await;
    assert_eq!(first.previous_execution_state(), ExecutionState::NotRunning);
    assert_eq!(first.exit_code(), 0);
    assert!(first.notifications().iter().any(|n| n == "STOPPING=1"));
    assert_eq!(
        first.notifications().first().map(String::as_str),
        Some("READY=1")
    );
    assert_eq!(
        first.saved_state::<String>().as_deref(),
        Some("stop-requested")
    );

    driver.handle().stop(CancellationReason::SystemShutdown);
    let second = driver.run(wait_and_save).await;
    assert_eq!(
        second.previous_execution_state(),
        ExecutionState::ClosedByUser
    );

    driver.handle().stop(CancellationReason::StopRequested);
    let third = driver.run(wait_and_save).await;
    assert_eq!(third.previous_execution_state(), ExecutionState::Terminated);
}

#[tokio::test(start_paused = true)]
async fn the_cancellation_carries_the_reason_and_the_stop_timeout_deadline() {
    let driver = driver();
    driver.handle().stop(CancellationReason::SystemShutdown);
    let outcome = driver
        .run(|task: TaskInstance| async move {
            let c = task.cancelled().await;
            assert_eq!(c.reason(), CancellationReason::SystemShutdown);
            assert_eq!(c.remaining(), Duration::from_secs(2));
            assert!(task.is_cancelled());
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn work_held_at_the_deadline_is_abandoned_with_status_3() {
    let driver = driver();
    driver.handle().stop_within(
        CancellationReason::StopRequested,
        Duration::from_millis(500),
    );
    let started = Instant::now();
    let outcome = driver
        .run(|task: TaskInstance| async move {
            let _d = task.deferral();
            std::future::pending::<()>().await;
        })
        .await;
    assert_eq!(outcome.exit_code(), 3);
    assert!(matches!(
        outcome.exit_reason(),
        ExitReason::DeadlineMissed { .. }
    ));
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    let next = driver.run(|_task: TaskInstance| async {}).await;
    assert_eq!(next.previous_execution_state(), ExecutionState::Crashed);
}

#[tokio::test(start_paused = true)]
async fn errors_panics_and_permanent_failures_have_their_statuses() {
    let driver = driver();
    let failed = driver
        .run(|_t: TaskInstance| async { Err::<(), _>(anyhow::anyhow!("disk full")) })
        .await;
    assert_eq!(failed.exit_code(), 1);
    assert_eq!(
        failed.exit_reason(),
        &ExitReason::Failed {
            message: "disk full".into()
        }
    );

    let permanent = driver
        .run(|_t: TaskInstance| async {
            Err::<(), anyhow::Error>(bgapp::Permanent::new("no config").into())
        })
        .await;
    assert_eq!(permanent.exit_code(), 4);

    let panicked = driver
        .run::<_, _, ()>(|_t: TaskInstance| async {
            panic!("the sensor is gone");
        })
        .await;
    assert_eq!(panicked.exit_code(), 1);
    assert_eq!(
        panicked.exit_reason(),
        &ExitReason::Panicked {
            message: "the sensor is gone".into()
        }
    );

    let after = driver
        .run(|t: TaskInstance| async move {
            assert_eq!(
                t.previous_execution().consecutive_crashes(),
                3,
                "three failures in a row"
            );
        })
        .await;
    assert_eq!(after.previous_execution_state(), ExecutionState::Crashed);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_runs_state_is_offered_only_explicitly() {
    let driver = driver();
    driver.handle().stop(CancellationReason::StopRequested);
    driver.run(wait_and_save).await;
    // This run saves, then crashes.
    driver
        .run::<_, _, ()>(|t: TaskInstance| async move {
            assert_eq!(
                t.state().load::<String>().unwrap().as_deref(),
                Some("stop-requested")
            );
            t.state().save(&"half-done".to_string()).unwrap();
            panic!("crash after saving");
        })
        .await;
    let outcome = driver
        .run(|t: TaskInstance| async move {
            assert_eq!(t.previous_execution_state(), ExecutionState::Crashed);
            assert_eq!(t.state().load::<String>().unwrap(), None);
            let (value, trust) = t.state().load_after_crash::<String>().unwrap().unwrap();
            assert_eq!(
                (value.as_str(), trust),
                ("half-done", Trust::WrittenBeforeCrash)
            );
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_cancels_with_its_reason() {
    let driver = driver().configure(|m| m.time_limit_ms = Some(60_000));
    let started = Instant::now();
    let outcome = driver
        .run(|task: TaskInstance| async move {
            let c = task.cancelled().await;
            assert_eq!(c.reason(), CancellationReason::TimeLimit);
        })
        .await;
    // Stopped in time, but a failure, as systemd's RuntimeMaxSec= is.
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    let next = driver.run(|_t: TaskInstance| async {}).await;
    assert_eq!(next.previous_execution_state(), ExecutionState::Terminated);
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_pings_only_while_heartbeats_arrive() {
    let driver = driver().configure(|m| m.watchdog_ms = Some(1_000));
    let outcome = driver
        .run(|task: TaskInstance| async move {
            for _ in 0..10 {
                task.heartbeat();
                sleep(Duration::from_millis(300)).await;
            }
            // Stalls: no more heartbeats.
            let stalled_at = Instant::now();
            let c = task.cancelled().await;
            assert_eq!(c.reason(), CancellationReason::Watchdog);
            // Found at the first ping after the heartbeat went stale, and
            // told to end before systemd's watchdog fires: an interval
            // after the last ping, less a margin.
            let found = Instant::now() - stalled_at;
            assert!(
                found <= Duration::from_millis(1_000),
                "found after {found:?}"
            );
            let left = c.remaining();
            assert!(
                left > Duration::ZERO && left < Duration::from_millis(1_000),
                "{left:?} left to stop, instead of the 5 s stop timeout"
            );
        })
        .await;
    let pings = outcome
        .notifications()
        .iter()
        .filter(|n| *n == "WATCHDOG=1")
        .count();
    assert!(
        (5..=8).contains(&pings),
        "{pings} pings in 3 s at a 500 ms period"
    );
    // Stopped in time, but a failure: the unit restarts it.
    assert_eq!(outcome.exit_code(), 1);
    let next = driver.run(|_t: TaskInstance| async {}).await;
    assert_eq!(next.previous_execution_state(), ExecutionState::Terminated);
}

#[tokio::test(start_paused = true)]
async fn a_task_saving_during_a_stop_keeps_the_watchdog_fed() {
    // A stop the runtime starts itself (the time limit) leaves systemd's
    // watchdog armed; the task saves without beating and must not be
    // taken for stalled.
    let driver = driver().configure(|m| {
        m.watchdog_ms = Some(1_000);
        m.time_limit_ms = Some(2_000);
        m.stop_timeout_ms = 5_000;
    });
    let outcome = driver
        .run(|task: TaskInstance| async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(200));
            let c = loop {
                tokio::select! {
                    c = task.cancelled() => break c,
                    _ = ticks.tick() => task.heartbeat(),
                }
            };
            assert_eq!(c.reason(), CancellationReason::TimeLimit);
            assert_eq!(c.remaining(), Duration::from_secs(5));
            // Saving, no heartbeats, for three watchdog intervals.
            sleep(Duration::from_secs(3)).await;
        })
        .await;
    let pings = outcome
        .notifications()
        .iter()
        .filter(|n| *n == "WATCHDOG=1")
        .count();
    // 2 s running and 3 s saving at one ping per 500 ms.
    assert!(pings >= 9, "{pings} pings in 5 s");
    assert_eq!(
        outcome.exit_code(),
        1,
        "a time-limit stop, not a watchdog one"
    );
    assert!(
        !outcome
            .notifications()
            .iter()
            .any(|n| n.contains("stopping (watchdog)")),
        "{:?}",
        outcome.notifications()
    );
}

#[tokio::test(start_paused = true)]
async fn sleep_and_resume_reach_the_task() {
    let driver = driver();
    let handle = driver.handle();
    let outcome = driver
        .run(move |task: TaskInstance| async move {
            let mut events = task.events();
            let watcher = tokio::spawn(async move { (events.next().await, events.next().await) });
            tokio::task::yield_now().await;
            handle.sleep(Duration::from_secs(5));
            tokio::task::yield_now().await;
            handle.resume();
            let (a, b) = watcher.await.unwrap();
            assert!(matches!(a, LifecycleEvent::Suspending { .. }));
            assert_eq!(b, LifecycleEvent::Resuming);
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn fetch_results_decide_the_status_and_exit_code() {
    let driver = TestDriver::new("fetcher")
        .configure(|m| {
            m.trigger = Trigger::Timer {
                schedule: bgapp::Schedule::Every(Duration::from_secs(900)),
            };
        })
        .fire_timer();
    for (result, code) in [
        (FetchResult::NewData, 0),
        (FetchResult::NoData, 5),
        (FetchResult::Failed, 1),
    ] {
        let outcome = driver
            .run(move |task: TaskInstance| async move {
                assert!(matches!(
                    task.activation(),
                    Activation::Timer { fired_at: Some(_) }
                ));
                task.report(result);
            })
            .await;
        assert_eq!(outcome.exit_code(), code, "{result}");
        assert_eq!(
            outcome.status(),
            Some(format!("last fetch: {result}").as_str())
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_interrupt_ends_at_once() {
    let driver = driver();
    driver.handle().interrupt();
    driver.handle().interrupt();
    let outcome = driver
        .run(|task: TaskInstance| async move {
            let _d = task.deferral();
            std::future::pending::<()>().await;
        })
        .await;
    assert_eq!(outcome.exit_code(), 130);
}

#[tokio::test(start_paused = true)]
async fn an_unusable_state_directory_costs_the_record_not_the_run() {
    // As the process entry does: the task runs, without its record and
    // saved state, instead of the run failing.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let driver = driver().state_dir(file.join("state"));
    let outcome = driver
        .run(|task: TaskInstance| async move {
            assert_eq!(task.previous_execution_state(), ExecutionState::NotRunning);
        })
        .await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(outcome.exit_reason(), &ExitReason::Finished);
    let again = driver.run(|_task: TaskInstance| async {}).await;
    assert_eq!(
        again.previous_execution_state(),
        ExecutionState::NotRunning,
        "nothing was recorded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_triggered_task_in_a_crash_loop_is_not_run_and_fails_permanently() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let runs = Arc::new(AtomicU32::new(0));
    let crash = |runs: &Arc<AtomicU32>| {
        let runs = runs.clone();
        move |_task: TaskInstance| async move {
            if runs.fetch_add(1, Ordering::SeqCst) < u32::MAX {
                panic!("boom");
            }
        }
    };
    let driver = TestDriver::new("looper")
        .configure(|m| {
            m.trigger = Trigger::Timer {
                schedule: bgapp::Schedule::Every(Duration::from_secs(900)),
            };
        })
        .fire_timer();
    let limit = bgapp_manifest::policy::CRASH_LOOP_LIMIT;
    for _ in 0..limit {
        assert_eq!(driver.run(crash(&runs)).await.exit_code(), 1);
    }
    assert_eq!(runs.load(Ordering::SeqCst), limit);
    // The next starts, by the trigger or a restart, do not run it.
    for _ in 0..2 {
        let outcome = driver.run(crash(&runs)).await;
        assert_eq!(outcome.exit_code(), bgapp::exit::PERMANENT_FAILURE);
        match outcome.exit_reason() {
            ExitReason::FailedPermanently { message } => assert!(
                message.contains(&format!("crashed {limit} times in a row (crash loop)"))
                    && message.contains("systemctl reset-failed"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(runs.load(Ordering::SeqCst), limit, "not run");
    }
    // A start by hand runs it; a clean end clears the loop.
    let driver = driver.activation(Activation::Manual);
    let outcome = driver.run(|_task: TaskInstance| async {}).await;
    assert_eq!(outcome.exit_code(), 0);
    let driver = driver.fire_timer();
    assert_eq!(driver.run(crash(&runs)).await.exit_code(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), limit + 1);
}
