//! Step 1 and 2 of loading: classify each file by the root layout, then
//! parse it with positions, check it against its schema, run the raw-value
//! prechecks and deserialize it into the typed model.

use serde::Deserialize;
use serde_json::Value;

use super::SourceDocument;
use crate::diagnostic::{Code, Diagnostic, Location};
use crate::format::check::{self, Doc};
use crate::format::files::CONFIG_FILE;
use crate::format::schema::{self, DocumentKind};
use crate::format::yaml;
use crate::model::{Flag, RootConfig, Segment, check_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    Config,
    Flag,
    Segment,
    Overlay,
}

impl FileKind {
    fn schema(self) -> DocumentKind {
        match self {
            FileKind::Config => DocumentKind::Config,
            FileKind::Flag => DocumentKind::Flag,
            FileKind::Segment => DocumentKind::Segment,
            FileKind::Overlay => DocumentKind::Overlay,
        }
    }
}

pub(super) struct Entry<'a> {
    pub(super) kind: FileKind,
    pub(super) path: &'a str,
    pub(super) bytes: &'a [u8],
    /// The file stem (flag key, segment name), when it is a valid name.
    pub(super) stem: Option<&'a str>,
    /// The overlay's environment.
    pub(super) environment: Option<&'a str>,
}

pub(super) enum Typed {
    None,
    Config(RootConfig),
    Flag(Box<Flag>),
    Segment(Box<Segment>),
}

pub(super) struct Parsed {
    pub(super) document: Option<SourceDocument>,
    pub(super) typed: Typed,
    /// Schema and prechecks passed.
    pub(super) shape_ok: bool,
    pub(super) diagnostics: Vec<Diagnostic>,
}

pub(super) fn classify<'a>(
    path: &'a str,
    bytes: &'a [u8],
    out: &mut Vec<Diagnostic>,
) -> Option<Entry<'a>> {
    let parts: Vec<&str> = path.split('/').collect();
    let (kind, environment, name) = match parts.as_slice() {
        [name] if *name == CONFIG_FILE => {
            return Some(Entry {
                kind: FileKind::Config,
                path,
                bytes,
                stem: None,
                environment: None,
            });
        }
        ["base", name] => (FileKind::Flag, None, *name),
        ["segments", name] => (FileKind::Segment, None, *name),
        ["overlays", environment, name] => (FileKind::Overlay, Some(*environment), *name),
        _ => return None,
    };
    let Some(stem) = name.strip_suffix(".yaml") else {
        let help = match name.strip_suffix(".yml") {
            Some(stem) => format!("rename it to `{stem}.yaml`"),
            None => "flag roots hold `.yaml` files only; move it elsewhere".to_owned(),
        };
        out.push(
            Diagnostic::warning(
                Code::UnexpectedFile,
                format!("`{path}` is ignored: documents end in `.yaml`"),
            )
            .at(Location::file(path))
            .with_help(help),
        );
        return None;
    };
    let stem = match check_name(stem) {
        Ok(()) => Some(stem),
        Err(error) => {
            out.push(
                Diagnostic::error(Code::InvalidName, format!("file name {error}"))
                    .at(Location::file(path))
                    .with_help("rename the file"),
            );
            None
        }
    };
    if let Some(environment) = environment
        && let Err(error) = check_name(environment)
    {
        out.push(
            Diagnostic::error(Code::InvalidName, format!("environment directory {error}"))
                .at(Location::file(path)),
        );
        return None;
    }
    Some(Entry {
        kind,
        path,
        bytes,
        stem,
        environment,
    })
}

