//! What a command asks for, independent of the repository's state, and the
//! parsers that turn command-line text into it (so that every front end
//! reads `25%`, `enabled=false` or `blue=50` the same way).

use serde_json::Value;

use super::ChangeError;
use crate::format::edit::Path;
use crate::model::{FlagKey, FlagType, WEIGHT_TOTAL, Weight};

/// A change a command asks for. [`super::Pipeline`] works it out against
/// the branch tip (a [`super::Plan`]), applies, validates and commits it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Intent {
    /// Create a flag (`flagctl new`).
    New(NewFlag),
    /// Set or remove fields by path (`flagctl set`).
    Set {
        /// The flag.
        key: FlagKey,
        /// The overlay to change, or the base when `None`.
        environment: Option<String>,
        /// What to set or remove, in order.
        assignments: Vec<Assignment>,
    },
    /// The kill switch (`flagctl enable` / `flagctl disable`).
    Switch {
        /// The flag.
        key: FlagKey,
        /// The overlay to change, or the base when `None`.
        environment: Option<String>,
        /// `true` to enable, `false` to disable.
        enabled: bool,
    },
    /// A two-variant percentage rollout of the default (`flagctl rollout`).
    Rollout {
        /// The flag.
        key: FlagKey,
        /// The overlay to change, or the base when `None`.
        environment: Option<String>,
        /// The share of the variant rolled out.
        percent: Weight,
        /// The variant rolled out; default `on`, else the first variant.
        variant: Option<String>,
        /// The context attribute to bucket by; unchanged when `None`.
        by: Option<String>,
    },
    /// Weights over any number of variants for the default (`flagctl split`).
    Split {
        /// The flag.
        key: FlagKey,
        /// The overlay to change, or the base when `None`.
        environment: Option<String>,
        /// Variant and weight, in order; they add up to 100.
        weights: Vec<(String, Weight)>,
        /// The context attribute to bucket by; unchanged when `None`.
        by: Option<String>,
    },
    /// Add or remove individual targets of one variant (`flagctl target`).
    Target {
        /// The flag.
        key: FlagKey,
        /// The overlay to change, or the base when `None`.
        environment: Option<String>,
        /// The variant the targets get.
        variant: String,
        /// Targeting keys to add.
        add: Vec<String>,
        /// Targeting keys to remove.
        remove: Vec<String>,
    },
    /// Make one environment resolve a flag as another does (`flagctl promote`).
    Promote {
        /// The flag.
        key: FlagKey,
        /// The environment to copy from.
        from: String,
        /// The environment to change.
        to: String,
    },
    /// Undo a flagctl commit (`flagctl revert`).
    Revert {
        /// The commit to undo (any revision git understands).
        revision: String,
    },
    /// Remove a flag and its overlays (`flagctl archive`).
    Archive {
        /// The flag.
        key: FlagKey,
    },
}

impl Intent {
    /// The flag the intent is about, when it names one.
    pub fn flag(&self) -> Option<&FlagKey> {
        match self {
            Intent::New(new) => Some(&new.key),
            Intent::Set { key, .. }
            | Intent::Switch { key, .. }
            | Intent::Rollout { key, .. }
            | Intent::Split { key, .. }
            | Intent::Target { key, .. }
            | Intent::Promote { key, .. }
            | Intent::Archive { key } => Some(key),
            Intent::Revert { .. } => None,
        }
    }

    /// The environment the intent changes, when it names one.
    pub fn environment(&self) -> Option<&str> {
        match self {
            Intent::Set { environment, .. }
            | Intent::Switch { environment, .. }
            | Intent::Rollout { environment, .. }
            | Intent::Split { environment, .. }
            | Intent::Target { environment, .. } => environment.as_deref(),
            Intent::Promote { to, .. } => Some(to),
            Intent::New(_) | Intent::Revert { .. } | Intent::Archive { .. } => None,
        }
    }
}

/// What `flagctl new` creates.
#[derive(Clone, Debug, PartialEq)]
pub struct NewFlag {
    /// The key (the file is `base/<key>.yaml`).
    pub key: FlagKey,
    /// The type of the values.
    pub kind: FlagType,
    /// Variants in order; empty for a boolean flag means `on`/`off`.
    pub variants: Vec<(String, Value)>,
    /// What the flag is for.
    pub description: Option<String>,
    /// Who owns it.
    pub owner: Option<String>,
    /// When it becomes stale.
    pub expires: Option<jiff::civil::Date>,
}

