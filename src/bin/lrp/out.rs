//! Everything the command line prints, in one place: standard output line by line through
//! the library's sanitiser (a closed pipe ends the run quietly, status 0, as `head` expects),
//! warnings and errors on standard error as one sanitised line each, clap's usage errors cut
//! to one line with exit status 1, and the size of rayon's thread pool.

use std::io::Write;

/// The longest line written to standard output, in characters (a table row, a JSON line);
/// longer lines (only absurd names from a file make them) are cut by the sanitiser.
const MAX_OUT_CHARS: usize = 1 << 16;

/// The most threads `RAYON_NUM_THREADS` may ask for per core the process may use (and never
/// fewer than [`MIN_THREAD_CAP`]): more only cost memory and time.
const MAX_THREADS_PER_CORE: usize = 8;

/// The cap on `RAYON_NUM_THREADS` on a machine with few cores.
const MIN_THREAD_CAP: usize = 64;

/// Write `text` to standard output, each of its lines sanitised
/// ([`lrp::error::sanitize_with`]; tab-separated fields one by one, so that the tabs between
/// them stay, and spaces are kept for the tables' alignment). A
/// reader that has gone away (`| head -1`) ends the process quietly with status 0; any other
/// failure to write ends it with one error line, status 1.
pub fn line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    for l in text.split('\n') {
        let l = l
            .split('\t')
            .map(|field| lrp::error::sanitize_with(field, MAX_OUT_CHARS))
            .collect::<Vec<_>>()
            .join("\t");
        if let Err(e) = writeln!(stdout, "{l}").and_then(|()| stdout.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            err_line(&format!("lrp: error: cannot write to standard output: {e}"));
            std::process::exit(1);
        }
    }
}

/// Write `message` to standard error as one sanitised line ([`lrp::error::sanitize`]). A
/// failure to write there has nowhere to be reported and is ignored.
pub fn err_line(message: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        lrp::error::sanitize(message)
    );
}

/// The one line of an error and its causes, each cause only if it adds something (lrp's own
/// errors already include the I/O error they wrap).
pub fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// Report `e` as `lrp: error: …` on one line and exit with status 1.
pub fn fail(e: &anyhow::Error) -> ! {
    err_line(&format!("lrp: error: {}", message(e)));
    std::process::exit(1)
}

/// clap's verdict on the arguments: help and version print as clap prints them (status 0);
/// an error is one line, `lrp: error: …` with its first meaningful line and where to find the
/// usage, and status 1 (the README's convention for every bad input).
pub fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // A closed pipe while printing help is not an error either.
            let _ = e.print();
            std::process::exit(0)
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("invalid arguments");
            let first = first.strip_prefix("error:").unwrap_or(first).trim();
            err_line(&format!("lrp: error: {first} (see `{}`)", help_command()));
            std::process::exit(1)
        }
    }
}

/// `lrp SUBCOMMAND --help` for the subcommand on the command line, or `lrp --help`.
fn help_command() -> String {
    const SUBCOMMANDS: [&str; 5] = ["explain", "forward", "figure", "info", "compare"];
    let sub = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| SUBCOMMANDS.contains(&a.as_str()));
    match sub {
        Some(s) => format!("lrp {s} --help"),
        None => "lrp --help".into(),
    }
}

/// Build rayon's global pool with the size `RAYON_NUM_THREADS` asks for, capped at
/// [`MAX_THREADS_PER_CORE`] threads per available core, at least [`MIN_THREAD_CAP`] (with a
/// warning): rayon itself would try to start every thread asked for and panic when the
/// system refuses one. A value that is not a number is rayon's to ignore. Should the pool
/// still not start, that is one error line.
pub fn thread_pool() -> anyhow::Result<()> {
    let asked = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cap = cores
        .saturating_mul(MAX_THREADS_PER_CORE)
        .max(MIN_THREAD_CAP);
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = asked.filter(|&n| n > cap) {
        err_line(&format!(
            "lrp: warning: RAYON_NUM_THREADS={n} is more than {cap} threads \
             ({MAX_THREADS_PER_CORE} per core, {cores} cores); using {cap}"
        ));
        builder = builder.num_threads(cap);
    }
    builder
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot start the thread pool: {e}"))
}