pub(super) fn parse_entry(entry: &Entry<'_>, index: u32, files: &[String]) -> Parsed {
    let mut diagnostics = Vec::new();
    let failed = |diagnostics| Parsed {
        document: None,
        typed: Typed::None,
        shape_ok: false,
        diagnostics,
    };
    let Ok(text) = std::str::from_utf8(entry.bytes) else {
        diagnostics.push(
            Diagnostic::error(Code::Encoding, "the file is not valid UTF-8")
                .at(Location::file(entry.path))
                .with_help("save it as UTF-8"),
        );
        return failed(diagnostics);
    };
    let mut document = match yaml::parse(text, std::path::Path::new(entry.path)) {
        Ok(document) => document,
        Err(errors) => return failed(errors),
    };
    document.spans.set_file(index);
    let doc = Doc {
        files,
        value: &document.value,
        spans: &document.spans,
        environment: None,
    };
    for problem in schema::check(entry.kind.schema(), &document.value) {
        let location = if problem.at_key {
            doc.at_key(&problem.pointer)
        } else {
            doc.at(&problem.pointer)
        };
        let mut diagnostic = Diagnostic::error(problem.code, problem.message).at(location);
        if entry.kind == FileKind::Overlay
            && problem.code == Code::UnknownField
            && matches!(problem.pointer.as_str(), "/key" | "/type")
        {
            diagnostic.message = format!(
                "an overlay cannot change `{}`",
                problem.pointer.trim_start_matches('/')
            );
            diagnostic.code = Code::InvalidValue;
            diagnostic = diagnostic
                .with_help("set it in the base file; overlays only change how the flag is served");
        } else if let Some(help) = problem.help {
            diagnostic = diagnostic.with_help(help);
        }
        diagnostics.push(diagnostic);
    }
    let mut shape_ok = diagnostics.is_empty();
    // The name inside the document must equal the file stem.
    let name_field = match entry.kind {
        FileKind::Flag => Some("key"),
        FileKind::Segment => Some("name"),
        _ => None,
    };
    if let (Some(field), Some(stem)) = (name_field, entry.stem)
        && let Some(name) = document.value.get(field).and_then(Value::as_str)
    {
        if let Err(error) = check_name(name) {
            diagnostics.push(
                Diagnostic::error(Code::InvalidName, format!("{field} {error}"))
                    .at(doc.at(&format!("/{field}")))
                    .with_help(format!("set `{field}: {stem}` (the file's name)")),
            );
            shape_ok = false;
        } else if name != stem {
            diagnostics.push(
                Diagnostic::error(
                    Code::KeyMismatch,
                    format!("{field} `{name}` does not match the file name `{stem}.yaml`"),
                )
                .at(doc.at(&format!("/{field}")))
                .with_help(format!(
                    "set `{field}: {stem}`, or rename the file to `{name}.yaml`"
                )),
            );
            shape_ok = false;
        }
    }
    let mut typed = Typed::None;
    if shape_ok {
        let prechecked = match entry.kind {
            FileKind::Flag => check::precheck_flag(&doc, &mut diagnostics),
            FileKind::Segment => check::precheck_segment(&doc, &mut diagnostics),
            FileKind::Config | FileKind::Overlay => true,
        };
        shape_ok = prechecked;
        if prechecked {
            typed = deserialize(entry, &document.value, &mut diagnostics);
            if matches!(typed, Typed::None) && entry.kind != FileKind::Overlay {
                shape_ok = false;
            }
        }
    }
    Parsed {
        document: Some(SourceDocument {
            value: document.value,
            spans: document.spans,
        }),
        typed,
        shape_ok,
        diagnostics,
    }
}

fn deserialize(entry: &Entry<'_>, value: &Value, out: &mut Vec<Diagnostic>) -> Typed {
    let result = match entry.kind {
        FileKind::Config => RootConfig::deserialize(value).map(Typed::Config),
        FileKind::Flag => {
            Flag::deserialize(value).map(|f| Typed::Flag(Box::new(f.with_implicit_variants())))
        }
        FileKind::Segment => Segment::deserialize(value).map(|s| Typed::Segment(Box::new(s))),
        FileKind::Overlay => return Typed::None,
    };
    result.unwrap_or_else(|error| {
        // The schema and prechecks should have caught everything; say what
        // slipped through rather than dropping it.
        out.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("the document does not fit the format: {error}"),
            )
            .at(Location::file(entry.path)),
        );
        Typed::None
    })
}
