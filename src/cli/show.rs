//! `flagctl show`: one flag as resolved in each environment, marking what
//! overlays set.

use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;
use comfy_table::{Table, presets};
use serde::Serialize;
use serde_json::Value;

use crate::cli::output::{self, style};
use crate::cli::root::{self, OpenRoot};
use crate::cli::{CommandResult, Globals, UserError};
use crate::format::ResolvedDocument;
use crate::format::yaml::escape_pointer_token;
use crate::model::Flag;

/// Text or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// Show one flag as each environment resolves it
///
/// Without `--env`, every environment side by side, values set by an overlay
/// marked with `*`. With `--env`, the resolved document, each overridden
/// value annotated with the overlay file and line it came from.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl show new-checkout                 all environments side by side
  flagctl show new-checkout --env prod      the document prod serves, with origins
  flagctl show new-checkout --format json   resolved flags and overridden paths")]
pub struct Args {
    /// The flag's key
    key: String,

    /// Show only ENV
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    format: ShowFormat,
}

/// Finds a flag by key, with a helpful error when it does not exist.
pub fn require_flag<'a>(root: &'a OpenRoot, key: &str) -> Result<ResolvedDocument<'a>, UserError> {
    root.loaded.base_document(key).ok_or_else(|| {
        let keys: Vec<&str> = root.loaded.flag_keys().map(|k| k.as_str()).collect();
        let help = match crate::format::schema::closest(key, keys.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => "list the flags with `flagctl list`".to_owned(),
        };
        UserError::new(format!("flag `{key}` does not exist")).help(help)
    })
}

/// Pointers of the leaves (and replaced lists) an overlay set.
fn overridden_pointers(document: &ResolvedDocument<'_>) -> Vec<String> {
    fn walk(document: &ResolvedDocument<'_>, value: &Value, pointer: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    walk(
                        document,
                        child,
                        &format!("{pointer}/{}", escape_pointer_token(key)),
                        out,
                    );
                }
            }
            _ => {
                if document.is_overridden(pointer) {
                    out.push(pointer.to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(document, &document.value, "", &mut out);
    out
}

#[derive(Serialize)]
struct Override {
    pointer: String,
    source: String,
}

#[derive(Serialize)]
struct EnvironmentJson<'a> {
    name: &'a str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    overlay: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<&'a Flag>,
    /// The resolved document when it is not a valid flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<Value>,
    overrides: Vec<Override>,
}

#[derive(Serialize)]
struct ShowJson<'a> {
    key: &'a str,
    base: &'a str,
    environments: Vec<EnvironmentJson<'a>>,
}

