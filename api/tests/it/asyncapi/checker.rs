//! The JSON Schema checker: the subset of draft 7 (as AsyncAPI 3.0 uses it) this document needs.

use super::*;

// ---------------------------------------------------------------------------------------------
// The JSON Schema checker: the subset of draft 7 (as AsyncAPI 3.0 uses it) this document needs
// ---------------------------------------------------------------------------------------------

/// Keywords that only annotate; they constrain nothing.
pub(super) const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "examples",
    "discriminator",
    "default",
];

pub(super) fn check(doc: &Doc, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => return errors.push(format!("{at}: nothing is allowed here")),
        Value::Object(schema) => schema,
        other => panic!("{at}: {other} is not a schema"),
    };
    if let Some(reference) = schema.get("$ref") {
        return check(
            doc,
            doc.pointer(reference.as_str().unwrap()),
            value,
            at,
            errors,
        );
    }
    for (keyword, argument) in schema {
        match keyword.as_str() {
            "type" => {
                let allowed: Vec<&str> = match argument {
                    Value::String(one) => vec![one.as_str()],
                    Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
                    other => panic!("{at}: type {other}"),
                };
                if !allowed.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{at}: {value} is not of type {argument}"));
                }
            }
            "const" if value != argument => {
                errors.push(format!("{at}: {value} is not {argument}"));
            }
            "enum" if !argument.as_array().unwrap().contains(value) => {
                errors.push(format!("{at}: {value} is not one of {argument}"));
            }
            "const" | "enum" => {}
            "properties" => {
                if let Value::Object(object) = value {
                    for (name, property) in argument.as_object().unwrap() {
                        if let Some(child) = object.get(name) {
                            check(doc, property, child, &format!("{at}/{name}"), errors);
                        }
                    }
                }
            }
            "required" => {
                if let Value::Object(object) = value {
                    for name in argument.as_array().unwrap() {
                        let name = name.as_str().unwrap();
                        if !object.contains_key(name) {
                            errors.push(format!("{at}: {name} is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Value::Object(object) = value {
                    let listed = schema.get("properties").and_then(Value::as_object);
                    for (name, child) in object {
                        if !listed.is_some_and(|l| l.contains_key(name)) {
                            let path = format!("{at}/{name}");
                            if argument == &Value::Bool(false) {
                                errors.push(format!("{path}: not a documented field"));
                            } else {
                                check(doc, argument, child, &path, errors);
                            }
                        }
                    }
                }
            }
            "items" => {
                if let Value::Array(items) = value {
                    for (n, item) in items.iter().enumerate() {
                        check(doc, argument, item, &format!("{at}/{n}"), errors);
                    }
                }
            }
            "minItems" => {
                if let Value::Array(items) = value {
                    if (items.len() as u64) < argument.as_u64().unwrap() {
                        errors.push(format!("{at}: fewer than {argument} items"));
                    }
                }
            }
            "maxItems" => {
                if let Value::Array(items) = value {
                    if items.len() as u64 > argument.as_u64().unwrap() {
                        errors.push(format!("{at}: more than {argument} items"));
                    }
                }
            }
            "oneOf" | "anyOf" | "allOf" => {
                let branches = argument.as_array().unwrap();
                let failures: Vec<Vec<String>> = branches
                    .iter()
                    .map(|branch| {
                        let mut branch_errors = Vec::new();
                        check(doc, branch, value, at, &mut branch_errors);
                        branch_errors
                    })
                    .collect();
                let passed = failures.iter().filter(|f| f.is_empty()).count();
                let ok = match keyword.as_str() {
                    "oneOf" => passed == 1,
                    "anyOf" => passed >= 1,
                    _ => passed == branches.len(),
                };
                if !ok {
                    errors.push(format!(
                        "{at}: {passed} of {} {keyword} branches match ({})",
                        branches.len(),
                        failures.concat().join("; ")
                    ));
                }
            }
            "minLength" | "maxLength" => {
                if let Value::String(text) = value {
                    let length = text.chars().count() as u64;
                    let bound = argument.as_u64().unwrap();
                    if (keyword == "minLength" && length < bound)
                        || (keyword == "maxLength" && length > bound)
                    {
                        errors.push(format!("{at}: length {length} breaks {keyword} {bound}"));
                    }
                }
            }
            "minimum" | "maximum" => {
                if let Some(number) = value.as_f64() {
                    let bound = argument.as_f64().unwrap();
                    if (keyword == "minimum" && number < bound)
                        || (keyword == "maximum" && number > bound)
                    {
                        errors.push(format!("{at}: {number} breaks {keyword} {bound}"));
                    }
                }
            }
            "pattern" => {
                if let Value::String(text) = value {
                    if !pattern_matches(argument.as_str().unwrap(), text) {
                        errors.push(format!("{at}: {text:?} does not match {argument}"));
                    }
                }
            }
            "format" => {
                if let Value::String(text) = value {
                    let ok = match argument.as_str().unwrap() {
                        "uuid" => Uuid::try_parse(text).is_ok_and(|u| u.to_string() == *text),
                        "date-time" => DateTime::parse_from_rfc3339(text).is_ok(),
                        // A number's width (the action schemas derived from Rust types).
                        "double" => true,
                        other => panic!("{at}: the checker does not know format {other}"),
                    };
                    if !ok {
                        errors.push(format!("{at}: {text:?} is not a {argument}"));
                    }
                }
            }
            annotation if ANNOTATIONS.contains(&annotation) => {}
            unknown => panic!("{at}: the checker does not know the keyword {unknown}"),
        }
    }
}

pub(super) fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type {other}"),
    }
}

