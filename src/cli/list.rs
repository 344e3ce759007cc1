//! `flagctl list`: what each environment serves, one row per flag.

use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;
use comfy_table::{Table, presets};
use serde::Serialize;

use crate::cli::output::{self, style};
use crate::cli::root;
use crate::cli::{CommandResult, Globals};
use crate::model::{Flag, Serve};

/// Table or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON document for scripts.
    Json,
}

/// List flags per environment
///
/// One table per environment: each flag's key, type, whether it is enabled,
/// what it serves by default, how many rules and targets it has, its owner
/// and expiry. Flags with errors in an environment are listed as invalid.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl list                      every environment
  flagctl list --env prod           one environment
  flagctl list --env prod --format json | jq '.environments[0].flags[].key'")]
pub struct Args {
    /// List only ENV
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

#[derive(Serialize)]
struct FlagRow<'a> {
    key: &'a str,
    valid: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    /// What is served to someone no target or rule matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    serves: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<&'a Serve>,
    #[serde(skip_serializing_if = "Option::is_none")]
    off_variant: Option<&'a str>,
    rules: usize,
    targets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    expired: bool,
}

#[derive(Serialize)]
struct EnvironmentRows<'a> {
    name: &'a str,
    protected: bool,
    flags: Vec<FlagRow<'a>>,
}

#[derive(Serialize)]
struct ListJson<'a> {
    valid: bool,
    environments: Vec<EnvironmentRows<'a>>,
}

/// What a flag serves to someone no target or rule matches.
pub fn serves(flag: &Flag) -> String {
    if flag.enabled {
        flag.default_summary()
    } else {
        match &flag.off_variant {
            Some(off) => format!("{off} (disabled)"),
            None => "nothing (disabled)".to_owned(),
        }
    }
}

fn row<'a>(key: &'a str, flag: Option<&'a Flag>, today: jiff::civil::Date) -> FlagRow<'a> {
    match flag {
        Some(flag) => FlagRow {
            key,
            valid: true,
            kind: Some(flag.kind.as_str()),
            enabled: Some(flag.enabled),
            serves: Some(serves(flag)),
            default: Some(&flag.default),
            off_variant: flag.off_variant.as_deref(),
            rules: flag.rules.len(),
            targets: flag.targets.values().map(Vec::len).sum(),
            owner: flag.owner.as_deref(),
            expires: flag.expires.map(|d| d.to_string()),
            expired: flag.expires.is_some_and(|d| d < today),
        },
        None => FlagRow {
            key,
            valid: false,
            kind: None,
            enabled: None,
            serves: None,
            default: None,
            off_variant: None,
            rules: 0,
            targets: 0,
            owner: None,
            expires: None,
            expired: false,
        },
    }
}

/// Runs `flagctl list`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let root = root::open(globals)?;
    let environments = root.environments(args.env.as_deref())?;
    let today = globals.today;
    let protected = |e: &str| {
        root.loaded
            .config
            .as_ref()
            .is_some_and(|c| c.is_protected(e))
    };
    let tables: Vec<EnvironmentRows<'_>> = environments
        .iter()
        .map(|name| {
            let resolved = root.loaded.environments.get(name);
            EnvironmentRows {
                name,
                protected: protected(name),
                flags: root
                    .loaded
                    .flag_keys()
                    .map(|key| row(key.as_str(), resolved.and_then(|r| r.flags.get(key)), today))
                    .collect(),
            }
        })
        .collect();
    let errors = root
        .diagnostics_for(args.env.as_deref())
        .iter()
        .filter(|d| d.is_error())
        .count();
    let mut stdout = anstream::stdout().lock();
    match args.format {
        ListFormat::Json => {
            let document = ListJson {
                valid: errors == 0,
                environments: tables,
            };
            stdout.write_all(output::json_pretty(&document).as_bytes())?;
        }
        ListFormat::Table => {
            let color = globals.color_stdout;
            let paint = |s: anstyle::Style, text: &str| {
                if color {
                    format!("{s}{text}{s:#}")
                } else {
                    text.to_owned()
                }
            };
            for (index, environment) in tables.iter().enumerate() {
                if index > 0 {
                    writeln!(stdout)?;
                }
                let title = if environment.protected {
                    format!("{} (protected)", environment.name)
                } else {
                    environment.name.to_owned()
                };
                writeln!(stdout, "{}", paint(style::HEADING, &title))?;
                let mut table = Table::new();
                table.load_style(presets::NOTHING);
                table.set_header([
                    "KEY", "TYPE", "ENABLED", "SERVES", "RULES", "TARGETS", "OWNER", "EXPIRES",
                ]);
                for flag in &environment.flags {
                    if !flag.valid {
                        table.add_row([
                            flag.key.to_owned(),
                            "-".into(),
                            "-".into(),
                            "invalid (see flagctl validate)".to_owned(),
                            String::new(),
                            String::new(),
                            String::new(),
                            String::new(),
                        ]);
                        continue;
                    }
                    let enabled = if flag.enabled == Some(false) {
                        "no".to_owned()
                    } else {
                        "yes".to_owned()
                    };
                    let expires = match (&flag.expires, flag.expired) {
                        (Some(date), true) => format!("{date} (expired)"),
                        (Some(date), false) => date.clone(),
                        (None, _) => "-".to_owned(),
                    };
                    table.add_row([
                        flag.key.to_owned(),
                        flag.kind.unwrap_or("-").to_owned(),
                        enabled,
                        flag.serves.clone().unwrap_or_default(),
                        flag.rules.to_string(),
                        flag.targets.to_string(),
                        flag.owner.unwrap_or("-").to_owned(),
                        expires,
                    ]);
                }
                for line in table.lines() {
                    writeln!(stdout, "{}", line.trim_end())?;
                }
            }
        }
    }
    drop(stdout);
    if errors > 0 {
        let mut stderr = anstream::stderr().lock();
        writeln!(
            stderr,
            "{}",
            output::summary_line(
                &crate::diagnostic::Summary::of(&root.diagnostics_for(args.env.as_deref())),
                globals.color_stderr
            )
        )?;
        writeln!(stderr, "help: run `flagctl validate` to see the problems")?;
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
