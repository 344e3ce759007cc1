//! Every fixture root under `tests/fixtures/{valid,invalid}/<case>/` is
//! loaded and its diagnostics compared with the snapshot stored next to it
//! (`diagnostics.snap`), locations included. Valid cases must have no error,
//! invalid cases at least one.

use std::path::{Path, PathBuf};

use flagctl::Diagnostic;
use flagctl::format::{LoadOptions, RootFiles, load};

fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let place = match &d.location {
            Some(location) => {
                let file = location.file.to_string_lossy().replace('\\', "/");
                match location.span {
                    Some(s) => format!(
                        " {file}:{}:{}-{}:{}",
                        s.start.line, s.start.column, s.end.line, s.end.column
                    ),
                    None => format!(" {file}"),
                }
            }
            None => String::new(),
        };
        let environment = d
            .environment
            .as_ref()
            .map(|e| format!(" (in {e})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}[{}]{place}{environment}: {}\n",
            d.severity, d.code, d.message
        ));
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("(no diagnostics)\n");
    }
    out
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn check(kind: &str) -> usize {
    let options = LoadOptions {
        today: Some(jiff::civil::date(2026, 11, 24)),
        threads: 1,
    };
    let cases = cases(kind);
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let files = RootFiles::from_dir(case).expect("readable fixture");
        let loaded = load(&files, &options);
        let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        match kind {
            "valid" => assert_eq!(errors, 0, "{name}: {}", render(&loaded.diagnostics)),
            _ => assert!(errors > 0, "{name} should have an error"),
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(case);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_input_file(case);
        settings.bind(|| insta::assert_snapshot!("diagnostics", render(&loaded.diagnostics)));
    }
    cases.len()
}

#[test]
fn invalid_fixtures_report_located_diagnostics() {
    let count = check("invalid");
    assert!(count >= 30, "only {count} invalid fixtures");
}

#[test]
fn valid_fixtures_have_no_errors() {
    check("valid");
}
