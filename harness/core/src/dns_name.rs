//! DNS-1123 names as apimachinery's `IsDNS1123Label` and `IsDNS1123Subdomain` check them:
//! the lengths (63, 253), the regexes, and the messages kube-apiserver answers with. Suite
//! and case names, object names, namespaces and container names all use these.

/// `DNS1123LabelMaxLength`.
pub const LABEL_MAX_LEN: usize = 63;
/// `DNS1123SubdomainMaxLength`.
pub const SUBDOMAIN_MAX_LEN: usize = 253;

/// What a label must look like, in apimachinery's words (`dns1123LabelErrMsg`).
pub const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
/// `dns1123LabelFmt`.
pub const LABEL_REGEX: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
/// What a subdomain must look like, in apimachinery's words (`dns1123SubdomainErrorMsg`).
pub const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
/// `dns1123SubdomainFmt`.
pub const SUBDOMAIN_REGEX: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// Whether `s` is a DNS-1123 label: at most 63 characters matching [`LABEL_REGEX`].
#[must_use]
pub fn is_label(s: &str) -> bool {
    s.len() <= LABEL_MAX_LEN && matches_label(s)
}

/// Whether `s` is a DNS-1123 subdomain: at most 253 characters matching
/// [`SUBDOMAIN_REGEX`]. Its labels are not held to 63 characters: upstream does not.
#[must_use]
pub fn is_subdomain(s: &str) -> bool {
    s.len() <= SUBDOMAIN_MAX_LEN && matches_subdomain(s)
}

/// `IsDNS1123Label`'s messages: none for a label.
#[must_use]
pub fn label_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > LABEL_MAX_LEN {
        errors.push(max_len_error(LABEL_MAX_LEN));
    }
    if !matches_label(s) {
        errors.push(if matches_subdomain(s) {
            "must not contain dots".to_string()
        } else {
            regex_error(LABEL_MESSAGE, LABEL_REGEX, &["my-name", "123-abc"])
        });
    }
    errors
}

/// `IsDNS1123Subdomain`'s messages: none for a subdomain.
#[must_use]
pub fn subdomain_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > SUBDOMAIN_MAX_LEN {
        errors.push(max_len_error(SUBDOMAIN_MAX_LEN));
    }
    if !matches_subdomain(s) {
        errors.push(regex_error(
            SUBDOMAIN_MESSAGE,
            SUBDOMAIN_REGEX,
            &["example.com"],
        ));
    }
    errors
}

/// apimachinery's `RegexError`: the rule, its examples and the regex.
#[must_use]
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: String = examples
        .iter()
        .map(|e| format!("'{e}', "))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

/// apimachinery's `MaxLenError`.
#[must_use]
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
fn matches_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// Labels joined by single dots.
fn matches_subdomain(s: &str) -> bool {
    s.split('.').all(matches_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("busybox-1", true, true)]
    #[case("a", true, true)]
    #[case("0", true, true)]
    #[case("Busybox", false, false)]
    #[case("-a", false, false)]
    #[case("a-", false, false)]
    #[case("", false, false)]
    #[case("a.b-c", false, true)]
    #[case("a..b", false, false)]
    #[case(".a", false, false)]
    #[case("a_b", false, false)]
    #[case(&"a".repeat(63), true, true)]
    #[case(&"a".repeat(64), false, true)]
    #[case(&format!("{}.b", "a".repeat(64)), false, true)]
    #[case(&"a".repeat(253), false, true)]
    #[case(&"a".repeat(254), false, false)]
    fn names(#[case] s: &str, #[case] label: bool, #[case] subdomain: bool) {
        assert_eq!(is_label(s), label, "label {s}");
        assert_eq!(is_subdomain(s), subdomain, "subdomain {s}");
        assert_eq!(label_errors(s).is_empty(), label, "label errors {s}");
        assert_eq!(
            subdomain_errors(s).is_empty(),
            subdomain,
            "subdomain errors {s}"
        );
    }

    #[test]
    fn messages_are_apimachinerys() {
        assert_eq!(
            label_errors("Web"),
            vec![format!(
                "{LABEL_MESSAGE} (e.g. 'my-name',  or '123-abc', regex used for validation is '{LABEL_REGEX}')"
            )]
        );
        assert_eq!(label_errors("a.b"), vec!["must not contain dots"]);
        assert_eq!(
            label_errors(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
        assert_eq!(
            subdomain_errors(&"A".repeat(254)),
            vec![
                "must be no more than 253 characters".to_string(),
                format!(
                    "{SUBDOMAIN_MESSAGE} (e.g. 'example.com', regex used for validation is '{SUBDOMAIN_REGEX}')"
                )
            ]
        );
    }
}
