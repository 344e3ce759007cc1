//! The source options `flagctl watch` and `flagctl serve` share: which
//! branch, remote, directory or snapshot file to follow, and how often;
//! and the relay source, which only `flagctl watch` offers (a relay does
//! not follow another relay).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::root;
use crate::cli::{Globals, UserError};
use crate::watch::{RelayToken, Source};

/// Where the flags come from (default: the branch checked out in the
/// repository holding the flag root).
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// Follow git reference REF of the flag root's repository (default: the checked-out branch)
    #[arg(long = "ref", value_name = "REF", group = "source")]
    pub reference: Option<String>,

    /// Follow a remote branch, fetched periodically (BRANCH defaults to `main`)
    #[arg(long, value_name = "URL[#BRANCH]", group = "source")]
    pub remote: Option<String>,

    /// Follow a flag root directory as it is on disk (default: the flag root)
    #[arg(long, value_name = "PATH", group = "source", num_args = 0..=1)]
    pub dir: Option<Option<PathBuf>>,

    /// Follow a snapshot file written by `flagctl build`
    #[arg(long, value_name = "FILE", group = "source")]
    pub snapshot: Option<PathBuf>,

    /// Where the flag root is in the remote's tree (default: the top if it holds `flagctl.yaml`, else `flags`)
    #[arg(long, value_name = "PATH", requires = "remote")]
    pub remote_root: Option<String>,

    /// Keep the remote's cache repository in DIR (default: a temporary directory)
    #[arg(long, value_name = "DIR", requires = "remote")]
    pub cache_dir: Option<PathBuf>,

    /// How often to look at the source without a file-system event, or to fetch a remote, in seconds (default: 0.05 for a reference, 30 for a remote, 1 otherwise)
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub interval: Option<Duration>,
}

/// A relay's base URL: `http://` or `https://`.
pub fn parse_relay_url(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(text.to_owned()),
        _ => Err(format!(
            "`{text}` is not a relay URL: give its base URL, such as `https://flags.example.com`"
        )),
    }
}

/// The source following the relay at `url`, with the token in `token_file`.
pub fn relay(url: &str, token_file: Option<&std::path::Path>) -> anyhow::Result<Source> {
    let token = match token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                UserError::new(format!(
                    "cannot read the token file `{}`: {error}",
                    path.display()
                ))
                .help("give a file holding the relay token on its first line")
            })?;
            let token = text.trim();
            if token.is_empty() || token.contains(char::is_whitespace) {
                return Err(UserError::new(format!(
                    "the token file `{}` does not hold one token",
                    path.display()
                ))
                .help("write the token alone in the file (a final newline is fine)")
                .into());
            }
            Some(RelayToken::new(token))
        }
        None => None,
    };
    Ok(Source::Relay {
        url: url.to_owned(),
        token,
    })
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("`{text}` must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A source to follow, and the temporary directory that holds a remote's
/// cache (removed when dropped) unless `--cache-dir` names one. `label`
/// names the command in the temporary directory's name.
pub fn resolve(
    globals: &Globals,
    args: &SourceArgs,
    label: &str,
    environment: Option<&str>,
) -> anyhow::Result<(Source, Option<tempfile::TempDir>)> {
    let mut temporary_cache = None;
    let source = if let Some(remote) = &args.remote {
        let (url, branch) = match remote.rsplit_once('#') {
            Some((url, branch)) if !branch.is_empty() => (url, branch),
            _ => (remote.as_str(), "main"),
        };
        let cache_name = match environment {
            Some(environment) => format!("cache-{environment}.git"),
            None => "cache.git".to_owned(),
        };
        let cache_dir = match &args.cache_dir {
            // One client: the directory is its cache; several: one each inside.
            Some(dir) if environment.is_none() => dir.clone(),
            Some(dir) => dir.join(&cache_name),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix(&format!("flagctl-{label}-"))
                    .tempdir()
                    .map_err(|e| {
                        anyhow::Error::new(e).context("cannot create a cache directory")
                    })?;
                let path = dir.path().join(&cache_name);
                temporary_cache = Some(dir);
                path
            }
        };
        Source::Remote {
            url: url.to_owned(),
            branch: branch.to_owned(),
            cache_dir,
            root: args.remote_root.clone(),
        }
    } else if let Some(path) = &args.snapshot {
        Source::SnapshotFile(path.clone())
    } else if let Some(dir) = &args.dir {
        match dir {
            Some(dir) => Source::Directory(dir.clone()),
            None => Source::Directory(root::locate(globals)?),
        }
    } else {
        Source::GitRef {
            root: root::locate(globals)?,
            reference: args.reference.clone(),
        }
    };
    Ok((source, temporary_cache))
}
