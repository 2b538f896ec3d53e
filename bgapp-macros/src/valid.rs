//! Checks the function's signature and the options together, and resolves
//! defaults, producing the [`Task`] that `expand.rs` generates code for.

use std::time::Duration;

use bgapp_manifest::{
    format_duration, parse_duration, Arguments, Calendar, ListenAddress, PathCondition, Readiness,
    Restart, Schedule, TaskManifest, Trigger, DEFAULT_STOP_TIMEOUT, FORMAT_VERSION,
};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::ast::{Runtime, Task};
use crate::attr::{did_you_mean, list_words, Errors, RawArgs, RawTrigger, Str, TRIGGERS};

/// Checks the function a task is declared on.
pub fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        errors.push(c.span(), "a background task cannot be a `const fn`");
    }
    if let Some(u) = &sig.unsafety {
        errors.push(
            u.span(),
            "a background task cannot be `unsafe`; keep the unsafe code inside its body",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push_spanned(
            abi,
            "a background task cannot have an `extern` ABI; remove it",
        );
    }
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format!(
                "a background task must be an `async fn`; add `async` before `fn {}`",
                sig.ident
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push_spanned(
            &sig.generics,
            "a background task cannot be generic; the runtime calls it with one concrete `TaskInstance`",
        );
    }
    if let Some(w) = &sig.generics.where_clause {
        errors.push_spanned(
            w,
            "a background task cannot have a `where` clause; remove it",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.push_spanned(v, "a background task cannot be variadic");
    }
    check_inputs(func, errors);
    check_output(&sig.output, errors);
}

fn check_inputs(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        None => errors.push(
            sig.paren_token.span.join(),
            "a background task takes one argument; write `task: bgapp::TaskInstance`",
        ),
        Some(FnArg::Receiver(r)) => errors.push_spanned(
            r,
            "a background task cannot take `self`; make it a free function taking `task: bgapp::TaskInstance`",
        ),
        Some(FnArg::Typed(pat)) => check_instance_type(&pat.ty, errors),
    }
    for extra in inputs {
        errors.push_spanned(
            extra,
            "a background task takes only its `TaskInstance`; remove this argument (the command line is in `task.args()`)",
        );
    }
}

/// Types that are surely not a `TaskInstance`, refused here with the
/// macro's own message. Any other path may name it under another name
/// (`use bgapp::TaskInstance as Task`, a type alias): the expansion asserts
/// the type instead, and rustc reports a mismatch at the type.
const NOT_AN_INSTANCE: &[&str] = &[
    "bool",
    "char",
    "str",
    "String",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "f32",
    "f64",
    "Vec",
    "Option",
    "Result",
    "Box",
    "Arc",
    "Rc",
    "Path",
    "PathBuf",
    "Duration",
    "Activation",
    "Cancellation",
];

fn check_instance_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last();
            if last.is_none_or(|s| NOT_AN_INSTANCE.iter().any(|n| s.ident == n)) {
                errors.push_spanned(
                    ty,
                    format!("expected `bgapp::TaskInstance`, found `{}`", type_name(ty)),
                );
            }
        }
        Type::Reference(r) => errors.push_spanned(
            r,
            "a background task takes its `TaskInstance` by value; write `task: bgapp::TaskInstance` (it is cheap to clone)",
        ),
        _ => errors.push_spanned(
            ty,
            format!("expected `bgapp::TaskInstance`, found `{}`", type_name(ty)),
        ),
    }
}

/// A type as a message shows it: `Vec<String>`, not `Vec < String >`.
fn type_name(ty: &Type) -> String {
    let text = quote::quote!(#ty).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let drop_space = c == ' '
            && (out.ends_with(['<', '(', '[', '&', ':'])
                || matches!(next, Some('<' | '>' | ')' | ']' | ',' | ':' | ';')));
        if !drop_space {
            out.push(c);
        }
    }
    out
}

fn check_output(output: &ReturnType, errors: &mut Errors) {
    let ReturnType::Type(_, ty) = output else {
        return;
    };
    let ok = match &**ty {
        Type::Tuple(t) => t.elems.is_empty(),
        // A path may name an alias (`type AppResult = ...`), so the
        // expansion's `TaskReturn` bound judges it, with its own message.
        Type::Path(p) => p.qself.is_none(),
        _ => false,
    };
    if !ok {
        errors.push_spanned(
            ty,
            format!(
                "a background task returns `()` or `Result<(), E>` where `E: Display`, not `{}`",
                type_name(ty)
            ),
        );
    }
}

