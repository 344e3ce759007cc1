//! A tiny web service that follows its flags the way production code would:
//! one runtime client, built at startup, evaluated per request, hot-reloaded
//! when a commit lands. No HTTP dependency: std's `TcpListener`.
//!
//! ```console
//! $ cargo run --example service                      # the bundled flags/, environment prod, port 8080
//! $ curl -s 'http://127.0.0.1:8080/?user=alice'
//! $ curl -s 'http://127.0.0.1:8080/status'
//! ```
//!
//! Then, in another terminal, `flagctl disable recommendations-panel --env
//! prod --yes` (or commit an overlay with `enabled: false`): the next request
//! shows the page without the panel, with the new commit as its revision.
//!
//! Options: `--env ENV` (default `prod`), `--port PORT` (default 8080),
//! `--root DIR` (default: the flag root found from the current directory).

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

use flagctl::eval::Context;
use flagctl::watch::{Client, Event};

struct Options {
    environment: String,
    port: u16,
    root: Option<PathBuf>,
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        environment: "prod".into(),
        port: 8080,
        root: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("`{arg}` needs a value"));
        match arg.as_str() {
            "--env" => options.environment = value()?,
            "--port" => options.port = value()?.parse()?,
            "--root" => options.root = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option `{other}`").into()),
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    let root = match options.root {
        Some(root) => root,
        None => flagctl::format::discover_root(&std::env::current_dir()?).ok_or(
            "no flag root here or above (looked for `flagctl.yaml` and `flags/flagctl.yaml`)",
        )?,
    };

    // Follow the branch checked out in the root's repository: only committed,
    // valid states are served. Refuse to start without one (no fallback).
    let client = Client::builder()
        .environment(&options.environment)
        .git_head(&root)
        .exposures(1024)
        .on_event(|event| match event {
            Event::Applied(change) => {
                let flags: Vec<String> = change
                    .flags
                    .iter()
                    .map(|flag| format!("{} ({})", flag.key, flag.kind))
                    .collect();
                println!(
                    "flags: now serving {} [{}] loaded in {:.1} ms",
                    &change.revision[..change.revision.len().min(12)],
                    flags.join(", "),
                    change.timings.total().as_secs_f64() * 1e3
                );
            }
            Event::Rejected(rejection) => eprintln!("flags: {rejection}"),
            Event::SourceError(failure) => eprintln!("flags: {}", failure.error),
            _ => {}
        })
        .build()?;
    // Experiment exposures would go to an analytics pipeline; here, a log line.
    let exposures = client.take_exposures().ok_or("exposures are on")?;
    std::thread::spawn(move || {
        while let Some(exposure) = exposures.recv() {
            println!(
                "exposure: {} saw {} of {} ({})",
                exposure.targeting_key, exposure.variant, exposure.experiment, exposure.flag
            );
        }
    });

    let listener = TcpListener::bind(("127.0.0.1", options.port))?;
    println!(
        "serving http://127.0.0.1:{}/?user=alice with the flags of `{}` at {} ({})",
        options.port,
        options.environment,
        client.current().revision(),
        root.display()
    );
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("accept: {error}");
                continue;
            }
        };
        if let Err(error) = handle(&client, stream) {
            eprintln!("request: {error}");
        }
    }
    Ok(())
}

fn handle(client: &Client, mut stream: TcpStream) -> std::io::Result<()> {
    let mut request = String::new();
    BufReader::new(&stream).read_line(&mut request)?;
    let target = request.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parameter = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    };
    let body = match path {
        "/status" => status_page(client),
        _ => {
            let user = parameter("user").unwrap_or_else(|| "anonymous".into());
            let mut context = Context::new(user.as_str());
            if let Some(country) = parameter("country") {
                context.set("country", country.as_str());
            }
            if let Some(email) = parameter("email") {
                context.set("email", email.as_str());
            }
            product_page(client, &user, &context)
        }
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One request's page: every flag read from the same state.
fn product_page(client: &Client, user: &str, context: &Context) -> String {
    let flags = client.current();
    let mut page = format!(
        "Product page for {user}   (flags of `{}` at {})\n\n",
        client.environment(),
        flags.revision()
    );
    let panel = flags.bool_evaluation("recommendations-panel", context, false);
    if panel.value {
        page.push_str("[ You may also like: socks, a hat, another hat ]\n");
    } else {
        page.push_str("(no recommendations panel)\n");
    }
    let color = flags.string_evaluation("checkout-button-color", context, "#1f6feb");
    let checkout = flags.bool_evaluation("new-checkout", context, false);
    page.push_str(&format!(
        "[ Checkout ] button colour {}, {} checkout\n\n",
        color.value,
        if checkout.value {
            "new one-page"
        } else {
            "classic"
        }
    ));
    for (key, evaluation) in [
        ("recommendations-panel", &panel.evaluation),
        ("checkout-button-color", &color.evaluation),
        ("new-checkout", &checkout.evaluation),
    ] {
        page.push_str(&format!(
            "  {key}: {} ({})\n",
            evaluation.variant().unwrap_or("-"),
            evaluation.reason()
        ));
    }
    page
}

fn status_page(client: &Client) -> String {
    let status = client.status();
    let mut page = format!(
        "revision: {}\norigin: {}\nflags: {}\nreloads: {}\nrejections: {}\nlatest seen: {}\nlast error: {}\n\nevaluations:\n",
        status.revision,
        status.origin.as_str(),
        status.flag_count,
        status.reloads,
        status.rejections,
        status.latest_revision.as_deref().unwrap_or("-"),
        status
            .last_error
            .as_ref()
            .map_or("-", |problem| problem.message.as_str()),
    );
    for (flag, counts) in client.evaluation_counts().flags {
        let variants: Vec<String> = counts
            .variants
            .iter()
            .map(|(variant, count)| format!("{variant} {count}"))
            .collect();
        page.push_str(&format!("  {flag}: {}\n", variants.join(", ")));
    }
    page
}
