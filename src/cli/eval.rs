//! `flagctl eval`: what a user gets and why, now or at a past revision.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;

use crate::cli::output::PathDisplay;
use crate::cli::output::{self, style};
use crate::cli::root::{self, OpenRoot, display_dir, store_error};
use crate::cli::{CommandResult, Globals, UserError};
use crate::eval::{
    AttributeValue, ConditionTrace, Context, Evaluation, Explanation, Outcome, Reason, ServeTrace,
    Snapshot, Step,
};
use crate::format::{RootFiles, load};
use crate::store::Store;

/// Text or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// Evaluate a flag for a user: what they get, and why
///
/// Builds the context from `--user` (the targeting key), `--attr name=value`
/// and `--context FILE.json` (OpenFeature style: `targetingKey` plus
/// attributes), resolves the environment, and evaluates exactly as the
/// runtime does. A value given to `--attr` is read as JSON when it is JSON
/// (`30`, `true`, `["a","b"]`), else as a string; quote to force a string
/// (`--attr 'app_version="4.10"'`). `--at` evaluates the flags as they were
/// committed at a past revision.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl eval new-checkout --env prod --user user-42
  flagctl eval new-checkout --env prod --user u1 --attr country=DE --attr plan=enterprise --explain
  flagctl eval new-checkout --env prod --user user-42 --at HEAD~3      what did user-42 get back then?
  flagctl eval --all --env prod --user user-42 --format json
  flagctl eval api-rate-limits --env prod --context ctx.json")]
pub struct Args {
    /// The flag's key (omit with --all)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    key: Option<String>,

    /// Evaluate every flag
    #[arg(long)]
    all: bool,

    /// The environment
    #[arg(long, short, value_name = "ENV")]
    env: String,

    /// The targeting key (user id)
    #[arg(long, short, value_name = "ID")]
    user: Option<String>,

    /// An attribute, NAME=VALUE; dots in NAME address nested maps (repeatable)
    #[arg(long = "attr", short = 'a', value_name = "NAME=VALUE")]
    attributes: Vec<String>,

    /// A JSON file with the context (`targetingKey` plus attributes); `-` reads standard input
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,

    /// Evaluate the flags as committed at REVISION (a commit, branch, tag, `HEAD~3`)
    #[arg(long, value_name = "REVISION")]
    at: Option<String>,

    /// Walk the steps: targets, each rule and why it matched or not, the bucket and the ranges
    #[arg(long, conflicts_with = "all")]
    explain: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = EvalFormat::Text)]
    format: EvalFormat,
}

fn attribute(argument: &str) -> Result<(String, AttributeValue), UserError> {
    let Some((name, text)) = argument.split_once('=') else {
        return Err(UserError::new(format!(
            "invalid attribute `{argument}`: expected NAME=VALUE"
        ))
        .help("for example `--attr country=DE` or `--attr age=30`")
        .usage());
    };
    if name.is_empty() {
        return Err(
            UserError::new(format!("invalid attribute `{argument}`: the name is empty")).usage(),
        );
    }
    let json =
        serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    let value = AttributeValue::from_json(&json).ok_or_else(|| {
        UserError::new(format!(
            "invalid attribute `{argument}`: `{text}` is not a usable value"
        ))
        .help("use a string, number, boolean, list of strings or object")
        .usage()
    })?;
    Ok((name.to_owned(), value))
}

fn context(args: &Args) -> anyhow::Result<Context> {
    let mut context = match &args.context {
        None => Context::default(),
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(path).map_err(|e| {
                    anyhow::Error::new(e).context(format!("cannot read `{}`", path.display()))
                })?
            };
            let json: Value = serde_json::from_str(&text).map_err(|e| {
                UserError::new(format!("`{}` is not valid JSON: {e}", path.display())).help(
                    "write an object such as {\"targetingKey\": \"user-42\", \"country\": \"DE\"}",
                )
            })?;
            Context::from_json(&json).map_err(|e| {
                UserError::new(format!("invalid context in `{}`: {e}", path.display()))
            })?
        }
    };
    if let Some(user) = &args.user {
        context.set_targeting_key(user.as_str());
    }
    for argument in &args.attributes {
        let (name, value) = attribute(argument)?;
        context.set(&name, value);
    }
    Ok(context)
}

