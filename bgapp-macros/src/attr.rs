//! Parses the attribute's arguments into [`RawArgs`]: every option as
//! written, with the span of its key and value, and nothing checked beyond
//! syntax. `valid.rs` checks the combination.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token};

/// The options `#[background_task(...)]` accepts, in the order docs list them.
pub const OPTIONS: &[&str] = &[
    "name",
    "description",
    "trigger",
    "restart",
    "stop_timeout",
    "time_limit",
    "watchdog",
    "ready",
    "start_timeout",
    "runtime",
    "worker_threads",
    "log",
    "args",
    "crate",
];

/// The triggers `trigger = ...` accepts.
pub const TRIGGERS: &[&str] = &["boot", "timer", "socket", "path", "manual"];

/// A string option as written.
#[derive(Clone)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

impl From<&LitStr> for Str {
    fn from(lit: &LitStr) -> Self {
        Str {
            value: lit.value(),
            span: lit.span(),
        }
    }
}

/// `trigger = kind(key = "value", ...)` as written.
pub struct RawTrigger {
    pub kind: Ident,
    /// The argument list, if parentheses were written.
    pub args: Option<Vec<(Ident, Str)>>,
    pub span: Span,
}

/// Every option as written; `None` when absent.
#[derive(Default)]
pub struct RawArgs {
    pub name: Option<Str>,
    pub description: Option<Str>,
    pub trigger: Option<RawTrigger>,
    pub restart: Option<Str>,
    pub stop_timeout: Option<Str>,
    pub time_limit: Option<Str>,
    pub watchdog: Option<Str>,
    pub ready: Option<Str>,
    pub start_timeout: Option<Str>,
    pub runtime: Option<Str>,
    /// `worker_threads = N` as written: the literal, or the tokens.
    pub worker_threads: Option<(TokenStream, Span)>,
    pub log: Option<Str>,
    pub args: Option<Str>,
    pub krate: Option<(syn::Path, Span)>,
}