/// One `FIELD=VALUE` of `flagctl set`, or a removal (`--unset FIELD`).
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// Where, in the file being changed.
    pub path: Path,
    /// The new value; `None` removes the entry.
    pub value: Option<Value>,
}

/// Parses a flag key.
pub fn parse_key(text: &str) -> Result<FlagKey, ChangeError> {
    FlagKey::parse(text).map_err(|source| ChangeError::InvalidName {
        what: "flag key",
        name: text.to_owned(),
        source,
    })
}

/// Parses a percentage: `25`, `25%`, `12.5`, `0.001`.
///
/// ```
/// use flagctl::change::parse_percent;
/// assert_eq!(parse_percent("12.5%")?.thousandths(), 12_500);
/// assert!(parse_percent("101").is_err());
/// assert!(parse_percent("0.0001").is_err());
/// # Ok::<(), flagctl::change::ChangeError>(())
/// ```
pub fn parse_percent(text: &str) -> Result<Weight, ChangeError> {
    let invalid = |problem: &str| ChangeError::InvalidPercent {
        input: text.to_owned(),
        problem: problem.to_owned(),
    };
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim()).trim();
    if number.is_empty()
        || !number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
    {
        return Err(invalid("it is not a number"));
    }
    let value: f64 = number.parse().map_err(|_| invalid("it is not a number"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(invalid("it is outside 0–100"));
    }
    if let Some((_, decimals)) = number.split_once('.')
        && decimals.trim_end_matches('0').len() > 3
    {
        return Err(invalid("it has more than 3 decimals"));
    }
    Weight::from_percent(value).map_err(|_| invalid("it has more than 3 decimals"))
}

/// Parses the `VARIANT=WEIGHT` arguments of `flagctl split`: each variant
/// once, the weights adding up to exactly 100.
pub fn parse_weights(items: &[String]) -> Result<Vec<(String, Weight)>, ChangeError> {
    let mut weights: Vec<(String, Weight)> = Vec::new();
    for item in items {
        let Some((variant, weight)) = item.split_once('=') else {
            return Err(ChangeError::InvalidArgument {
                what: "weight",
                input: item.clone(),
                problem: "expected VARIANT=WEIGHT".into(),
                help: "write each weight like `blue=50`".into(),
            });
        };
        let variant = variant.trim();
        if variant.is_empty() {
            return Err(ChangeError::InvalidArgument {
                what: "weight",
                input: item.clone(),
                problem: "the variant name is missing".into(),
                help: "write each weight like `blue=50`".into(),
            });
        }
        if weights.iter().any(|(v, _)| v == variant) {
            return Err(ChangeError::InvalidArgument {
                what: "weight",
                input: item.clone(),
                problem: format!("`{variant}` is given twice"),
                help: "give each variant once".into(),
            });
        }
        weights.push((variant.to_owned(), parse_percent(weight)?));
    }
    if weights.is_empty() {
        return Err(ChangeError::InvalidArgument {
            what: "weights",
            input: String::new(),
            problem: "none given".into(),
            help: "write the weights like `blue=50 green=50`".into(),
        });
    }
    let total: u64 = weights
        .iter()
        .map(|(_, w)| u64::from(w.thousandths()))
        .sum();
    if total != u64::from(WEIGHT_TOTAL) {
        let difference = i64::from(WEIGHT_TOTAL) - i64::try_from(total).unwrap_or(i64::MAX);
        let amount =
            Weight::from_thousandths(u32::try_from(difference.unsigned_abs()).unwrap_or(0));
        let missing = if difference > 0 {
            format!("add {amount}")
        } else {
            format!("remove {amount}")
        };
        let total = format_thousandths(total);
        return Err(ChangeError::WeightsSum { total, missing });
    }
    Ok(weights)
}

/// `110`, `99.5`: a sum of thousandths as a percentage.
fn format_thousandths(total: u64) -> String {
    let whole = total / 1000;
    let fraction = total % 1000;
    if fraction == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{fraction:03}").trim_end_matches('0'))
    }
}

