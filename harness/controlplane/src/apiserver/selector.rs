//! Label and field selectors, parsed from the query string as Kubernetes parses them.

use std::collections::BTreeMap;

/// Why a selector did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// `app=web,tier!=db,env in (a,b),!legacy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<(String, LabelOp)>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_label_requirement(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(key, op)| {
            let value = labels.get(key);
            match op {
                LabelOp::Eq(v) => value == Some(v),
                LabelOp::NotEq(v) => value != Some(v),
                LabelOp::In(vs) => value.is_some_and(|x| vs.contains(x)),
                LabelOp::NotIn(vs) => value.is_none_or(|x| !vs.contains(x)),
                LabelOp::Exists => value.is_some(),
                LabelOp::DoesNotExist => value.is_none(),
            }
        })
    }
}

/// Splits on commas outside parentheses, so `a in (x,y),b` is two requirements.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_label_requirement(part: &str) -> Result<(String, LabelOp), SelectorError> {
    let err = || SelectorError(part.to_string());
    if let Some(key) = part.strip_prefix('!') {
        return Ok((
            valid_key(key.trim()).ok_or_else(err)?,
            LabelOp::DoesNotExist,
        ));
    }
    for (token, is_in) in [(" notin ", false), (" in ", true)] {
        if let Some((key, rest)) = part.split_once(token) {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(err)?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            let key = valid_key(key.trim()).ok_or_else(err)?;
            let op = if is_in {
                LabelOp::In(values)
            } else {
                LabelOp::NotIn(values)
            };
            return Ok((key, op));
        }
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok((
            valid_key(key.trim()).ok_or_else(err)?,
            LabelOp::NotEq(value.trim().into()),
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok((
            valid_key(key.trim()).ok_or_else(err)?,
            LabelOp::Eq(value.trim().into()),
        ));
    }
    Ok((valid_key(part).ok_or_else(err)?, LabelOp::Exists))
}

fn valid_key(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then(|| key.to_string())
}

/// `spec.nodeName=n1,status.phase!=Running`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<FieldRequirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub equal: bool,
}

impl FieldSelector {
    /// The value `field` must equal, when the selector requires one.
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.equal && r.field == field)
            .map(|r| r.value.as_str())
    }

    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, v, true)
            } else {
                return Err(SelectorError(part.to_string()));
            };
            reqs.push(FieldRequirement {
                field: field.trim().to_string(),
                value: value.trim().to_string(),
                equal,
            });
        }
        Ok(FieldSelector(reqs))
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.0
    }

    /// Whether the object's fields, as `fields` looks them up, match. A field the lookup does
    /// not know counts as empty, as in Kubernetes' field sets.
    pub fn matches(&self, fields: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| {
            let actual = fields(&r.field).unwrap_or_default();
            (actual == r.value) == r.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[rstest]
    #[case("", true)]
    #[case("app=web", true)]
    #[case("app==web", true)]
    #[case("app!=web", false)]
    #[case("app in (web,db)", true)]
    #[case("app notin (web,db)", false)]
    #[case("tier", true)]
    #[case("!tier", false)]
    #[case("!legacy", true)]
    #[case("app=web,tier=front", true)]
    #[case("app in (db), tier", false)]
    #[case("missing!=x", true)]
    fn label_selectors(#[case] selector: &str, #[case] expected: bool) {
        let s = LabelSelector::parse(selector).unwrap();
        assert_eq!(
            s.matches(&labels(&[("app", "web"), ("tier", "front")])),
            expected
        );
    }

    #[rstest]
    #[case("app in web")]
    #[case("=x")]
    #[case("a b=c")]
    fn bad_label_selectors(#[case] selector: &str) {
        assert!(LabelSelector::parse(selector).is_err());
    }

    #[rstest]
    #[case("spec.nodeName=n1", true)]
    #[case("spec.nodeName=", false)]
    #[case("spec.nodeName!=n1", false)]
    #[case("status.phase=Running,spec.nodeName==n1", true)]
    #[case("metadata.name=x", false)]
    fn field_selectors(#[case] selector: &str, #[case] expected: bool) {
        let s = FieldSelector::parse(selector).unwrap();
        let fields = |f: &str| match f {
            "spec.nodeName" => Some("n1".to_string()),
            "status.phase" => Some("Running".to_string()),
            _ => None,
        };
        assert_eq!(s.matches(fields), expected);
    }

    #[test]
    fn field_selector_needs_an_operator() {
        assert!(FieldSelector::parse("spec.nodeName").is_err());
    }
}