/// The flag root's files and the revision they stand for.
fn source(globals: &Globals, at: Option<&str>) -> anyhow::Result<(PathBuf, RootFiles, String)> {
    let dir = root::locate(globals)?;
    match at {
        Some(revision) => {
            let store = Store::discover(&dir).map_err(|e| store_error(&e))?;
            let commit = store.resolve(revision).map_err(|e| store_error(&e))?;
            let files = store.read_root_at(revision).map_err(|e| store_error(&e))?;
            let id = commit.id.to_string();
            Ok((dir, files, id[..12.min(id.len())].to_owned()))
        }
        None => {
            let files = RootFiles::from_dir(&dir).map_err(|e| {
                anyhow::Error::new(e)
                    .context(format!("cannot read the flag root `{}`", dir.display()))
            })?;
            let revision = Store::discover(&dir)
                .ok()
                .and_then(|store| store.worktree_state().ok())
                .and_then(|state| {
                    let id = match state.head {
                        crate::store::Head::Branch { id, .. } => id?,
                        crate::store::Head::Detached { id } => id,
                    };
                    let id = id.to_string();
                    let short = id[..12.min(id.len())].to_owned();
                    Some(if state.is_dirty() {
                        format!("{short}-dirty")
                    } else {
                        short
                    })
                })
                .unwrap_or_else(|| "working-tree".to_owned());
            Ok((dir, files, revision))
        }
    }
}

#[derive(Serialize)]
struct EvaluationJson<'a> {
    flag: &'a str,
    environment: &'a str,
    #[serde(flatten)]
    evaluation: Evaluation<'a>,
}