/// Parses one `FIELD=VALUE` of `flagctl set`.
///
/// VALUE is read as a YAML scalar or flow collection: `false`, `25`,
/// `[a, b]`, `{ on: 50, off: 50 }`, `"quoted"`, `null`. Anything else
/// (text with spaces, colons, …) is a plain string. An empty VALUE is
/// refused: write `FIELD=null` for null, `FIELD='""'` for an empty string,
/// or remove the field with `--unset FIELD`.
///
/// ```
/// use flagctl::change::parse_assignment;
/// use serde_json::json;
/// assert_eq!(parse_assignment("enabled=false")?.value, Some(json!(false)));
/// assert_eq!(parse_assignment("tags=[a, b]")?.value, Some(json!(["a", "b"])));
/// assert_eq!(parse_assignment("description=Checkout: one page")?.value, Some(json!("Checkout: one page")));
/// assert_eq!(parse_assignment("rules[0].serve=on")?.path.to_string(), "rules[0].serve");
/// # Ok::<(), flagctl::change::ChangeError>(())
/// ```
pub fn parse_assignment(text: &str) -> Result<Assignment, ChangeError> {
    let Some(at) = split_point(text) else {
        return Err(ChangeError::InvalidArgument {
            what: "assignment",
            input: text.to_owned(),
            problem: "expected FIELD=VALUE".into(),
            help: "write it like `description=\"Rebuilt checkout\"`, or remove a field with `--unset FIELD`".into(),
        });
    };
    let (field, value) = (&text[..at], &text[at + 1..]);
    let path = Path::parse(field.trim())?;
    if value.trim().is_empty() {
        return Err(ChangeError::InvalidArgument {
            what: "assignment",
            input: text.to_owned(),
            problem: "the value is empty".into(),
            help: format!(
                "remove the field with `--unset {field}`, set null with `{field}=null`, or an empty string with `{field}='\"\"'`"
            ),
        });
    }
    let value = parse_value(value).map_err(|problem| ChangeError::InvalidArgument {
        what: "assignment",
        input: text.to_owned(),
        problem,
        help: "quote the value to make it a string".into(),
    })?;
    Ok(Assignment {
        path,
        value: Some(value),
    })
}

