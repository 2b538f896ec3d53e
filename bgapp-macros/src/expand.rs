//! Generates the code for a checked task: the function as written, its
//! manifest record in the `bgapp_manifest` link section, and its entry in
//! the runtime's task table. On `main`, also the process entry.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitByteStr};

use bgapp_manifest::{Schedule, TaskManifest, Trigger};

use crate::ast::{Runtime, Task};

pub fn expand(task: &Task, mut func: ItemFn) -> TokenStream {
    let krate = &task.krate;
    let name = &task.manifest.name;
    if task.is_main {
        func.sig.ident = format_ident!("main_task", span = func.sig.ident.span());
    }
    let fn_ident = &func.sig.ident;

    let record = task.manifest.to_record();
    let record_len = record.len();
    let record_bytes = LitByteStr::new(&record, Span::call_site());
    let section = bgapp_manifest::SECTION;
    // One global symbol per task name: two tasks with one name anywhere in
    // the binary fail to build instead of one of them being shadowed.
    let symbol = format!("{}{name}", bgapp_manifest::TASK_SYMBOL_PREFIX);
    // Two tasks with one name in the same module get a spanned error early,
    // from `cargo check` already.
    let guard = format_ident!(
        "__bgapp_task_named_{}",
        name.replace('-', "_"),
        span = task.name_span
    );

    // Every token of the guard carries the name's span, so rustc's E0428
    // underlines the two `name = "..."` literals (or fn names) and nothing
    // else.
    let guard_item = quote_spanned! {task.name_span=>
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        struct #guard;
    };

    // `TaskReturn` is named with the return type as written, so a type it
    // does not accept (`-> i32`, or an error type that is not `Display`) is
    // reported on that type, underlined whole. Local names are hygienic
    // (mixed-site), so a task function named `task` or `returned` is still
    // the one called.
    let output = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => quote!(#ty),
        syn::ReturnType::Default => quote_spanned!(task.output_span=> ()),
    };
    let returned = format_ident!("returned", span = Span::mixed_site());
    let instance = format_ident!("task", span = Span::mixed_site());
    let into_result = quote_spanned! {task.output_span=>
        <#output as #krate::__private::TaskReturn>::into_returned(#returned)
    };

    // Spanned at the name too: two tasks with one name in different modules
    // fail at codegen ("symbol `__bgapp_task.x` is already defined"), and
    // that error then points at the second name.
    let manifest_static = quote_spanned! {task.name_span=>
        #[used]
        #[unsafe(link_section = #section)]
        #[unsafe(export_name = #symbol)]
        static MANIFEST: [u8; #record_len] = *#record_bytes;
    };

    let manifest_value = manifest_tokens(&task.manifest, krate);

    // The argument's type is checked by the compiler, so a renamed import
    // (`use bgapp::TaskInstance as Task`) or an alias works, and any other
    // type is reported at the type.
    let argument = match func.sig.inputs.first() {
        Some(syn::FnArg::Typed(arg)) => {
            let ty = &arg.ty;
            quote_spanned! {ty.span()=>
                <#ty as #krate::__private::IsTaskInstance>::from_instance(#instance)
            }
        }
        _ => quote!(#instance),
    };

    let runtime = match task.runtime {
        Runtime::CurrentThread => quote!(#krate::__private::current_thread),
        Runtime::MultiThread(None) => quote!(#krate::__private::multi_thread),
        Runtime::MultiThread(Some(n)) => quote!({
            fn __bgapp_runtime() -> ::std::io::Result<#krate::__private::tokio::runtime::Runtime> {
                #krate::__private::multi_thread_with(#n)
            }
            __bgapp_runtime
        }),
    };
    let app_log = task.app_log;

    let entry_point = task.is_main.then(|| {
        quote! {
            fn main() -> ::std::process::ExitCode {
                #krate::__private::run_process(::std::option::Option::Some(#name))
            }
        }
    });

    quote! {
        #func

        #guard_item

        const _: () = {
            // The defaults the macro took from Cargo.toml, named here so
            // that cargo rebuilds this crate (and the manifest) when they
            // change: a proc macro's own reads of them are not tracked.
            let _ = ::core::option_env!("CARGO_PKG_NAME");
            let _ = ::core::option_env!("CARGO_PKG_DESCRIPTION");

            #manifest_static

            #[#krate::__private::linkme::distributed_slice(#krate::__private::TASKS)]
            #[linkme(crate = #krate::__private::linkme)]
            static ENTRY: #krate::__private::TaskEntry = #krate::__private::TaskEntry {
                manifest: &MANIFEST,
                load: __bgapp_load,
                run: __bgapp_run,
                runtime: #runtime,
                app_log: #app_log,
                // For `--version` when bgapp answers it (`args = "none"`).
                version: ::core::option_env!("CARGO_PKG_VERSION"),
            };

            // The same manifest as Rust code, so the runtime needs no JSON
            // parser at start. These two are named so that they cannot
            // shadow a task function called `run` or `load`.
            fn __bgapp_load() -> #krate::TaskManifest {
                #manifest_value
            }

            fn __bgapp_run(#instance: #krate::TaskInstance) -> #krate::__private::TaskFuture {
                ::std::boxed::Box::pin(async move {
                    let #returned = #fn_ident(#argument).await;
                    #into_result
                })
            }
        };

        #entry_point
    }
}

/// The manifest as an expression that builds it.
fn manifest_tokens(m: &TaskManifest, krate: &syn::Path) -> TokenStream {
    let string = |s: &str| quote!(::std::string::String::from(#s));
    let opt_string = |s: &Option<String>| match s {
        Some(s) => {
            let s = string(s);
            quote!(::std::option::Option::Some(#s))
        }
        None => quote!(::std::option::Option::None),
    };
    let opt_u64 = |v: Option<u64>| match v {
        Some(v) => quote!(::std::option::Option::Some(#v)),
        None => quote!(::std::option::Option::None),
    };
    let trigger = match &m.trigger {
        Trigger::Boot => quote!(#krate::Trigger::Boot),
        Trigger::Manual => quote!(#krate::Trigger::Manual),
        Trigger::Timer { schedule } => {
            let schedule = match schedule {
                Schedule::Every(every) => {
                    let ms = every.as_millis() as u64;
                    quote!(#krate::Schedule::Every(::core::time::Duration::from_millis(#ms)))
                }
                Schedule::Calendar(calendar) => {
                    let calendar = string(calendar);
                    quote!(#krate::Schedule::Calendar(#calendar))
                }
            };
            quote!(#krate::Trigger::Timer { schedule: #schedule })
        }
        Trigger::Socket { listen } => {
            let listen = string(listen);
            quote!(#krate::Trigger::Socket { listen: #listen })
        }
        Trigger::Path { condition, path } => {
            let condition = format_ident!("{}", format!("{condition:?}"));
            let path = string(path);
            quote!(#krate::Trigger::Path { condition: #krate::__private::PathCondition::#condition, path: #path })
        }
    };
    let restart = format_ident!("{}", format!("{:?}", m.restart));
    let format = m.format;
    let name = string(&m.name);
    let function = string(&m.function);
    let package = string(&m.package);
    let description = opt_string(&m.description);
    let stop = m.stop_timeout_ms;
    let limit = opt_u64(m.time_limit_ms);
    let watchdog = opt_u64(m.watchdog_ms);
    let ready = format_ident!("{}", format!("{:?}", m.ready));
    let start = opt_u64(m.start_timeout_ms);
    let args = format_ident!("{}", format!("{:?}", m.args));
    quote! {
        #krate::TaskManifest {
            format: #format,
            name: #name,
            function: #function,
            package: #package,
            description: #description,
            trigger: #trigger,
            restart: #krate::Restart::#restart,
            stop_timeout_ms: #stop,
            time_limit_ms: #limit,
            watchdog_ms: #watchdog,
            ready: #krate::__private::Readiness::#ready,
            start_timeout_ms: #start,
            args: #krate::__private::Arguments::#args,
        }
    }
}
