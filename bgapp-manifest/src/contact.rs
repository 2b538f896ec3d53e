//! A contact as Debian's `Maintainer:` field and Cargo's `authors` write it:
//! `Name <user@example.com>` (Debian Policy 5.6.2; lintian's
//! `malformed-contact`). The packager takes a `.deb`'s maintainer from
//! `[package.metadata.bgapp] maintainer` or the first of `authors`; the
//! scaffolder checks the one it writes into a new project, so both agree.

/// Why a text is not `Name <email>`. The message completes "invalid
/// maintainer `...`: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("it contains a control character (a newline would add a field to the control file)")]
    Control,
    #[error("it has no email address in `<...>`")]
    NoEmail,
    #[error("it must end with the email address in `<...>`")]
    NotAtEnd,
    #[error("the name before the email address is missing")]
    NoName,
    #[error("the name contains `<`, `>` or `,`")]
    BadName,
    #[error("the name and the email address must be separated by a space")]
    NoSpace,
    #[error("the email address is not `user@domain.tld`")]
    BadEmail,
}

/// Checks `Name <user@domain.tld>`: a name without `<`, `>` or `,`, one
/// space, and an address with a local part, one `@` and a dotted domain,
/// without whitespace, `<`, `>` or `,`.
pub fn check_contact(value: &str) -> Result<(), ContactError> {
    if value.chars().any(char::is_control) {
        return Err(ContactError::Control);
    }
    let (name, rest) = value.split_once('<').ok_or(ContactError::NoEmail)?;
    let email = rest.strip_suffix('>').ok_or(ContactError::NotAtEnd)?;
    if name.trim().is_empty() {
        return Err(ContactError::NoName);
    }
    if name.contains(['<', '>', ',']) {
        return Err(ContactError::BadName);
    }
    if !name.ends_with(' ') {
        return Err(ContactError::NoSpace);
    }
    let email_ok = !email.contains(|c: char| c.is_whitespace() || "<>,".contains(c))
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !email_ok {
        return Err(ContactError::BadEmail);
    }
    Ok(())
}

/// What to write instead of `value`: its name (or `Jane Doe`) with an
/// address, `Name <jane@example.com>`.
pub fn example(value: &str) -> String {
    let name = value.split('<').next().unwrap_or_default().trim();
    let name = if name.is_empty() || name.chars().any(char::is_control) {
        "Jane Doe"
    } else {
        name
    };
    format!("{name} <jane@example.com>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts() {
        for ok in [
            "Jane Doe <jane@example.com>",
            "J <j@a.b>",
            "Background App Maintainer <maintainer@example.com>",
        ] {
            assert_eq!(check_contact(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("Jane Doe", ContactError::NoEmail),
            ("Jane <jane@example.com> x", ContactError::NotAtEnd),
            ("<jane@example.com>", ContactError::NoName),
            ("Doe, Jane <jane@example.com>", ContactError::BadName),
            ("Jane<jane@example.com>", ContactError::NoSpace),
            ("Jane <jane>", ContactError::BadEmail),
            ("Jane <jane@example>", ContactError::BadEmail),
            ("Jane <@example.com>", ContactError::BadEmail),
            ("Jane <a b@example.com>", ContactError::BadEmail),
            ("A <a@b.c>\nEssential: yes", ContactError::Control),
        ] {
            assert_eq!(check_contact(bad), Err(why), "{bad}");
        }
        assert_eq!(example("Jane"), "Jane <jane@example.com>");
        assert_eq!(example(""), "Jane Doe <jane@example.com>");
    }
}