/// Collects errors so that one pass reports every problem at once.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push_error(syn::Error::new(span, msg));
    }

    /// Like [`push`](Self::push), but spans every token of `tokens`: on
    /// stable Rust a `Span` cannot be joined, so this is how an error
    /// underlines `extern "C"` or `&TaskInstance` whole.
    pub fn push_spanned(&mut self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.push_error(syn::Error::new_spanned(tokens, msg));
    }

    pub fn push_error(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn into_result(self) -> Result<(), syn::Error> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Suggests the closest known word, the way rustc and cargo do.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

fn list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// Parses `name = "...", trigger = timer(every = "15m"), ...`.
pub fn parse(args: TokenStream, errors: &mut Errors) -> RawArgs {
    let mut raw = RawArgs::default();
    let parser = |input: ParseStream| {
        while !input.is_empty() {
            parse_option(input, &mut raw, errors)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        errors.push_error(e);
    }
    raw
}

fn parse_option(input: ParseStream, raw: &mut RawArgs, errors: &mut Errors) -> syn::Result<()> {
    // `crate` is a keyword, so take any identifier, keywords included.
    let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
    let key_name = key.to_string();
    if !OPTIONS.contains(&key_name.as_str()) {
        // Skip the value so that the options after it are still checked.
        let _: TokenStream = skip_value(input)?;
        let hint = match did_you_mean(&key_name, OPTIONS) {
            s if s.is_empty() => format!("; expected one of {}", list(OPTIONS)),
            s => s,
        };
        errors.push(key.span(), format!("unknown option `{key_name}`{hint}"));
        return Ok(());
    }
    if !input.peek(Token![=]) {
        let _: TokenStream = skip_value(input)?;
        let example = match key_name.as_str() {
            "trigger" => "trigger = timer(every = \"15m\")".to_string(),
            "restart" => "restart = \"on-failure\"".to_string(),
            "crate" => "crate = \"my_crate::bgapp\"".to_string(),
            "ready" => "ready = \"explicit\"".to_string(),
            "runtime" => "runtime = \"current_thread\"".to_string(),
            "worker_threads" => "worker_threads = 2".to_string(),
            "log" => "log = \"app\"".to_string(),
            "args" => "args = \"none\"".to_string(),
            "stop_timeout" | "time_limit" | "watchdog" => format!("{key_name} = \"5s\""),
            "start_timeout" => "start_timeout = \"5m\"".to_string(),
            _ => format!("{key_name} = \"...\""),
        };
        errors.push(
            key.span(),
            format!("option `{key_name}` needs a value, like `{example}`"),
        );
        return Ok(());
    }
    input.parse::<Token![=]>()?;
    let duplicate = |present: bool, errors: &mut Errors| {
        if present {
            errors.push(
                key.span(),
                format!("option `{key_name}` is set more than once"),
            );
        }
    };
    match key_name.as_str() {
        "name" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.name.is_some(), errors);
            raw.name = Some(v);
        }
        "description" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.description.is_some(), errors);
            raw.description = Some(v);
        }
        "restart" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.restart.is_some(), errors);
            raw.restart = Some(v);
        }
        "stop_timeout" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.stop_timeout.is_some(), errors);
            raw.stop_timeout = Some(v);
        }
        "time_limit" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.time_limit.is_some(), errors);
            raw.time_limit = Some(v);
        }
        "watchdog" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.watchdog.is_some(), errors);
            raw.watchdog = Some(v);
        }
        "ready" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.ready.is_some(), errors);
            raw.ready = Some(v);
        }
        "start_timeout" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.start_timeout.is_some(), errors);
            raw.start_timeout = Some(v);
        }
        "runtime" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.runtime.is_some(), errors);
            raw.runtime = Some(v);
        }
        "log" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.log.is_some(), errors);
            raw.log = Some(v);
        }
        "args" => {
            let v = string_value(input, &key_name)?;
            duplicate(raw.args.is_some(), errors);
            raw.args = Some(v);
        }
        "worker_threads" => {
            let span = input.span();
            let v = skip_value(input)?;
            let span = v
                .clone()
                .into_iter()
                .next()
                .map(|t| t.span())
                .unwrap_or(span);
            duplicate(raw.worker_threads.is_some(), errors);
            raw.worker_threads = Some((v, span));
        }
        "crate" => {
            let lit: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a path in quotes, like `crate = \"my_crate::bgapp\"`",
                )
            })?;
            let path: syn::Path = lit.parse().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "`{}` is not a path; write where bgapp is re-exported, like `crate = \"my_crate::bgapp\"`",
                        lit.value()
                    ),
                )
            })?;
            duplicate(raw.krate.is_some(), errors);
            raw.krate = Some((path, lit.span()));
        }
        "trigger" => {
            let t = trigger_value(input)?;
            duplicate(raw.trigger.is_some(), errors);
            raw.trigger = Some(t);
        }
        _ => unreachable!("`{key_name}` was checked against `OPTIONS`"),
    }
    Ok(())
}

fn skip_value(input: ParseStream) -> syn::Result<TokenStream> {
    let mut out = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        let tt: proc_macro2::TokenTree = input.parse()?;
        out.extend([tt]);
    }
    Ok(out)
}

fn string_value(input: ParseStream, key: &str) -> syn::Result<Str> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Ok(Str::from(&lit));
    }
    let value = skip_value(input)?;
    let hint = match (key, quotable(&value)) {
        ("stop_timeout" | "time_limit" | "watchdog" | "start_timeout", Some(word))
            if word.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("expected a duration in quotes; write `{key} = \"{word}s\"`")
        }
        ("stop_timeout" | "time_limit" | "watchdog" | "start_timeout", _) => {
            format!("expected a duration in quotes, like `{key} = \"5s\"`")
        }
        (_, Some(word)) => format!("expected a string; write `{key} = \"{word}\"`"),
        (_, None) => format!("expected a string, like `{key} = \"...\"`"),
    };
    Err(if value.is_empty() {
        syn::Error::new(input.span(), hint)
    } else {
        syn::Error::new_spanned(value, hint)
    })
}

/// The text of a value written as one bare word or number, which the fix
/// can quote as it is: `restart = always` -> `restart = "always"`.
fn quotable(value: &TokenStream) -> Option<String> {
    let mut tokens = value.clone().into_iter();
    match (tokens.next(), tokens.next()) {
        (Some(proc_macro2::TokenTree::Ident(i)), None) => Some(i.to_string()),
        (Some(proc_macro2::TokenTree::Literal(l)), None) => {
            let text = l.to_string();
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                .then_some(text)
        }
        _ => None,
    }
}

