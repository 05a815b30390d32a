//! `kernsync-lockdep`: merges exported lock-order graphs and checks them for
//! strong cycles (potential deadlocks), so cycles split across processes
//! (test binaries, say) fail CI too.
//!
//! Exit status: 0 no cycle, 1 at least one strong cycle, 2 usage or input
//! error (including a search that reached its bound).

use kernsync_lockdep::export::GraphSnapshot;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  kernsync-lockdep merge [-o OUT.json] [--dot OUT.dot] A.json B.json ...
      merge graphs exported by several processes, optionally write the merged
      graph (JSON, DOT), and report every strong cycle
  kernsync-lockdep cycles G.json
      report every strong cycle of one graph
  kernsync-lockdep dot G.json
      print a graph in Graphviz DOT

A file named - is standard input.
exit status: 0 no cycle, 1 a strong cycle (a potential deadlock) was found,
2 bad usage or input";

/// A failure that ends the program with status 2.
enum Failure {
    /// Bad command line: the message (may be empty), then the usage.
    Usage(String),
    /// Bad input or I/O error: the message alone.
    Error(String),
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let result = match args {
        Ok(args) => run(&args),
        Err(bad) => Err(Failure::Usage(format!(
            "argument {} is not valid UTF-8",
            bad.to_string_lossy()
        ))),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            if !message.is_empty() {
                eprintln!("kernsync-lockdep: {message}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Error(message)) => {
            eprintln!("kernsync-lockdep: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Failure::Usage(String::new()));
    };
    match command.as_str() {
        "-h" | "--help" | "help" => Err(Failure::Usage(String::new())),
        "merge" => merge(rest),
        "cycles" => check(&load(one_file("cycles", rest)?)?, String::new()),
        "dot" => {
            print(&load(one_file("dot", rest)?)?.to_dot())?;
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
}

/// The single file argument of `command`.
fn one_file<'a>(command: &str, rest: &'a [String]) -> Result<&'a str, Failure> {
    match rest {
        [file] if !file.starts_with('-') || file == "-" => Ok(file),
        [option] => Err(Failure::Usage(format!(
            "`{command}` takes no option `{option}`"
        ))),
        _ => Err(Failure::Usage(format!(
            "`{command}` takes exactly one file"
        ))),
    }
}

fn merge(args: &[String]) -> Result<ExitCode, Failure> {
    let mut json_out = None;
    let mut dot_out = None;
    let mut inputs = Vec::new();
    let mut options_done = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            _ if options_done => inputs.push(arg.as_str()),
            "--" => options_done = true,
            "-o" | "--output" | "--dot" => {
                let value = it
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("`{arg}` needs a file name")))?;
                if arg == "--dot" {
                    dot_out = Some(value.as_str());
                } else {
                    json_out = Some(value.as_str());
                }
            }
            "-h" | "--help" => return Err(Failure::Usage(String::new())),
            option if option.starts_with('-') && option != "-" => {
                return Err(Failure::Usage(format!("unknown option `{option}`")));
            }
            file => inputs.push(file),
        }
    }
    if inputs.is_empty() {
        return Err(Failure::Usage("`merge` needs at least one graph".into()));
    }
    let graphs = inputs
        .iter()
        .map(|file| load(file))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = GraphSnapshot::merge(&graphs);
    if let Some(path) = json_out {
        write(path, &merged.to_json())?;
    }
    if let Some(path) = dot_out {
        write(path, &merged.to_dot())?;
    }
    let summary = format!(
        "merged {}: {}, {}\n",
        count(graphs.len(), "graph", "graphs"),
        count(merged.classes.len(), "class", "classes"),
        count(merged.edges.len(), "edge", "edges")
    );
    check(&merged, summary)
}

/// Prints `report`, then the graph's strong cycles and unused suppressions;
/// status 1 if there is a cycle.
fn check(graph: &GraphSnapshot, mut report: String) -> Result<ExitCode, Failure> {
    let cycles = graph
        .cycles()
        .map_err(|e| Failure::Error(format!("cannot check the graph: {e}")))?;
    if cycles.is_empty() {
        report.push_str("no strong cycle (no potential deadlock) found\n");
    }
    for (i, cycle) in cycles.iter().enumerate() {
        let n = cycles.len();
        let _ = writeln!(
            report,
            "\npossible deadlock: strong cycle {} of {n}:",
            i + 1
        );
        for line in graph.describe_cycle(cycle).lines() {
            let _ = writeln!(report, "  {line}");
        }
    }
    for s in graph.suppressions.iter().filter(|s| s.hits == 0) {
        let _ = writeln!(
            report,
            "unused suppression: {} -> {} ({})",
            s.from, s.to, s.reason
        );
    }
    print(&report)?;
    Ok(if cycles.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// "1 edge", "2 edges".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Reads and parses one graph; `-` is standard input.
fn load(file: &str) -> Result<GraphSnapshot, Failure> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::Error(format!("cannot read standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Failure::Error(format!("cannot read {file}: {e}")))?
    };
    GraphSnapshot::from_json(&text).map_err(|e| Failure::Error(format!("{file}: {e}")))
}

fn write(path: &str, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| Failure::Error(format!("cannot write {path}: {e}")))
}

/// Writes to standard output; a closed pipe is an error, not a panic.
fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Error(format!("cannot write to standard output: {e}")))
}
