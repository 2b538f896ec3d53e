// A `tracing` subscriber the app installs before `bgapp::run()` is kept:
// bgapp's lifecycle lines and the task's own events reach it.

use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata};

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Collect;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        SEEN.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[bgapp::background_task(name = "subscribed")]
async fn subscribed(_task: bgapp::TaskInstance) {
    tracing::info!("from the task");
}

fn main() -> std::process::ExitCode {
    tracing::subscriber::set_global_default(Collect).unwrap();
    let code = bgapp::run();
    let seen = SEEN.lock().unwrap().clone();
    for line in [
        "task `subscribed` started",
        "from the task",
        "task `subscribed` exited with status 0",
    ] {
        assert!(seen.iter().any(|l| l.contains(line)), "`{line}` not in {seen:?}");
    }
    code
}
