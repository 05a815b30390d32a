//! What the benches share: whether a table printed outside criterion should
//! run, judged from the bench's arguments the way criterion judges its own
//! benchmarks.

/// Criterion's options that take a value (the next argument is not a name
/// filter).
const VALUED: &[&str] = &[
    "--color",
    "-c",
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "--plotting-backend",
    "--output-format",
    "--format",
];

/// Whether the table named `name` runs: not under `--list`, and not when a
/// name filter excludes it (a filter contained in the name, or containing
/// it, selects it; criterion's own filters are regexes, so `a|b` selects a
/// table named `b`).
pub fn selected(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return false;
    }
    args.iter().enumerate().all(|(i, a)| {
        a.starts_with('-')
            || (i > 0 && VALUED.contains(&args[i - 1].as_str()))
            || a.split('|')
                .any(|alt| name.contains(alt) || alt.contains(name))
    })
}

/// `--test`: criterion's smoke run (each benchmark once); tables then run a
/// handful of operations, to prove the code runs.
pub fn smoke() -> bool {
    std::env::args().any(|a| a == "--test")
}
