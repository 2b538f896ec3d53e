//! What to emit when the attribute is wrong: the errors, and the function
//! itself, so that uses of it still resolve and no second error follows.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ItemFn;

pub fn expand(errors: syn::Error, func: Option<ItemFn>) -> TokenStream {
    let errors = errors.to_compile_error();
    let Some(mut func) = func else {
        return errors;
    };
    // An `async fn main` would draw rustc's own error about `main`; keep the
    // function under the name the expansion gives it and a plain entry.
    let entry = (func.sig.ident == "main").then(|| {
        func.sig.ident = format_ident!("main_task", span = func.sig.ident.span());
        quote!(fn main() {})
    });
    quote! {
        #errors
        #[allow(dead_code)]
        #func
        #entry
    }
}