/// The `=` that ends the field path: the first one outside double quotes.
fn split_point(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '=' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Reads a command-line value as YAML (see [`parse_assignment`]).
///
/// # Errors
///
/// A flow collection or quoted scalar that does not parse.
pub fn parse_value(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let flow = trimmed.starts_with(['[', '{', '"', '\'']);
    // A `#` would start a YAML comment; on the command line it is text.
    if !flow && (trimmed.starts_with('#') || trimmed.contains(" #") || trimmed.contains("\t#")) {
        return Ok(Value::String(text.to_owned()));
    }
    match crate::format::yaml::parse(trimmed, std::path::Path::new("<argument>")) {
        Ok(document) => match document.value {
            Value::Object(_) | Value::Array(_) if !flow => Ok(Value::String(text.to_owned())),
            Value::Null if !matches!(trimmed, "null" | "Null" | "NULL" | "~") => {
                Ok(Value::String(text.to_owned()))
            }
            value => Ok(value),
        },
        Err(diagnostics) if flow => Err(diagnostics
            .first()
            .map_or_else(|| "it is not valid YAML".to_owned(), |d| d.message.clone())),
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

/// Parses the `name=value` of `flagctl new --variant`.
pub fn parse_variant(text: &str) -> Result<(String, Value), ChangeError> {
    let invalid = |problem: String| ChangeError::InvalidArgument {
        what: "variant",
        input: text.to_owned(),
        problem,
        help: "write it like `--variant blue='#1f6feb'` or `--variant high=2.5`".into(),
    };
    let Some((name, value)) = text.split_once('=') else {
        return Err(invalid("expected NAME=VALUE".into()));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("the variant name is missing".into()));
    }
    if value.trim().is_empty() {
        return Err(invalid("the value is missing".into()));
    }
    Ok((name.to_owned(), parse_value(value).map_err(invalid)?))
}

/// Splits `alice,bob, carol` into targeting keys (empty items dropped).
pub fn parse_ids(lists: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in lists.iter().flat_map(|list| list.split(',')) {
        let id = id.trim();
        if !id.is_empty() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// Parses an `expires` date (`2027-03-31`).
pub fn parse_date(text: &str) -> Result<jiff::civil::Date, ChangeError> {
    text.trim()
        .parse::<jiff::civil::Date>()
        .map_err(|_| ChangeError::InvalidArgument {
            what: "date",
            input: text.to_owned(),
            problem: "expected YYYY-MM-DD".into(),
            help: "write the date like `2027-03-31`".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages() {
        let ok = |t: &str| parse_percent(t).map(Weight::thousandths).ok();
        assert_eq!(ok("25"), Some(25_000));
        assert_eq!(ok("25%"), Some(25_000));
        assert_eq!(ok("0.001"), Some(1));
        assert_eq!(ok("100"), Some(100_000));
        assert_eq!(ok("12.500"), Some(12_500));
        for bad in [
            "101", "-1", "0.0001", "abc", "", "1e2", "nan", "inf", "25%%",
        ] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
        let error = parse_percent("150").expect_err("out of range");
        assert_eq!(
            error.to_string(),
            "invalid percentage `150`: it is outside 0–100"
        );
    }

    #[test]
    fn weights_must_add_up() {
        let items = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let weights = parse_weights(&items(&["a=50", "b=25.5", "c=24.5"])).expect("valid");
        assert_eq!(weights.len(), 3);
        let error = parse_weights(&items(&["a=60", "b=50"])).expect_err("110");
        assert_eq!(error.to_string(), "the weights add up to 110, expected 100");
        assert_eq!(
            error.help().as_deref(),
            Some("make the weights add up to 100 (remove 10)")
        );
        let error = parse_weights(&items(&["a=50", "b=49.5"])).expect_err("99.5");
        assert_eq!(
            error.help().as_deref(),
            Some("make the weights add up to 100 (add 0.5)")
        );
        assert!(parse_weights(&items(&["a=50", "a=50"])).is_err());
        assert!(parse_weights(&items(&["a50"])).is_err());
        assert!(parse_weights(&[]).is_err());
    }

    #[test]
    fn assignments_read_yaml_values() {
        let value = |t: &str| parse_assignment(t).expect("valid").value;
        assert_eq!(value("enabled=false"), Some(json!(false)));
        assert_eq!(value("default.rollout.on=25"), Some(json!(25)));
        assert_eq!(value("tags=[a, b]"), Some(json!(["a", "b"])));
        assert_eq!(
            value("default={ rollout: { on: 5, off: 95 } }"),
            Some(json!({"rollout": {"on": 5, "off": 95}}))
        );
        assert_eq!(value("owner=\"123\""), Some(json!("123")));
        assert_eq!(value("description=a: b"), Some(json!("a: b")));
        assert_eq!(value("description=- x"), Some(json!("- x")));
        assert_eq!(value("expires=2027-03-31"), Some(json!("2027-03-31")));
        assert_eq!(value("description=null"), Some(Value::Null));
        assert_eq!(value("serve=on"), Some(json!("on")));
        assert_eq!(
            value(r#"variants."a=b"=1"#),
            Some(json!(1)),
            "an `=` inside a quoted key"
        );
        assert!(parse_assignment("description=").is_err());
        assert!(parse_assignment("description").is_err());
        assert!(parse_assignment("tags=[a, b").is_err());
        assert!(parse_assignment("a..b=1").is_err());
    }

    #[test]
    fn ids_and_variants() {
        assert_eq!(
            parse_ids(&["alice,bob".into(), " carol ,,alice".into()]),
            ["alice", "bob", "carol"]
        );
        assert_eq!(
            parse_variant("blue=#1f6feb").expect("valid"),
            ("blue".to_owned(), json!("#1f6feb"))
        );
        assert_eq!(
            parse_variant("high=2.5").expect("valid"),
            ("high".to_owned(), json!(2.5))
        );
        assert!(parse_variant("=1").is_err());
        assert!(parse_date("2027-02-30").is_err());
        assert!(parse_date("2027-03-31").is_ok());
    }
}
