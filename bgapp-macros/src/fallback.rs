//! What to emit when the attribute is wrong: the errors, and the function
//! itself, so that uses of it still resolve and no second error follows.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::ItemFn;

pub fn expand(errors: syn::Error, func: Option<ItemFn>) -> TokenStream {
    let errors = errors.to_compile_error();
    let Some(mut func) = func else {
        return errors;
    };
    // An `async fn main` would draw rustc's own error about `main`; keep the
    // function under the name the expansion gives it and a plain entry.
    // The `const` of a `const async fn` was reported; rustc would report it
    // again ("functions cannot be both `const` and `async`").
    func.sig.constness = None;
    let entry = (func.sig.ident == "main").then(|| {
        func.sig.ident = format_ident!("main_task", span = func.sig.ident.span());
        quote!(
            fn main() {}
        )
    });
    quote! {
        #errors
        #[allow(dead_code)]
        #func
        #entry
    }
}

/// The attribute is on something that is not a function: say what it is
/// on, underline the item's keyword and name, and emit the item unchanged.
pub fn not_a_function(item: TokenStream) -> TokenStream {
    let (what, head): (&str, TokenStream) = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(i)) => ("a struct", head(&i.struct_token, &i.ident)),
        Ok(syn::Item::Enum(i)) => ("an enum", head(&i.enum_token, &i.ident)),
        Ok(syn::Item::Static(i)) => ("a static", head(&i.static_token, &i.ident)),
        Ok(syn::Item::Const(i)) => ("a constant", head(&i.const_token, &i.ident)),
        Ok(syn::Item::Mod(i)) => ("a module", head(&i.mod_token, &i.ident)),
        Ok(syn::Item::Impl(i)) => ("an `impl` block", i.impl_token.to_token_stream()),
        Ok(syn::Item::Trait(i)) => ("a trait", head(&i.trait_token, &i.ident)),
        _ => ("this item", item.clone()),
    };
    let message = format!(
        "`#[background_task]` goes on an `async fn` that takes a `bgapp::TaskInstance`, not on {what}"
    );
    let error = syn::Error::new_spanned(head, message).to_compile_error();
    quote!(#error #item)
}

fn head(keyword: &impl ToTokens, ident: &syn::Ident) -> TokenStream {
    quote!(#keyword #ident)
}
