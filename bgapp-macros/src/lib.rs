//! `#[bgapp::background_task]`: turns an async fn into a supervised task.
//!
//! The steps each have a module: `attr` parses the arguments, `valid`
//! checks them with the signature into the model in `ast`, `expand`
//! generates the code, and `fallback` says what to emit on error.
//! Use it through the `bgapp` crate, which documents it.

mod ast;
mod attr;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;
use syn::ItemFn;

#[proc_macro_attribute]
pub fn background_task(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let item2: proc_macro2::TokenStream = item.into();
            return fallback::not_a_function(item2).into();
        }
    };
    let mut errors = attr::Errors::default();
    let raw = attr::parse(args.into(), &mut errors);
    valid::check_signature(&func, &mut errors);
    let task = valid::check_task(raw, &func, &mut errors);
    match (errors.into_result(), task) {
        (Ok(()), Some(task)) => expand::expand(&task, func).into(),
        (Err(e), _) => fallback::expand(e, Some(func)).into(),
        (Ok(()), None) => unreachable!("a task that failed its checks reports an error"),
    }
}