/// Runs `flagctl eval`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let context = context(args)?;
    let (dir, files, revision) = source(globals, args.at.as_deref())?;
    let loaded = load(&files, &root::load_options(globals));
    let root = OpenRoot {
        paths: PathDisplay {
            root: display_dir(&dir),
        },
        dir,
        files,
        loaded,
    };
    root.check_environment(&args.env)?;
    if let Some(key) = &args.key {
        // The same error `show` gives, with a suggestion.
        crate::cli::show::require_flag(&root, key)?;
    }
    let diagnostics = root.diagnostics_for(Some(&args.env));
    if diagnostics.iter().any(|d| d.is_error()) {
        root.print_problems(&diagnostics, globals.color_stderr)?;
        let at = args
            .at
            .as_deref()
            .map(|r| format!(" at `{r}`"))
            .unwrap_or_default();
        return Err(UserError::new(format!(
            "`{}`{at} has errors: nothing to evaluate",
            args.env
        ))
        .help(
            "a runtime never serves an invalid state; fix the errors, or evaluate another revision",
        )
        .into());
    }
    let Some(environment) = root.loaded.environments.get(&args.env) else {
        return Err(UserError::new(format!("environment `{}` did not resolve", args.env)).into());
    };
    let snapshot = Snapshot::compile(environment, &revision)
        .map_err(|e| UserError::new(format!("cannot compile `{}`: {e}", args.env)))?;
    let mut stdout = anstream::stdout().lock();
    let color = globals.color_stdout;
    if args.all {
        let evaluations = snapshot.evaluate_all(&context);
        match args.format {
            EvalFormat::Json => {
                let list: Vec<EvaluationJson<'_>> = evaluations
                    .iter()
                    .map(|(flag, evaluation)| EvaluationJson {
                        flag,
                        environment: &args.env,
                        evaluation: *evaluation,
                    })
                    .collect();
                stdout.write_all(output::json_pretty(&list).as_bytes())?;
            }
            EvalFormat::Text => {
                let mut table = comfy_table::Table::new();
                table.load_style(comfy_table::presets::NOTHING);
                table.set_header(["FLAG", "VARIANT", "VALUE", "REASON"]);
                for (flag, evaluation) in &evaluations {
                    table.add_row([
                        (*flag).to_owned(),
                        evaluation.variant().unwrap_or("-").to_owned(),
                        evaluation
                            .value()
                            .map_or_else(|| "(caller default)".to_owned(), ToString::to_string),
                        why(evaluation),
                    ]);
                }
                for line in table.lines() {
                    writeln!(stdout, "{}", line.trim_end())?;
                }
                writeln!(
                    stdout,
                    "{}",
                    paint(
                        color,
                        style::DIM,
                        &format!("revision {revision} in {}", args.env)
                    )
                )?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let key = args.key.as_deref().unwrap_or_default();
    if args.explain {
        let explanation = snapshot.explain(key, &context);
        match args.format {
            EvalFormat::Json => stdout.write_all(output::json_pretty(&explanation).as_bytes())?,
            EvalFormat::Text => write_explanation(&explanation, color, &mut stdout)?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let evaluation = snapshot.evaluate(key, &context);
    match args.format {
        EvalFormat::Json => {
            let document = EvaluationJson {
                flag: key,
                environment: &args.env,
                evaluation,
            };
            stdout.write_all(output::json_pretty(&document).as_bytes())?;
        }
        EvalFormat::Text => {
            let value = evaluation
                .value()
                .map_or_else(|| "(the caller's default)".to_owned(), ToString::to_string);
            let variant = evaluation
                .variant()
                .map(|v| format!(" (variant {v})"))
                .unwrap_or_default();
            writeln!(
                stdout,
                "{} = {}{variant}",
                paint(color, style::HEADING, key),
                value
            )?;
            writeln!(stdout, "  reason: {}", why(&evaluation))?;
            writeln!(
                stdout,
                "  {}",
                paint(
                    color,
                    style::DIM,
                    &format!("revision {revision} in {}", args.env)
                )
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn paint(color: bool, s: anstyle::Style, text: &str) -> String {
    if color {
        format!("{s}{text}{s:#}")
    } else {
        text.to_owned()
    }
}

fn rule_label(index: Option<usize>, name: Option<&str>) -> String {
    match (index, name) {
        (Some(i), Some(name)) => format!("rule {} `{name}`", i + 1),
        (Some(i), None) => format!("rule {}", i + 1),
        _ => "the default".to_owned(),
    }
}

/// One line saying why: `SPLIT: the default's rollout, bucket 7345 of 100000`.
fn why(evaluation: &Evaluation<'_>) -> String {
    let reason = evaluation.reason();
    let detail = match reason {
        Reason::TargetMatch => "the user is listed in `targets`".to_owned(),
        Reason::RuleMatch => format!(
            "{} matched",
            rule_label(evaluation.rule_index(), evaluation.rule_name())
        ),
        Reason::Split => {
            let place = match evaluation.rule_index() {
                Some(_) => format!(
                    "{} matched; its rollout",
                    rule_label(evaluation.rule_index(), evaluation.rule_name())
                ),
                None => "the default rollout".to_owned(),
            };
            match evaluation.split() {
                Some(split) => format!("{place}, bucket {} of 100000", split.bucket),
                None => place,
            }
        }
        Reason::Default => "no target or rule matched".to_owned(),
        Reason::Disabled => "the flag is disabled".to_owned(),
        Reason::FlagNotFound => "no such flag".to_owned(),
        Reason::Error => "nothing could be served".to_owned(),
    };
    let error = evaluation
        .error_code()
        .map(|code| format!(" [{}]", code.as_str()))
        .unwrap_or_default();
    format!("{}: {detail}{error}", reason.as_str())
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Matched => "matched",
        Outcome::NotMatched => "no match",
        Outcome::Error => "error",
        Outcome::Skipped => "skipped",
    }
}

fn write_condition(
    trace: &ConditionTrace,
    depth: usize,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let pad = "  ".repeat(depth);
    let mut line = format!("{pad}{} — {}", trace.condition, outcome_word(trace.outcome));
    if let Some(actual) = &trace.actual {
        line.push_str(&format!(" (found {actual})"));
    }
    if let Some(membership) = trace.membership {
        line.push_str(&format!(" ({membership})"));
    }
    if let Some(error) = trace.error {
        line.push_str(&format!(" [{}]", error.as_str()));
    }
    writeln!(out, "{line}")?;
    for child in &trace.children {
        write_condition(child, depth + 1, out)?;
    }
    Ok(())
}

fn write_serve(serve: &ServeTrace, out: &mut impl Write) -> std::io::Result<()> {
    if let Some(rollout) = &serve.rollout {
        let value = rollout
            .value
            .as_deref()
            .map_or("(missing)".to_owned(), |v| format!("`{v}`"));
        writeln!(
            out,
            "       rollout by `{}`: murmur3(`{}` ++ {value})",
            rollout.by, rollout.salt
        )?;
        if let Some(split) = rollout.split {
            writeln!(
                out,
                "       hash {:#010x} → bucket {} of 100000",
                split.hash, split.bucket
            )?;
        }
        for range in &rollout.ranges {
            let hit = rollout
                .split
                .is_some_and(|s| s.bucket >= range.start && s.bucket < range.end);
            writeln!(
                out,
                "         {:<12} {:>6}%  [{:>6}, {:>6}){}",
                range.variant,
                range.weight,
                range.start,
                range.end,
                if hit { "  ←" } else { "" }
            )?;
        }
    }
    if let Some(error) = serve.fell_through {
        writeln!(out, "       fell through [{}]", error.as_str())?;
    }
    if let Some(variant) = &serve.variant {
        writeln!(out, "       serves {variant}")?;
    }
    Ok(())
}

fn write_explanation(
    explanation: &Explanation,
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} in {} at {}",
        paint(color, style::HEADING, &explanation.flag),
        explanation.environment,
        explanation.revision
    )?;
    writeln!(
        out,
        "{}",
        paint(
            color,
            style::DIM,
            &format!("context {}", explanation.context)
        )
    )?;
    for (number, step) in explanation.steps.iter().enumerate() {
        let n = number + 1;
        match step {
            Step::FlagNotFound => writeln!(out, "  {n}. no flag with this key")?,
            Step::Disabled { off_variant } => writeln!(
                out,
                "  {n}. disabled → {}",
                off_variant
                    .as_deref()
                    .unwrap_or("nothing (the caller's default)")
            )?,
            Step::Targets {
                targeting_key,
                matched,
            } => match matched {
                Some(variant) => writeln!(
                    out,
                    "  {n}. targets: `{targeting_key}` is listed under {variant}"
                )?,
                None => writeln!(out, "  {n}. targets: `{targeting_key}` is not listed")?,
            },
            Step::Rule {
                index,
                name,
                matched,
                condition,
                serve,
            } => {
                writeln!(
                    out,
                    "  {n}. {}: {}",
                    rule_label(Some(*index), name.as_deref()),
                    if *matched { "matched" } else { "no match" }
                )?;
                write_condition(condition, 3, out)?;
                if let Some(serve) = serve {
                    write_serve(serve, out)?;
                }
            }
            Step::Default { serve } => {
                writeln!(out, "  {n}. default")?;
                write_serve(serve, out)?;
            }
        }
    }
    let result = &explanation.result;
    let value = result
        .value
        .as_ref()
        .map_or_else(|| "(the caller's default)".to_owned(), ToString::to_string);
    let variant = result
        .variant
        .as_deref()
        .map(|v| format!(" (variant {v})"))
        .unwrap_or_default();
    writeln!(
        out,
        "{} {value}{variant}, reason {}",
        paint(color, style::OK, "result:"),
        result.reason.as_str()
    )?;
    Ok(())
}
