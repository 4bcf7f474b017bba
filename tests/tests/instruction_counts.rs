//! Row 8 of BENCHMARKS.md, checked on every `cargo test`: the instruction counts (wasmtime
//! fuel) of `init` (SLO and empty components) and of computeStatus over 1,000 downtime events
//! stay within 10 % of `benchmarks/fuel-baseline.json`. Fuel is deterministic, so this fails
//! on a real regression and never on a busy machine.
//!
//! After an intended change, refresh the baseline and commit it:
//! `FUEL_BASELINE_UPDATE=1 cargo test -p slo-tests --test instruction_counts`.

use std::path::PathBuf;

use slo_host::bench::instructions::{baseline, compare, counts, BASELINE, TOLERANCE};

fn baseline_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(BASELINE)
}

#[test]
fn instruction_counts_stay_within_ten_percent_of_the_baseline() {
    let counts = counts().expect("the counts");
    let path = baseline_path();
    if std::env::var_os("FUEL_BASELINE_UPDATE").is_some() {
        let text = serde_json::to_string_pretty(&counts).unwrap();
        std::fs::write(&path, format!("{text}\n")).unwrap();
        eprintln!("baseline written to {}", path.display());
        return;
    }
    let baseline = baseline(&path).expect("a recorded baseline");
    let compared = compare(&counts, &baseline);
    let report: Vec<String> = compared
        .iter()
        .map(|(name, count, base, change)| {
            format!(
                "{name}: {count} vs baseline {base:?} ({:+.1} %)",
                change * 100.0
            )
        })
        .collect();
    eprintln!("{}", report.join("\n"));
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        baseline.keys().collect::<Vec<_>>(),
        "the baseline names other counts; refresh it (see the module docs)"
    );
    let regressions: Vec<&String> = compared
        .iter()
        .zip(&report)
        .filter(|((_, _, _, change), _)| change.abs() > TOLERANCE)
        .map(|(_, line)| line)
        .collect();
    assert!(
        regressions.is_empty(),
        "instruction counts moved more than {:.0} % from the baseline:\n{regressions:#?}\n\
         If the change is intended, refresh the baseline (see the module docs).",
        TOLERANCE * 100.0
    );
    // The counts are real: computeStatus over 1,000 events does far more than an empty init.
    assert!(counts["computeStatus.1000events"] > 10 * counts["init.empty"]);
}
