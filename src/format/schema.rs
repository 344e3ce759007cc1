//! The JSON Schemas of every kind of file in a flag root, embedded in the
//! binary and applied with the `jsonschema` crate.
//!
//! Schema errors come back as [`SchemaProblem`]s: a JSON pointer into the
//! document, a stable code and a message in our style. The loader turns the
//! pointer into a file position.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diagnostic::Code;
use crate::format::yaml::escape_pointer_token;

/// The schema of `base/<key>.yaml`.
pub const FLAG_SCHEMA: &str = include_str!("../../schemas/flag.schema.json");
/// The schema of `overlays/<env>/<key>.yaml`.
pub const OVERLAY_SCHEMA: &str = include_str!("../../schemas/overlay.schema.json");
/// The schema of `segments/<name>.yaml`.
pub const SEGMENT_SCHEMA: &str = include_str!("../../schemas/segment.schema.json");
/// The schema of `flagctl.yaml`.
pub const CONFIG_SCHEMA: &str = include_str!("../../schemas/config.schema.json");

/// The kinds of documents in a flag root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// `base/<key>.yaml`, and a flag resolved for one environment.
    Flag,
    /// `overlays/<env>/<key>.yaml`.
    Overlay,
    /// `segments/<name>.yaml`.
    Segment,
    /// `flagctl.yaml`.
    Config,
}

impl DocumentKind {
    /// Every kind, with the file name its schema is published under.
    pub const ALL: [(DocumentKind, &'static str); 4] = [
        (DocumentKind::Flag, "flag.schema.json"),
        (DocumentKind::Overlay, "overlay.schema.json"),
        (DocumentKind::Segment, "segment.schema.json"),
        (DocumentKind::Config, "config.schema.json"),
    ];

    /// The schema's text.
    pub fn schema_text(self) -> &'static str {
        match self {
            DocumentKind::Flag => FLAG_SCHEMA,
            DocumentKind::Overlay => OVERLAY_SCHEMA,
            DocumentKind::Segment => SEGMENT_SCHEMA,
            DocumentKind::Config => CONFIG_SCHEMA,
        }
    }

    /// The schema's published file name (`flag.schema.json`, …).
    pub fn schema_file(self) -> &'static str {
        match self {
            DocumentKind::Flag => "flag.schema.json",
            DocumentKind::Overlay => "overlay.schema.json",
            DocumentKind::Segment => "segment.schema.json",
            DocumentKind::Config => "config.schema.json",
        }
    }

    fn index(self) -> usize {
        match self {
            DocumentKind::Flag => 0,
            DocumentKind::Overlay => 1,
            DocumentKind::Segment => 2,
            DocumentKind::Config => 3,
        }
    }
}

/// One schema violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaProblem {
    /// JSON pointer to the offending node.
    pub pointer: String,
    /// Whether the problem is best shown at the node's key (unknown fields).
    pub at_key: bool,
    /// The stable code.
    pub code: Code,
    /// The message.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

struct Compiled {
    raw: Value,
    validator: Validator,
}

fn compiled() -> &'static [Compiled; 4] {
    static SCHEMAS: OnceLock<[Compiled; 4]> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        DocumentKind::ALL.map(|(kind, _)| {
            let raw: Value = serde_json::from_str(kind.schema_text())
                .expect("embedded schemas are valid JSON (checked by tests)");
            let validator = jsonschema::draft202012::new(&raw)
                .expect("embedded schemas compile (checked by tests)");
            Compiled { raw, validator }
        })
    })
}

/// Checks `value` against the schema of `kind` and returns every problem.
pub fn check(kind: DocumentKind, value: &Value) -> Vec<SchemaProblem> {
    let schema = &compiled()[kind.index()];
    if schema.validator.is_valid(value) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for error in schema.validator.iter_errors(value) {
        describe(&schema.raw, value, &error, &mut problems);
    }
    // A typo (`rollot:`) also makes the intended field missing; the unknown
    // field's "did you mean" says it all.
    let suggested: Vec<(String, String)> = problems
        .iter()
        .filter(|p| p.code == Code::UnknownField)
        .filter_map(|p| {
            let help = p.help.as_deref()?;
            let name = help.strip_prefix("did you mean `")?.strip_suffix("`?")?;
            let parent = p.pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
            Some((parent.to_owned(), name.to_owned()))
        })
        .collect();
    problems.retain(|p| {
        p.code != Code::MissingField
            || !suggested.iter().any(|(parent, name)| {
                *parent == p.pointer && p.message.starts_with(&format!("missing field `{name}`"))
            })
    });
    problems.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.message.cmp(&b.message)));
    problems.dedup();
    problems
}

/// What to write for a required field that is missing.
fn missing_field_help(name: &str) -> Option<&'static str> {
    Some(match name {
        "default" => {
            "add `default:` with the variant (or rollout) served when no target or rule matches"
        }
        "type" => "add `type:` (boolean, string, number or json)",
        "key" => "add `key:` with the file's name (without `.yaml`)",
        "name" => "add `name:` with the file's name (without `.yaml`)",
        "environments" => "list the environments, for example `environments: [dev, staging, prod]`",
        "when" => "add `when:` with the rule's condition",
        "serve" => "add `serve:` with a variant name or a `rollout`",
        "rollout" => "write the weights, for example `rollout: { on: 10, off: 90 }`",
        _ => return None,
    })
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