/// One element of a pattern: what one character must be.
#[derive(Debug)]
pub(super) enum Atom {
    Any,
    Literal(char),
    Digit,
    NotSpace,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Any => c != '\n',
            Self::Literal(l) => c == *l,
            Self::Digit => c.is_ascii_digit(),
            Self::NotSpace => !c.is_whitespace(),
            Self::Class { ranges, negated } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// Whether `text` contains a match of `pattern` (ECMA 262 semantics, as JSON Schema has it),
/// for the subset without groups or alternatives: anchors, `.`, literals, `\d`, `\S`, escaped
/// punctuation, bracket classes with ranges and negation, and the quantifiers `* + ? {n} {n,}
/// {n,m}`. Anything else panics, so no pattern goes unchecked.
pub(super) fn pattern_matches(pattern: &str, text: &str) -> bool {
    let mut chars: Vec<char> = pattern.chars().collect();
    let anchored_start = chars.first() == Some(&'^');
    if anchored_start {
        chars.remove(0);
    }
    let anchored_end =
        chars.last() == Some(&'$') && chars.len() >= 2 && chars[chars.len() - 2] != '\\';
    if anchored_end {
        chars.pop();
    }
    let mut pieces: Vec<(Atom, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let atom = match chars[i] {
            '.' => Atom::Any,
            '\\' => {
                i += 1;
                match chars[i] {
                    'd' => Atom::Digit,
                    'S' => Atom::NotSpace,
                    c if c.is_ascii_punctuation() => Atom::Literal(c),
                    c => panic!("{pattern}: unsupported escape \\{c}"),
                }
            }
            '[' => {
                i += 1;
                let negated = chars[i] == '^';
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                while chars[i] != ']' {
                    let lo = chars[i];
                    assert!(lo != '\\' && lo != '[', "{pattern}: unsupported class");
                    if chars[i + 1] == '-' && chars[i + 2] != ']' {
                        ranges.push((lo, chars[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((lo, lo));
                        i += 1;
                    }
                }
                Atom::Class { ranges, negated }
            }
            c @ ('(' | ')' | '|' | '^' | '$' | '*' | '+' | '?' | '{') => {
                panic!("{pattern}: unsupported {c} at {i}")
            }
            c => Atom::Literal(c),
        };
        i += 1;
        let (min, max) = match chars.get(i) {
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('?') => (0, 1),
            Some('{') => {
                let close = i + chars[i..].iter().position(|c| *c == '}').unwrap();
                let inner: String = chars[i + 1..close].iter().collect();
                i = close;
                match inner.split_once(',') {
                    None => {
                        let n = inner.parse().unwrap();
                        (n, n)
                    }
                    Some((lo, "")) => (lo.parse().unwrap(), usize::MAX),
                    Some((lo, hi)) => (lo.parse().unwrap(), hi.parse().unwrap()),
                }
            }
            _ => {
                i -= 1;
                (1, 1)
            }
        };
        i += 1;
        pieces.push((atom, min, max));
    }
    let text: Vec<char> = text.chars().collect();
    let starts = if anchored_start {
        0..=0
    } else {
        0..=text.len()
    };
    starts
        .into_iter()
        .any(|start| match_here(&pieces, &text[start..], anchored_end))
}

pub(super) fn match_here(
    pieces: &[(Atom, usize, usize)],
    text: &[char],
    anchored_end: bool,
) -> bool {
    let Some(((atom, min, max), rest)) = pieces.split_first() else {
        return !anchored_end || text.is_empty();
    };
    let mut taken = 0;
    while taken < *max && taken < text.len() && atom.matches(text[taken]) {
        taken += 1;
    }
    taken >= *min
        && (*min..=taken)
            .rev()
            .any(|n| match_here(rest, &text[n..], anchored_end))
}

#[test]
pub(super) fn the_pattern_checker_agrees_with_regular_expressions_on_the_document_s_patterns() {
    let uuid = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
    assert!(pattern_matches(
        uuid,
        "7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30"
    ));
    assert!(!pattern_matches(
        uuid,
        "7D1C2B9E-4f3a-4c21-9a0e-2f5b8c6d1e30"
    ));
    assert!(!pattern_matches(
        uuid,
        "7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30x"
    ));
    assert!(pattern_matches("^[A-Za-z0-9_-]{1,64}$", "acme-prod_1"));
    assert!(!pattern_matches("^[A-Za-z0-9_-]{1,64}$", ""));
    assert!(!pattern_matches("^[A-Za-z0-9_-]{1,64}$", &"x".repeat(65)));
    assert!(pattern_matches("Z$", "2026-03-02T09:15:27Z"));
    assert!(!pattern_matches("Z$", "2026-03-02T09:15:27+00:00"));
    assert!(pattern_matches("^[1-9][0-9]*$", "10"));
    assert!(!pattern_matches("^[1-9][0-9]*$", "0"));
    assert!(pattern_matches("\\S", "  x "));
    assert!(!pattern_matches("\\S", " \t\n"));
    let sealed = "^sb1:[^:]+:[A-Za-z0-9+/]+={0,2}$";
    assert!(pattern_matches(sealed, "sb1:k1:AbC+/d=="));
    assert!(!pattern_matches(sealed, "sb1:k1:AbC==="));
    assert!(!pattern_matches(sealed, "sb1::AbC"));
    assert!(!pattern_matches(sealed, "hunter2"));
    let time = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$";
    assert!(pattern_matches(time, "2026-03-02T09:15:27.412305Z"));
    assert!(!pattern_matches(time, "2026-03-02T09:15:27.412Z"));
    assert!(!pattern_matches(time, "2026-03-02T09:15:27x412305Z"));
    assert!(pattern_matches("^a.c$", "abc"));
    assert!(pattern_matches("^a?b$", "b") && pattern_matches("^a?b$", "ab"));
    assert!(!pattern_matches("^a{2,}$", "a") && pattern_matches("^a{2,}$", "aaa"));
}
