//! OFREP's JSON: reading an evaluation request's context, and writing an
//! evaluation as a success or a failure the way OpenFeature's providers
//! read them (reasons in OpenFeature's vocabulary, numbers keeping their
//! JSON kind, `variant` always present when one was served).

use serde_json::{Map, Value, json};

use super::state::RevisionInfo;
use crate::eval::{Context, ErrorCode, Evaluation, Reason, describe_json};

/// A request OFREP answers with 400.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadRequest {
    /// `PARSE_ERROR` or `INVALID_CONTEXT`.
    pub(crate) code: &'static str,
    pub(crate) details: String,
}

/// Reads `{"context": {...}}`. A missing `context` is an empty one.
pub(crate) fn read_context(body: &[u8]) -> Result<Context, BadRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|error| BadRequest {
        code: "PARSE_ERROR",
        details: format!("the request body is not JSON: {error}"),
    })?;
    let Value::Object(mut request) = value else {
        return Err(BadRequest {
            code: "PARSE_ERROR",
            details: format!(
                "the request body must be a JSON object with a `context` member, found {}",
                describe_json(&value)
            ),
        });
    };
    match request.remove("context") {
        None | Some(Value::Null) => Ok(Context::default()),
        Some(context @ Value::Object(_)) => {
            Context::from_json(&context).map_err(|error| BadRequest {
                code: "INVALID_CONTEXT",
                details: error.to_string(),
            })
        }
        Some(other) => Err(BadRequest {
            code: "INVALID_CONTEXT",
            details: format!(
                "`context` must be a JSON object, found {}",
                describe_json(&other)
            ),
        }),
    }
}

/// How an evaluation is answered.
pub(crate) enum Outcome {
    /// 200: a value (or, with no value, the caller's code default).
    Success(Value),
    /// 404 with `FLAG_NOT_FOUND`.
    NotFound(Value),
    /// 400 with an OFREP error code.
    Failed(Value),
}

/// Where an evaluation is answered.
#[derive(Clone, Copy)]
pub(crate) enum Answer<'a> {
    /// Alone: its metadata names the revision and `environment`.
    Single(&'a str),
    /// In a bulk answer, whose own metadata names the revision and the
    /// environment: a flag's entry changes only when its evaluation does,
    /// so providers report only the flags that really changed.
    Bulk,
}

/// OFREP's answer for one evaluation of `key`.
pub(crate) fn outcome(
    key: &str,
    evaluation: &Evaluation<'_>,
    info: &RevisionInfo,
    answer: Answer<'_>,
) -> Outcome {
    match evaluation.reason() {
        Reason::FlagNotFound => Outcome::NotFound(json!({
            "key": key,
            "errorCode": "FLAG_NOT_FOUND",
            "errorDetails": match answer {
                Answer::Single(environment) => format!("flag `{key}` is not in environment `{environment}` at revision {}", info.revision),
                Answer::Bulk => format!("flag `{key}` is not in this environment at revision {}", info.revision),
            },
        })),
        Reason::Error => {
            let code = evaluation.error_code().unwrap_or(ErrorCode::General);
            Outcome::Failed(json!({
                "key": key,
                "errorCode": error_code(code),
                "errorDetails": error_details(key, code),
                "metadata": metadata(evaluation, info, answer, key),
            }))
        }
        reason => {
            let mut body = Map::with_capacity(5);
            body.insert("key".into(), Value::String(key.to_owned()));
            if let Some(value) = evaluation.value() {
                body.insert("value".into(), value.clone());
            }
            // Always present (OpenFeature's Python provider reads it
            // unconditionally); empty when nothing was served, as flagd
            // answers. `value` is then left out: the caller's default
            // applies (OFREP's disabled flag).
            let variant = evaluation.variant().unwrap_or_default();
            body.insert("variant".into(), Value::String(variant.to_owned()));
            let fixed = info.flags.get(key).is_some_and(|flag| flag.fixed);
            let reason = if reason == Reason::Default && fixed {
                "STATIC"
            } else {
                reason.openfeature()
            };
            body.insert("reason".into(), Value::String(reason.to_owned()));
            body.insert("metadata".into(), metadata(evaluation, info, answer, key));
            Outcome::Success(Value::Object(body))
        }
    }
}

/// OFREP's error codes are OpenFeature's; those without an OFREP
/// counterpart are `GENERAL`.
fn error_code(code: ErrorCode) -> &'static str {
    match code.openfeature() {
        code @ ("TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "PARSE_ERROR") => code,
        _ => "GENERAL",
    }
}

fn error_details(key: &str, code: ErrorCode) -> String {
    match code {
        ErrorCode::TargetingKeyMissing => format!(
            "flag `{key}` buckets by the targeting key and the context has no `targetingKey`"
        ),
        ErrorCode::MissingBucketingAttribute => {
            format!("flag `{key}` buckets by an attribute the context does not have (or has empty)")
        }
        ErrorCode::AttributeTypeMismatch | ErrorCode::InvalidAttributeValue => {
            format!("a context attribute of flag `{key}` has a type or form its rule cannot read")
        }
        _ => format!("flag `{key}` served no value ({})", code.as_str()),
    }
}

fn metadata(
    evaluation: &Evaluation<'_>,
    info: &RevisionInfo,
    answer: Answer<'_>,
    key: &str,
) -> Value {
    let mut metadata = Map::with_capacity(4);
    if let Answer::Single(environment) = answer {
        metadata.insert("revision".into(), Value::String(info.revision.clone()));
        metadata.insert("environment".into(), Value::String(environment.to_owned()));
    }
    if let Some(owner) = info.flags.get(key).and_then(|flag| flag.owner.as_deref()) {
        metadata.insert("owner".into(), Value::String(owner.to_owned()));
    }
    if let Some(experiment) = evaluation.experiment() {
        metadata.insert("experiment".into(), Value::String(experiment.to_owned()));
    }
    Value::Object(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_read_or_refused_with_ofrep_codes() {
        let context =
            read_context(br#"{"context": {"targetingKey": "ada", "plan": "pro", "age": 7}}"#)
                .expect("valid");
        assert_eq!(context.targeting_key(), "ada");
        assert!(context.get("plan").is_some());
        assert_eq!(read_context(b"{}").expect("empty").targeting_key(), "");
        let refused = [
            (&b"not json"[..], "PARSE_ERROR"),
            (b"[1]", "PARSE_ERROR"),
            (br#"{"context": 3}"#, "INVALID_CONTEXT"),
            (br#"{"context": "ada"}"#, "INVALID_CONTEXT"),
            (br#"{"context": {"targetingKey": 7}}"#, "INVALID_CONTEXT"),
        ];
        for (body, code) in refused {
            let error = read_context(body).expect_err("refused");
            assert_eq!(error.code, code, "{}", String::from_utf8_lossy(body));
            assert!(!error.details.is_empty());
        }
    }

    #[test]
    fn error_codes_are_those_ofrep_lists() {
        assert_eq!(
            error_code(ErrorCode::TargetingKeyMissing),
            "TARGETING_KEY_MISSING"
        );
        assert_eq!(
            error_code(ErrorCode::MissingBucketingAttribute),
            "INVALID_CONTEXT"
        );
        assert_eq!(error_code(ErrorCode::TypeMismatch), "GENERAL");
        assert_eq!(error_code(ErrorCode::General), "GENERAL");
    }
}