/// Runs `flagctl show`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let root = root::open(globals)?;
    require_flag(&root, &args.key)?;
    let environments = root.environments(args.env.as_deref())?;
    let mut stdout = anstream::stdout().lock();
    match args.format {
        ShowFormat::Json => {
            let document = ShowJson {
                key: &args.key,
                base: root.loaded.base_path(&args.key).unwrap_or_default(),
                environments: environments
                    .iter()
                    .map(|name| {
                        let flag = root
                            .loaded
                            .environments
                            .get(name)
                            .and_then(|e| e.flags.get(args.key.as_str()));
                        let resolved = root.loaded.resolved_document(name, &args.key);
                        EnvironmentJson {
                            name,
                            valid: flag.is_some(),
                            overlay: root.loaded.overlay_path(name, &args.key),
                            flag,
                            document: if flag.is_none() {
                                resolved.as_ref().map(|d| d.value.clone().into_owned())
                            } else {
                                None
                            },
                            overrides: resolved
                                .as_ref()
                                .map(|d| {
                                    overridden_pointers(d)
                                        .into_iter()
                                        .map(|pointer| Override {
                                            source: d.origin(&pointer).to_string(),
                                            pointer,
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        }
                    })
                    .collect(),
            };
            stdout.write_all(output::json_pretty(&document).as_bytes())?;
        }
        ShowFormat::Text => match &args.env {
            Some(environment) => show_one(
                &root,
                &args.key,
                environment,
                globals.color_stdout,
                &mut stdout,
            )?,
            None => show_side_by_side(
                &root,
                &args.key,
                &environments,
                globals.color_stdout,
                &mut stdout,
            )?,
        },
    }
    drop(stdout);
    let invalid: Vec<&String> = environments
        .iter()
        .filter(|e| {
            !root
                .loaded
                .environments
                .get(*e)
                .is_some_and(|r| r.flags.contains_key(args.key.as_str()))
        })
        .collect();
    if !invalid.is_empty() {
        let mut stderr = anstream::stderr().lock();
        let names: Vec<String> = invalid.iter().map(|e| format!("`{e}`")).collect();
        writeln!(
            stderr,
            "{}: flag `{}` has errors in {}",
            paint(globals.color_stderr, style::ERROR, "error"),
            args.key,
            names.join(", ")
        )?;
        writeln!(stderr, "help: run `flagctl validate` to see them")?;
        return Ok(ExitCode::FAILURE);
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

struct Row {
    label: String,
    pointer: String,
    cell: fn(&Flag, &str) -> String,
    arg: String,
}

fn rows(flags: &[Option<&Flag>]) -> Vec<Row> {
    let mut rows = vec![Row {
        label: "enabled".into(),
        pointer: "/enabled".into(),
        cell: |f, _| if f.enabled { "yes".into() } else { "no".into() },
        arg: String::new(),
    }];
    let mut variants: Vec<String> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    let mut rule_count = 0;
    let mut has_salt = false;
    let mut has_off = false;
    for flag in flags.iter().flatten() {
        for v in flag.variants.keys() {
            if !variants.contains(v) {
                variants.push(v.clone());
            }
        }
        for t in flag.targets.keys() {
            if !targets.contains(t) {
                targets.push(t.clone());
            }
        }
        rule_count = rule_count.max(flag.rules.len());
        has_salt |= flag.salt.is_some();
        has_off |= flag.off_variant.is_some();
    }
    if has_off {
        rows.push(Row {
            label: "off_variant".into(),
            pointer: "/off_variant".into(),
            cell: |f, _| f.off_variant.clone().unwrap_or_else(|| "-".into()),
            arg: String::new(),
        });
    }
    for variant in variants {
        rows.push(Row {
            label: format!("variant {variant}"),
            pointer: format!("/variants/{}", escape_pointer_token(&variant)),
            cell: |f, v| {
                f.variants
                    .get(v)
                    .map_or_else(|| "-".into(), ToString::to_string)
            },
            arg: variant,
        });
    }
    for variant in targets {
        rows.push(Row {
            label: format!("targets → {variant}"),
            pointer: format!("/targets/{}", escape_pointer_token(&variant)),
            cell: |f, v| {
                f.targets
                    .get(v)
                    .map_or_else(|| "-".into(), |keys| keys.join(", "))
            },
            arg: variant,
        });
    }
    for index in 0..rule_count {
        rows.push(Row {
            label: format!("rule {}", index + 1),
            pointer: format!("/rules/{index}"),
            cell: |f, i| {
                let index: usize = i.parse().unwrap_or(0);
                f.rules.get(index).map_or_else(
                    || "-".into(),
                    |rule| {
                        let name = rule
                            .name
                            .as_ref()
                            .map(|n| format!("{n}: "))
                            .unwrap_or_default();
                        format!("{name}{} → {}", rule.when, rule.serve.summary())
                    },
                )
            },
            arg: index.to_string(),
        });
    }
    rows.push(Row {
        label: "default".into(),
        pointer: "/default".into(),
        cell: |f, _| f.default_summary(),
        arg: String::new(),
    });
    if has_salt {
        rows.push(Row {
            label: "salt".into(),
            pointer: "/salt".into(),
            cell: |f, _| f.salt.clone().unwrap_or_else(|| "-".into()),
            arg: String::new(),
        });
    }
    rows
}

fn header(
    root: &OpenRoot,
    key: &str,
    flag: Option<&Flag>,
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut title = paint(color, style::HEADING, key);
    if let Some(flag) = flag {
        title.push_str(&format!(" ({})", flag.kind));
        if let Some(description) = &flag.description {
            title.push_str(&format!(" — {description}"));
        }
    }
    writeln!(out, "{title}")?;
    let mut facts = Vec::new();
    if let Some(flag) = flag {
        if let Some(owner) = &flag.owner {
            facts.push(format!("owner: {owner}"));
        }
        if let Some(expires) = flag.expires {
            facts.push(format!("expires: {expires}"));
        }
        if !flag.tags.is_empty() {
            facts.push(format!("tags: {}", flag.tags.join(", ")));
        }
    }
    if let Some(path) = root.loaded.base_path(key) {
        facts.push(root.paths.show(std::path::Path::new(path)));
    }
    writeln!(out, "{}", paint(color, style::DIM, &facts.join(" · ")))
}

fn show_side_by_side(
    root: &OpenRoot,
    key: &str,
    environments: &[String],
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let flags: Vec<Option<&Flag>> = environments
        .iter()
        .map(|e| {
            root.loaded
                .environments
                .get(e)
                .and_then(|r| r.flags.get(key))
        })
        .collect();
    let documents: Vec<Option<ResolvedDocument<'_>>> = environments
        .iter()
        .map(|e| root.loaded.resolved_document(e, key))
        .collect();
    header(
        root,
        key,
        root.loaded
            .base_flags
            .get(key)
            .or(flags.iter().flatten().next().copied()),
        color,
        out,
    )?;
    writeln!(out)?;
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    let mut head = vec![String::new()];
    for environment in environments {
        let protected = root
            .loaded
            .config
            .as_ref()
            .is_some_and(|c| c.is_protected(environment));
        head.push(if protected {
            format!("{environment} (protected)")
        } else {
            environment.clone()
        });
    }
    table.set_header(head);
    let mut any_override = false;
    for row in rows(&flags) {
        let mut cells = vec![row.label.clone()];
        for (flag, document) in flags.iter().zip(&documents) {
            let cell = match flag {
                Some(flag) => {
                    let text = (row.cell)(flag, &row.arg);
                    if document
                        .as_ref()
                        .is_some_and(|d| d.is_overridden(&row.pointer))
                    {
                        any_override = true;
                        format!("{text} *")
                    } else {
                        text
                    }
                }
                None => "invalid".to_owned(),
            };
            cells.push(cell);
        }
        table.add_row(cells);
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    if any_override {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            paint(
                color,
                style::DIM,
                &format!(
                    "* set by an overlay ({})",
                    root.paths
                        .show(std::path::Path::new(&format!("overlays/<env>/{key}.yaml")))
                )
            )
        )?;
    }
    Ok(())
}

fn show_one(
    root: &OpenRoot,
    key: &str,
    environment: &str,
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let flag = root
        .loaded
        .environments
        .get(environment)
        .and_then(|r| r.flags.get(key));
    header(
        root,
        key,
        flag.or(root.loaded.base_flags.get(key)),
        color,
        out,
    )?;
    let overlay = root.loaded.overlay_path(environment, key);
    let origin = match overlay {
        Some(path) => format!(
            "in {environment}: base + {}",
            root.paths.show(std::path::Path::new(path))
        ),
        None => format!("in {environment}: base only (no overlay)"),
    };
    writeln!(out, "{}", paint(color, style::DIM, &origin))?;
    writeln!(out)?;
    let Some(document) = root.loaded.resolved_document(environment, key) else {
        return Ok(());
    };
    let mut lines = Vec::new();
    emit(&document, &document.value, "", 0, None, &mut lines);
    let width = lines
        .iter()
        .map(|(text, _)| text.chars().count())
        .max()
        .unwrap_or(0);
    for (text, origin) in lines {
        match origin {
            Some(origin) => {
                let padding = " ".repeat(width - text.chars().count() + 2);
                writeln!(
                    out,
                    "{}{padding}{}",
                    paint(color, style::OVERRIDE, &text),
                    paint(
                        color,
                        style::DIM,
                        &format!("# {}", root.paths.show(std::path::Path::new(&origin)))
                    )
                )?;
            }
            None => writeln!(out, "{text}")?,
        }
    }
    Ok(())
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let plain = !s.is_empty()
                && !s.contains([':', '#', '{', '}', '[', ']', ',', '"', '\'', '\n'])
                && !s.starts_with([' ', '-', '*', '&', '!', '|', '>', '%', '@', '`'])
                && !s.ends_with(' ')
                && matches!(crate::format::yaml::parse(s, std::path::Path::new("")).map(|d| d.value), Ok(Value::String(ref parsed)) if parsed == s);
            if plain {
                s.clone()
            } else {
                Value::String(s.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

fn is_flat(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(|v| !v.is_array() && !v.is_object()),
        Value::Object(map) => {
            map.values().all(|v| !v.is_array() && !v.is_object()) && map.len() <= 6
        }
        _ => true,
    }
}

fn flow(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", scalar(&Value::String(k.clone())), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => scalar(other),
    }
}

/// Emits a YAML-like rendering, one (line, origin-when-overridden) per line.
fn emit(
    document: &ResolvedDocument<'_>,
    value: &Value,
    pointer: &str,
    indent: usize,
    key: Option<&str>,
    out: &mut Vec<(String, Option<String>)>,
) {
    let pad = " ".repeat(indent);
    let origin = |pointer: &str| {
        if document.is_overridden(pointer) {
            let location = document.origin(pointer);
            Some(match location.span {
                Some(span) => format!("{}:{}", location.file.display(), span.start.line),
                None => location.file.display().to_string(),
            })
        } else {
            None
        }
    };
    let prefix = key
        .map(|k| format!("{}: ", scalar(&Value::String(k.to_owned()))))
        .unwrap_or_default();
    if is_flat(value) {
        if !pointer.is_empty() {
            out.push((format!("{pad}{prefix}{}", flow(value)), origin(pointer)));
        }
        return;
    }
    let (child_indent, header) = if pointer.is_empty() {
        (indent, None)
    } else {
        (indent + 2, Some(format!("{pad}{}", prefix.trim_end())))
    };
    if let Some(header) = header {
        out.push((header, None));
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                emit(
                    document,
                    v,
                    &format!("{pointer}/{}", escape_pointer_token(k)),
                    child_indent,
                    Some(k),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_pointer = format!("{pointer}/{i}");
                let dash = format!("{}- ", " ".repeat(child_indent));
                match item {
                    Value::Object(map) if !is_flat(item) => {
                        let mut nested = Vec::new();
                        for (k, v) in map {
                            emit(
                                document,
                                v,
                                &format!("{item_pointer}/{}", escape_pointer_token(k)),
                                child_indent + 2,
                                Some(k),
                                &mut nested,
                            );
                        }
                        for (n, (text, from)) in nested.into_iter().enumerate() {
                            let text = if n == 0 {
                                format!("{dash}{}", text.trim_start())
                            } else {
                                text
                            };
                            out.push((text, from));
                        }
                    }
                    _ => out.push((format!("{dash}{}", flow(item)), origin(&item_pointer))),
                }
            }
        }
        _ => {}
    }
}