fn trigger_value(input: ParseStream) -> syn::Result<RawTrigger> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "write the trigger without quotes, like `trigger = {}`",
                lit.value()
            ),
        ));
    }
    let kind: Ident = input.call(syn::ext::IdentExt::parse_any).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected a trigger: one of {}", list(TRIGGERS)),
        )
    })?;
    let mut span = kind.span();
    let args = if input.peek(syn::token::Paren) {
        let content;
        let parens = syn::parenthesized!(content in input);
        span = span.join(parens.span.join()).unwrap_or(span);
        let mut args = Vec::new();
        while !content.is_empty() {
            let key: Ident = content.call(syn::ext::IdentExt::parse_any)?;
            content
                .parse::<Token![=]>()
                .map_err(|e| syn::Error::new(e.span(), format!("expected `{key} = \"...\"`")))?;
            let lit: LitStr = content.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected a string, like `{key} = \"...\"`"),
                )
            })?;
            args.push((key, Str::from(&lit)));
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        Some(args)
    } else {
        None
    };
    Ok(RawTrigger { kind, args, span })
}

pub fn list_words(words: &[&str]) -> String {
    list(words)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn parse_errors(args: TokenStream) -> (RawArgs, Vec<String>) {
        let mut errors = Errors::default();
        let raw = parse(args, &mut errors);
        let messages = match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (raw, messages)
    }

    #[test]
    fn suggests_only_close_words() {
        assert_eq!(did_you_mean("retart", OPTIONS), "; did you mean `restart`?");
        assert_eq!(
            did_you_mean("stop_timout", OPTIONS),
            "; did you mean `stop_timeout`?"
        );
        assert_eq!(
            did_you_mean("timelimit", OPTIONS),
            "; did you mean `time_limit`?"
        );
        assert_eq!(did_you_mean("priority", OPTIONS), "");
        assert_eq!(did_you_mean("timr", TRIGGERS), "; did you mean `timer`?");
    }

    #[test]
    fn lists_read_as_english() {
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b`, or `c`");
    }

    #[test]
    fn keeps_parsing_after_an_unknown_option() {
        let (raw, errors) = parse_errors(quote!(retart = on failure, name = "x", name = "y"));
        assert_eq!(
            errors,
            [
                "unknown option `retart`; did you mean `restart`?",
                "option `name` is set more than once",
            ]
        );
        assert_eq!(raw.name.unwrap().value, "y");
    }

    #[test]
    fn an_unknown_option_is_reported_as_such_with_or_without_a_value() {
        let (_, errors) = parse_errors(quote!(retart, name));
        assert_eq!(
            errors,
            [
                "unknown option `retart`; did you mean `restart`?",
                "option `name` needs a value, like `name = \"...\"`",
            ]
        );
    }

    #[test]
    fn unquoted_values_get_their_quoted_spelling() {
        let (_, errors) = parse_errors(quote!(restart = never));
        assert_eq!(errors, ["expected a string; write `restart = \"never\"`"]);
        let (_, errors) = parse_errors(quote!(watchdog = 30));
        assert_eq!(
            errors,
            ["expected a duration in quotes; write `watchdog = \"30s\"`"]
        );
        let (_, errors) = parse_errors(quote!(watchdog = 30.5));
        assert_eq!(
            errors,
            ["expected a duration in quotes, like `watchdog = \"5s\"`"]
        );
        let (_, errors) = parse_errors(quote!(name = my::task));
        assert_eq!(errors, ["expected a string, like `name = \"...\"`"]);
        let (_, errors) = parse_errors(quote!(trigger = "manual"));
        assert_eq!(
            errors,
            ["write the trigger without quotes, like `trigger = manual`"]
        );
    }

    #[test]
    fn parses_triggers_with_and_without_arguments() {
        let (raw, errors) = parse_errors(quote!(trigger = manual));
        assert!(errors.is_empty());
        let t = raw.trigger.unwrap();
        assert_eq!(t.kind, "manual");
        assert!(t.args.is_none());

        let (raw, errors) =
            parse_errors(quote!(trigger = timer(every = "15m",), crate = "x::bgapp"));
        assert!(errors.is_empty());
        let args = raw.trigger.unwrap().args.unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].0, "every");
        assert_eq!(args[0].1.value, "15m");
        let path = raw.krate.unwrap().0;
        assert_eq!(quote!(#path).to_string(), "x :: bgapp");
    }
}