fn duration(opt: &Option<Str>, key: &str, errors: &mut Errors) -> Option<Duration> {
    let s = opt.as_ref()?;
    match parse_duration(&s.value) {
        Ok(d) if d.is_zero() => {
            errors.push(s.span, format!("`{key}` must be longer than zero"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(s.span, format!("invalid duration `{}`: {e}", s.value));
            None
        }
    }
}

/// Whether systemd knows a time zone: `UTC`, or a zone of the tz database
/// as the build machine has it (`/usr/share/zoneinfo`). A machine without
/// the database cannot tell, so every well-formed name is accepted there.
fn known_timezone(tz: &str) -> bool {
    let db = std::path::Path::new("/usr/share/zoneinfo");
    tz == "UTC"
        || !db.is_dir()
        || (!tz.split('/').any(|c| c == ".." || c == "." || c.is_empty()) && db.join(tz).is_file())
}

/// Resolves `trigger = ...` into the manifest's model.
fn trigger(raw: &RawTrigger, errors: &mut Errors) -> Option<Trigger> {
    let kind = raw.kind.to_string();
    let args = raw.args.as_deref().unwrap_or(&[]);
    let no_args = |errors: &mut Errors| {
        if let Some(args) = &raw.args {
            let span = args.first().map(|(k, _)| k.span()).unwrap_or(raw.span);
            errors.push(
                span,
                format!("the `{kind}` trigger takes no arguments; write `trigger = {kind}`"),
            );
        }
    };
    let unknown_arg = |k: &syn::Ident, allowed: &[&str], errors: &mut Errors| {
        let name = k.to_string();
        let hint = match did_you_mean(&name, allowed) {
            s if s.is_empty() => format!("; expected {}", list_words(allowed)),
            s => s,
        };
        errors.push(
            k.span(),
            format!("unknown `{kind}` argument `{name}`{hint}"),
        );
    };
    let mut seen = std::collections::BTreeSet::new();
    for (k, _) in args {
        if !seen.insert(k.to_string()) {
            errors.push(k.span(), format!("`{k}` is set more than once"));
        }
    }
    match kind.as_str() {
        "boot" => {
            no_args(errors);
            Some(Trigger::Boot)
        }
        "manual" => {
            no_args(errors);
            Some(Trigger::Manual)
        }
        "timer" => {
            let mut every = None;
            let mut calendar = None;
            for (k, v) in args {
                match k.to_string().as_str() {
                    "every" => match parse_duration(&v.value) {
                        Ok(d) if d.is_zero() => {
                            errors.push(v.span, "`every` must be longer than zero")
                        }
                        Ok(d) => every = Some((d, k.span())),
                        Err(e) => {
                            errors.push(v.span, format!("invalid duration `{}`: {e}", v.value))
                        }
                    },
                    "calendar" => match Calendar::parse(&v.value) {
                        Ok(cal) => match cal.timezone().filter(|tz| !known_timezone(tz)) {
                            Some(tz) => errors.push(
                                v.span,
                                format!(
                                    "invalid calendar `{}`: unknown time zone `{tz}`, which systemd refuses; \
                                     use a name of the tz database (`timedatectl list-timezones`), like `UTC` or `Europe/Berlin`",
                                    v.value
                                ),
                            ),
                            None => calendar = Some((v.value.clone(), k.span())),
                        },
                        Err(e) => {
                            errors.push(v.span, format!("invalid calendar `{}`: {e}", v.value))
                        }
                    },
                    _ => unknown_arg(k, &["every", "calendar"], errors),
                }
            }
            match (&every, &calendar) {
                (Some(_), Some((_, span))) => {
                    errors.push(
                        *span,
                        "a timer runs `every` an interval or on a `calendar`, not both; keep one",
                    );
                    None
                }
                (None, None) if errors.is_empty() => {
                    errors.push(
                        raw.span,
                        "a timer needs a schedule; write `timer(every = \"15m\")` or `timer(calendar = \"daily\")`",
                    );
                    None
                }
                (Some((every, _)), None) => Some(Trigger::Timer {
                    schedule: Schedule::Every(*every),
                }),
                (None, Some((calendar, _))) => Some(Trigger::Timer {
                    schedule: Schedule::Calendar(calendar.clone()),
                }),
                (None, None) => None,
            }
        }
        "socket" => {
            let mut listen = None;
            for (k, v) in args {
                match k.to_string().as_str() {
                    "listen" => match ListenAddress::parse(&v.value) {
                        Ok(_) => listen = Some(v.value.trim().to_string()),
                        Err(e) => errors
                            .push(v.span, format!("invalid listen address `{}`: {e}", v.value)),
                    },
                    _ => unknown_arg(k, &["listen"], errors),
                }
            }
            if listen.is_none() && raw.args.as_ref().is_none_or(|a| a.is_empty()) {
                errors.push(
                    raw.span,
                    "a socket trigger needs an address; write `socket(listen = \"8080\")`",
                );
            }
            listen.map(|listen| Trigger::Socket { listen })
        }
        "path" => {
            let names: Vec<&str> = PathCondition::ALL
                .iter()
                .map(|c| c.attribute_name())
                .collect();
            let mut found: Option<(PathCondition, String)> = None;
            for (k, v) in args {
                let key = k.to_string();
                let Some(cond) = PathCondition::ALL
                    .into_iter()
                    .find(|c| c.attribute_name() == key)
                else {
                    unknown_arg(k, &names, errors);
                    continue;
                };
                if !v.value.starts_with('/') {
                    errors.push(
                        v.span,
                        format!(
                            "a watched path must be absolute, like `{key} = \"/var/spool/app\"`"
                        ),
                    );
                    continue;
                }
                if let Err(e) = bgapp_manifest::path::check_absolute_path(&v.value) {
                    errors.push(v.span, format!("invalid watched path: {e}"));
                    continue;
                }
                if found.is_some() {
                    errors.push(
                        k.span(),
                        "a path trigger watches one condition; keep one of them",
                    );
                    continue;
                }
                found = Some((cond, v.value.clone()));
            }
            if found.is_none() && raw.args.as_ref().is_none_or(|a| a.is_empty()) {
                errors.push(
                    raw.span,
                    "a path trigger needs a path; write `path(changed = \"/var/spool/app\")`",
                );
            }
            found.map(|(condition, path)| Trigger::Path { condition, path })
        }
        other => {
            let hint = match did_you_mean(other, TRIGGERS) {
                s if s.is_empty() => format!("; expected one of {}", list_words(TRIGGERS)),
                s => s,
            };
            errors.push(raw.kind.span(), format!("unknown trigger `{other}`{hint}"));
            None
        }
    }
}

/// Checks the options together and fills in defaults.
pub fn check_task(raw: RawArgs, func: &ItemFn, errors: &mut Errors) -> Option<Task> {
    // `async fn r#type` is the function `type`, and its task `type`.
    let fn_name = syn::ext::IdentExt::unraw(&func.sig.ident).to_string();
    let is_main = fn_name == "main";
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();

    let (name, name_span) = match &raw.name {
        Some(s) => (s.value.clone(), s.span),
        None if is_main && !package.is_empty() => (package.clone(), func.sig.ident.span()),
        None => (fn_name.replace('_', "-"), func.sig.ident.span()),
    };
    if let Err(e) = bgapp_manifest::check_task_name(&name) {
        let hint = if raw.name.is_none() {
            let from = if is_main && !package.is_empty() {
                "the package name"
            } else {
                "the function name"
            };
            format!(" (taken from {from}); give the task a valid name with `name = \"...\"`")
        } else {
            String::new()
        };
        errors.push(name_span, format!("{e}{hint}"));
    }

    let description = match &raw.description {
        Some(s) if s.value.trim().is_empty() => {
            errors.push(
                s.span,
                "`description` is empty; remove it to use the package description",
            );
            None
        }
        Some(s) => Some(s.value.clone()),
        None => std::env::var("CARGO_PKG_DESCRIPTION")
            .ok()
            .filter(|d| !d.trim().is_empty()),
    };

    let trig = match &raw.trigger {
        Some(t) => trigger(t, errors),
        None => Some(Trigger::Boot),
    };

    let restart = match &raw.restart {
        Some(s) => match Restart::parse(&s.value) {
            Some(r) => Some(r),
            None => {
                let names: Vec<&str> = Restart::ALL.iter().map(|r| r.as_str()).collect();
                let hint = match did_you_mean(&s.value, &names) {
                    h if h.is_empty() => format!("; expected one of {}", list_words(&names)),
                    h => h,
                };
                errors.push(
                    s.span,
                    format!("unknown restart policy `{}`{hint}", s.value),
                );
                None
            }
        },
        None => None,
    };

    let stop_timeout = duration(&raw.stop_timeout, "stop_timeout", errors);
    let time_limit = duration(&raw.time_limit, "time_limit", errors);
    let watchdog = duration(&raw.watchdog, "watchdog", errors);

    let ready = match &raw.ready {
        Some(s) => match Readiness::parse(&s.value) {
            Some(r) => r,
            None => {
                let names: Vec<&str> = Readiness::ALL.iter().map(|r| r.as_str()).collect();
                let hint = match did_you_mean(&s.value, &names) {
                    h if h.is_empty() => format!("; expected one of {}", list_words(&names)),
                    h => h,
                };
                errors.push(s.span, format!("unknown readiness `{}`{hint}", s.value));
                Readiness::Started
            }
        },
        None => Readiness::Started,
    };
    // `TimeoutStartSec=`: the time to `task.ready()`. With the default
    // readiness the task is ready as it starts, and a start timeout would
    // never apply.
    let start_timeout = duration(&raw.start_timeout, "start_timeout", errors);
    if let (Some(s), Readiness::Started) = (&raw.start_timeout, ready) {
        // (A misspelt `ready` has its own error.)
        let said = raw.ready.as_ref().map(|r| Readiness::parse(&r.value));
        if matches!(said, None | Some(Some(Readiness::Started))) {
            errors.push(
                s.span,
                "`start_timeout` is the time a task has to call `task.ready()`; add `ready = \"explicit\"`, or leave `start_timeout` out",
            );
        }
    }
    let runtime = runtime(&raw, errors);
    let app_log = match &raw.log {
        Some(s) if s.value == "app" => true,
        Some(s) if s.value == "bgapp" => false,
        Some(s) => {
            errors.push(
                s.span,
                format!(
                    "unknown logger `{}`; write `log = \"app\"` when the task installs its own `tracing` subscriber, or leave `log` out",
                    s.value
                ),
            );
            false
        }
        None => false,
    };
    let args = match &raw.args {
        Some(s) => match Arguments::parse(&s.value) {
            Some(a) => a,
            None => {
                errors.push(
                s.span,
                format!(
                    "unknown `args` value `{}`; write `args = \"none\"` when the task takes no arguments (bgapp then answers `--help` and `--version`), or leave `args` out to pass every argument to the task",
                    s.value
                ),
            );
                Arguments::Task
            }
        },
        None => Arguments::Task,
    };

    let trig = trig?;
    let restart_explicit = restart.is_some();
    let restart = restart.unwrap_or_else(|| trig.default_restart());
    let restart_span = raw.restart.as_ref().map(|s| s.span);

    // Combinations that would misbehave under systemd.
    if let (Trigger::Boot, Restart::Always, Some(limit)) = (&trig, restart, &raw.time_limit) {
        let how = if restart_explicit {
            "`restart = \"always\"`"
        } else {
            "the default `restart = \"always\"` of a boot task"
        };
        errors.push(
            limit.span,
            format!(
                "`time_limit` conflicts with {how}: the task would be stopped every {} and started again at once; use `restart = \"on-failure\"`, or a `timer` trigger for periodic work",
                format_duration(time_limit.unwrap_or_default())
            ),
        );
    }
    if let (Trigger::Timer { .. } | Trigger::Path { .. }, Restart::Always) = (&trig, restart) {
        errors.push(
            restart_span.unwrap_or(name_span),
            format!(
                "a `{}` task that restarts `always` runs again as soon as it ends, instead of on its trigger; use `restart = \"on-failure\"`",
                trig.kind()
            ),
        );
    }
    if let (Some(w), Some(s)) = (watchdog, &raw.watchdog) {
        if w < Duration::from_millis(100) {
            errors.push(s.span, "`watchdog` must be at least 100ms, so that pings at half the interval are reliable");
        }
    }
    // Against the default `stop_timeout` too: `time_limit = "3s"` alone
    // leaves no time to work either.
    if let (Some(limit), Some(span)) = (time_limit, raw.time_limit.as_ref().map(|s| s.span)) {
        let stop = stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT);
        if limit <= stop && (stop_timeout.is_some() || raw.stop_timeout.is_none()) {
            let which = if stop_timeout.is_some() {
                "`stop_timeout`"
            } else {
                "the default `stop_timeout`"
            };
            errors.push(
                span,
                format!(
                    "`time_limit` ({}) must be longer than {which} ({}), or the task has no time to work before it must save",
                    format_duration(limit),
                    format_duration(stop)
                ),
            );
        }
    }

    let output_span = match &func.sig.output {
        ReturnType::Default => func.sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let krate = raw
        .krate
        .map(|(p, _)| p)
        .unwrap_or_else(|| syn::parse_quote!(::bgapp));

    if !errors.is_empty() {
        return None;
    }
    Some(Task {
        manifest: TaskManifest {
            format: FORMAT_VERSION,
            name,
            function: fn_name,
            package,
            description,
            trigger: trig,
            restart,
            stop_timeout_ms: stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT).as_millis() as u64,
            time_limit_ms: time_limit.map(|d| d.as_millis() as u64),
            watchdog_ms: watchdog.map(|d| d.as_millis() as u64),
            ready,
            start_timeout_ms: start_timeout.map(|d| d.as_millis() as u64),
            args,
        },
        krate,
        is_main,
        name_span,
        output_span,
        runtime,
        app_log,
    })
}

/// The runtime options: `runtime = "current_thread"` or `"multi_thread"`,
/// and `worker_threads = N` (a positive integer, with the multi-thread
/// runtime only).
fn runtime(raw: &RawArgs, errors: &mut Errors) -> Runtime {
    const FLAVORS: &[&str] = &["multi_thread", "current_thread"];
    let current = match &raw.runtime {
        Some(s) if s.value == "current_thread" => true,
        Some(s) if s.value == "multi_thread" => false,
        Some(s) => {
            let hint = match did_you_mean(&s.value, FLAVORS) {
                h if h.is_empty() => format!("; expected one of {}", list_words(FLAVORS)),
                h => h,
            };
            errors.push(s.span, format!("unknown runtime `{}`{hint}", s.value));
            false
        }
        None => false,
    };
    let threads = raw.worker_threads.as_ref().and_then(|(tokens, span)| {
        let lit = syn::parse2::<syn::LitInt>(tokens.clone()).ok();
        match lit.as_ref().map(|l| l.base10_parse::<usize>()) {
            Some(Ok(n)) if n > 0 && lit.as_ref().is_some_and(|l| l.suffix().is_empty()) => Some(n),
            Some(Ok(0)) => {
                errors.push(*span, "`worker_threads` must be at least 1");
                None
            }
            _ => {
                let text = tokens.to_string();
                let hint = match text.trim_matches('"').parse::<usize>() {
                    Ok(n) if n > 0 => format!("; write `worker_threads = {n}`"),
                    _ => ", like `worker_threads = 2`".to_string(),
                };
                errors.push_spanned(
                    tokens,
                    format!("`worker_threads` takes a number of threads without quotes{hint}"),
                );
                None
            }
        }
    });
    match (current, threads, &raw.worker_threads) {
        (true, _, Some((tokens, _))) => {
            errors.push_spanned(
                tokens,
                "`worker_threads` needs the multi-thread runtime; `runtime = \"current_thread\"` runs every task on the main thread",
            );
            Runtime::CurrentThread
        }
        (true, _, None) => Runtime::CurrentThread,
        (false, n, _) => Runtime::MultiThread(n),
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::parse_quote;

    use super::*;
    use crate::attr;

    /// Every message the attribute `args` on `func` draws, in order.
    fn messages(args: TokenStream, func: ItemFn) -> Vec<String> {
        let mut errors = Errors::default();
        let raw = attr::parse(args, &mut errors);
        check_signature(&func, &mut errors);
        let _ = check_task(raw, &func, &mut errors);
        match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn task(args: TokenStream, func: ItemFn) -> Task {
        let mut errors = Errors::default();
        let raw = attr::parse(args, &mut errors);
        check_signature(&func, &mut errors);
        let task = check_task(raw, &func, &mut errors);
        if let Err(e) = errors.into_result() {
            panic!("unexpected error: {e}");
        }
        task.expect("a task without errors")
    }

    fn plain() -> ItemFn {
        parse_quote!(
            async fn nightly_upload(task: bgapp::TaskInstance) {}
        )
    }

    #[test]
    fn defaults_follow_the_trigger() {
        let t = task(quote!(), plain());
        assert_eq!(t.manifest.name, "nightly-upload");
        assert_eq!(t.manifest.function, "nightly_upload");
        assert_eq!(t.manifest.trigger, Trigger::Boot);
        assert_eq!(t.manifest.restart, Restart::Always);
        assert_eq!(
            t.manifest.stop_timeout_ms,
            DEFAULT_STOP_TIMEOUT.as_millis() as u64
        );
        assert!(!t.is_main);

        let t = task(
            quote!(trigger = timer(every = "1h30m"), time_limit = "10m"),
            plain(),
        );
        assert_eq!(t.manifest.restart, Restart::OnFailure);
        assert_eq!(
            t.manifest.trigger,
            Trigger::Timer {
                schedule: Schedule::Every(Duration::from_secs(5_400))
            }
        );
        assert_eq!(t.manifest.time_limit_ms, Some(600_000));
    }

    #[test]
    fn every_return_type_the_runtime_accepts_passes_the_syntax_check() {
        for func in [
            parse_quote!(
                async fn a(task: bgapp::TaskInstance) {}
            ),
            parse_quote!(
                async fn a(task: bgapp::TaskInstance) -> () {}
            ),
            parse_quote!(
                async fn a(task: TaskInstance) -> anyhow::Result<()> {}
            ),
            parse_quote!(
                async fn a(task: TaskInstance) -> std::io::Result<()> {}
            ),
            // An alias: the `TaskReturn` bound of the expansion judges it.
            parse_quote!(
                async fn a(task: TaskInstance) -> AppResult {}
            ),
        ] {
            assert_eq!(messages(quote!(), func), Vec::<String>::new());
        }
    }

    #[test]
    fn one_pass_reports_every_problem() {
        let func: ItemFn = parse_quote!(
            fn upload(task: &bgapp::TaskInstance, retries: u32) -> &'static str {}
        );
        let args = quote!(retart = "always", stop_timeout = "5x", trigger = timr);
        assert_eq!(
            messages(args, func),
            [
                "unknown option `retart`; did you mean `restart`?",
                "a background task must be an `async fn`; add `async` before `fn upload`",
                "a background task takes its `TaskInstance` by value; write `task: bgapp::TaskInstance` (it is cheap to clone)",
                "a background task takes only its `TaskInstance`; remove this argument (the command line is in `task.args()`)",
                "a background task returns `()` or `Result<(), E>` where `E: Display`, not `&'static str`",
                "unknown trigger `timr`; did you mean `timer`?",
                "invalid duration `5x`: unknown unit `x`; expected one of `ms`, `s`, `m`, `h`, `d`",
            ]
        );
    }

    #[test]
    fn time_limit_is_checked_against_the_default_stop_timeout() {
        let args = quote!(trigger = manual, time_limit = "5s");
        assert_eq!(
            messages(args, plain()),
            ["`time_limit` (5s) must be longer than the default `stop_timeout` (5s), or the task has no time to work before it must save"]
        );
        // Long enough, or a shorter `stop_timeout` written out: accepted.
        assert!(messages(quote!(trigger = manual, time_limit = "6s"), plain()).is_empty());
        let args = quote!(trigger = manual, time_limit = "3s", stop_timeout = "1s");
        assert!(messages(args, plain()).is_empty());
        // A `stop_timeout` that is itself wrong is reported once, alone.
        let args = quote!(trigger = manual, time_limit = "3s", stop_timeout = "1x");
        assert_eq!(messages(args, plain()).len(), 1);
    }

    #[test]
    fn restart_always_conflicts_with_triggers_that_end() {
        let args = quote!(
            trigger = path(not_empty = "/var/spool/app"),
            restart = "always"
        );
        assert_eq!(
            messages(args, plain()),
            ["a `path` task that restarts `always` runs again as soon as it ends, instead of on its trigger; use `restart = \"on-failure\"`"]
        );
        assert!(messages(quote!(restart = "always"), plain()).is_empty());
    }

    #[test]
    fn type_names_read_as_written() {
        let ty = |t: Type| type_name(&t);
        assert_eq!(ty(parse_quote!(Vec<String>)), "Vec<String>");
        assert_eq!(ty(parse_quote!(&'static str)), "&'static str");
        assert_eq!(
            ty(parse_quote!(std::option::Option<()>)),
            "std::option::Option<()>"
        );
        assert_eq!(ty(parse_quote!((u8, i32))), "(u8, i32)");
        assert_eq!(ty(parse_quote!([u8; 4])), "[u8; 4]");
    }
}