fn schema_type_name(name: &str) -> &str {
    match name {
        "array" => "list",
        "object" => "mapping",
        "integer" => "integer",
        other => other,
    }
}

fn field_name(pointer: &str) -> String {
    let last = pointer.rsplit('/').next().unwrap_or("");
    if pointer.is_empty() {
        "the document".to_owned()
    } else if last.parse::<usize>().is_ok() {
        format!("item {last} of `{}`", field_name_raw(pointer))
    } else {
        format!("`{}`", last.replace("~1", "/").replace("~0", "~"))
    }
}

fn field_name_raw(pointer: &str) -> String {
    let mut parts = pointer.rsplitn(3, '/');
    parts.next();
    parts.next().unwrap_or("").to_owned()
}

/// The property names the schema allows at the object holding a failed
/// keyword, found by walking the schema along the keyword's location.
fn allowed_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .rsplit_once('/')
        .map_or("", |(parent, _)| parent);
    let mut node = schema;
    for token in parent.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(map) => match map.get(&token) {
                Some(next) => next,
                None => return Vec::new(),
            },
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(next) => next,
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The closest candidate to `word` within an edit distance of 2 (or a third
/// of its length), for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| {
            // A prefix (`bool` for `boolean`) is as good as a one-letter typo.
            let prefix =
                word.len() >= 3 && (candidate.starts_with(word) || word.starts_with(candidate));
            let distance = if prefix {
                1
            } else {
                edit_distance(word, candidate)
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

fn describe(
    schema: &Value,
    root: &Value,
    error: &ValidationError<'_>,
    out: &mut Vec<SchemaProblem>,
) {
    let pointer = error.instance_path().as_str().to_owned();
    let instance = root.pointer(&pointer).unwrap_or(&Value::Null);
    let problem = |code: Code, message: String| SchemaProblem {
        pointer: pointer.clone(),
        at_key: false,
        code,
        message,
        help: None,
    };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_properties(schema, error.schema_path().as_str());
            for field in unexpected {
                let help = match closest(field, allowed.iter().map(String::as_str)) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None if allowed.is_empty() => "remove it".to_owned(),
                    None => format!("the fields here are: {}", allowed.join(", ")),
                };
                out.push(SchemaProblem {
                    pointer: format!("{pointer}/{}", escape_pointer_token(field)),
                    at_key: true,
                    code: Code::UnknownField,
                    message: format!("unknown field `{field}`"),
                    help: Some(help),
                });
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let mut p = problem(
                Code::MissingField,
                format!("missing field `{name}` in {}", field_name(&pointer)),
            );
            p.help = missing_field_help(name).map(str::to_owned);
            out.push(p);
        }
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<String> = match kind {
                TypeKind::Single(t) => vec![schema_type_name(&t.to_string()).to_owned()],
                TypeKind::Multiple(set) => set
                    .into_iter()
                    .map(|t| schema_type_name(&t.to_string()).to_owned())
                    .collect(),
            };
            let mut p = problem(
                Code::WrongType,
                format!(
                    "{} must be a {}, found a {}",
                    field_name(&pointer),
                    expected.join(" or "),
                    json_type_name(instance)
                ),
            );
            if instance.is_string() && expected.iter().any(|e| e == "boolean" || e == "number") {
                p.help = Some("remove the quotes".to_owned());
            } else if expected.iter().any(|e| e == "string") && !instance.is_string() {
                p.help = Some("quote the value to make it a string".to_owned());
            }
            out.push(p);
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let shown = instance
                .as_str()
                .map_or_else(|| instance.to_string(), str::to_owned);
            let mut p = problem(
                Code::InvalidValue,
                format!("{} cannot be `{shown}`", field_name(&pointer)),
            );
            p.help = Some(match closest(&shown, options.iter().map(String::as_str)) {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!("use one of: {}", options.join(", ")),
            });
            out.push(p);
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Report the branch whose type fits the value: its errors say what
            // is wrong. When no branch fits, say which types would.
            let fitting: Vec<&Vec<ValidationError<'static>>> = context
                .iter()
                .filter(|branch| {
                    !branch.iter().any(|e| {
                        e.instance_path().as_str() == pointer
                            && matches!(e.kind(), ValidationErrorKind::Type { .. })
                    })
                })
                .collect();
            if let Some(branch) = fitting.first() {
                for inner in branch.iter() {
                    describe(schema, root, inner, out);
                }
            } else {
                let mut types = Vec::new();
                for branch in context {
                    for e in branch {
                        if let ValidationErrorKind::Type { kind } = e.kind() {
                            match kind {
                                TypeKind::Single(t) => {
                                    types.push(schema_type_name(&t.to_string()).to_owned())
                                }
                                TypeKind::Multiple(set) => {
                                    types.extend(
                                        set.into_iter()
                                            .map(|t| schema_type_name(&t.to_string()).to_owned()),
                                    );
                                }
                            }
                        }
                    }
                }
                types.dedup();
                out.push(problem(
                    Code::WrongType,
                    format!(
                        "{} must be a {}, found a {}",
                        field_name(&pointer),
                        types.join(" or "),
                        json_type_name(instance)
                    ),
                ));
            }
        }
        ValidationErrorKind::Pattern { .. } => {
            let shown = instance.as_str().unwrap_or_default();
            let message = match crate::model::check_name(shown) {
                Err(e) => format!("{} is not a valid name: {e}", field_name(&pointer)),
                Ok(()) => format!("{} is not valid: `{shown}`", field_name(&pointer)),
            };
            let mut p = problem(Code::InvalidName, message);
            if pointer.ends_with("/expires") {
                p.code = Code::InvalidValue;
                p.message = format!("`expires` must be a date like `2027-03-31`, found `{shown}`");
            }
            out.push(p);
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(problem(
                Code::InvalidValue,
                format!(
                    "{} must be at least {limit}, found {instance}",
                    field_name(&pointer)
                ),
            ));
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            out.push(problem(
                Code::InvalidValue,
                format!(
                    "{} must be at most {limit}, found {instance}",
                    field_name(&pointer)
                ),
            ));
        }
        ValidationErrorKind::MinLength { .. } => {
            out.push(problem(
                Code::InvalidValue,
                format!("{} cannot be empty", field_name(&pointer)),
            ));
        }
        ValidationErrorKind::MinItems { .. } => {
            out.push(problem(
                Code::InvalidValue,
                format!("{} cannot be an empty list", field_name(&pointer)),
            ));
        }
        ValidationErrorKind::MinProperties { .. } => {
            out.push(problem(
                Code::InvalidValue,
                format!("{} cannot be an empty mapping", field_name(&pointer)),
            ));
        }
        ValidationErrorKind::UniqueItems => {
            out.push(problem(
                Code::InvalidValue,
                format!("{} lists an item twice", field_name(&pointer)),
            ));
        }
        _ => {
            out.push(problem(
                Code::InvalidValue,
                format!("{}: {error}", field_name(&pointer)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_schemas_compile() {
        assert_eq!(compiled().len(), 4);
    }

    #[test]
    fn overlay_schema_shares_the_flag_definitions() {
        let flag: Value = serde_json::from_str(FLAG_SCHEMA).expect("json");
        let overlay: Value = serde_json::from_str(OVERLAY_SCHEMA).expect("json");
        let segment: Value = serde_json::from_str(SEGMENT_SCHEMA).expect("json");
        assert_eq!(flag["$defs"], overlay["$defs"]);
        assert_eq!(flag["$defs"], segment["$defs"]);
    }

    #[test]
    fn valid_flag_has_no_problems() {
        let flag =
            json!({"key": "a", "type": "boolean", "default": {"rollout": {"on": 10, "off": 90}}});
        assert!(check(DocumentKind::Flag, &flag).is_empty());
    }

    #[test]
    fn typo_is_an_unknown_field_with_a_suggestion() {
        let flag = json!({"key": "a", "type": "boolean", "default": {"rollot": {"on": 10}}});
        let problems = check(DocumentKind::Flag, &flag);
        // The missing `rollout` is not reported: the typo's suggestion covers it.
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].code, Code::UnknownField);
        assert_eq!(problems[0].pointer, "/default/rollot");
        assert_eq!(problems[0].help.as_deref(), Some("did you mean `rollout`?"));
        assert!(problems[0].at_key);
    }

    #[test]
    fn top_level_typo() {
        let flag = json!({"key": "a", "type": "boolean", "default": "on", "enabeld": false});
        let problems = check(DocumentKind::Flag, &flag);
        assert_eq!(problems[0].help.as_deref(), Some("did you mean `enabled`?"));
    }

    #[test]
    fn wrong_type_and_enum_messages() {
        let flag = json!({"key": "a", "type": "bool", "default": "on", "enabled": "yes"});
        let problems = check(DocumentKind::Flag, &flag);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            messages.contains(&"`enabled` must be a boolean, found a string"),
            "{messages:?}"
        );
        assert!(
            messages.contains(&"`type` cannot be `bool`"),
            "{messages:?}"
        );
        assert_eq!(
            problems
                .iter()
                .find(|p| p.pointer == "/type")
                .and_then(|p| p.help.as_deref()),
            Some("did you mean `boolean`?")
        );
    }

    #[test]
    fn serve_of_wrong_type() {
        let flag = json!({"key": "a", "type": "boolean", "default": 3});
        let problems = check(DocumentKind::Flag, &flag);
        assert_eq!(
            problems[0].message,
            "`default` must be a string or mapping, found a number"
        );
    }

    #[test]
    fn closest_word() {
        assert_eq!(closest("rollot", ["rollout", "by"]), Some("rollout"));
        assert_eq!(closest("zzzzzz", ["rollout", "by"]), None);
    }
}
