//! The benchmarks' figures: every one in BENCHMARKS.md and in the README's Speed
//! section is what tests/bench/report.py writes from the measurements kept in
//! tests/bench/results/, and its verdicts never call met what was not measured.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `report.py render [--check] RESULTS... -- DOCS...`.
fn report(check: bool, results: &[PathBuf], docs: &[PathBuf]) -> Output {
    require_tool("python3", "python3");
    let mut command = Command::new("python3");
    command
        .arg(repo().join("tests/bench/report.py"))
        .arg("render");
    if check {
        command.arg("--check");
    }
    command.args(results).arg("--").args(docs);
    command.output().unwrap()
}

/// The measurements kept in the repository.
fn kept() -> Vec<PathBuf> {
    let dir = repo().join("tests/bench/results");
    if absent(&dir) {
        return Vec::new();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Copies of BENCHMARKS.md and README.md in `dir`.
fn copies(dir: &Path) -> Vec<PathBuf> {
    ["BENCHMARKS.md", "README.md"]
        .iter()
        .map(|name| {
            let copy = dir.join(name);
            std::fs::copy(repo().join(name), &copy).unwrap();
            copy
        })
        .collect()
}

#[test]
fn every_benchmark_figure_is_the_one_the_kept_measurements_give() {
    let docs = [repo().join("BENCHMARKS.md"), repo().join("README.md")];
    let output = report(true, &kept(), &docs);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    // The controls: the same check fails on a figure written by hand, outside the
    // blocks or inside one.
    let dir = tempfile::tempdir().unwrap();
    let docs = copies(dir.path());
    let text = std::fs::read_to_string(&docs[0]).unwrap();
    std::fs::write(&docs[0], format!("{text}\n`get` takes 2.9 ms here.\n")).unwrap();
    let output = report(true, &kept(), &docs);
    assert!(
        !output.status.success() && stderr(&output).contains("2.9 ms"),
        "a figure outside the blocks is found: {}",
        stderr(&output)
    );
    let docs = copies(dir.path());
    let edited = text.replacen(
        "<!-- bench:targets -->\n",
        "<!-- bench:targets -->\nAll targets met.\n",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&docs[0], edited).unwrap();
    let output = report(true, &kept(), &docs);
    assert!(
        !output.status.success() && stderr(&output).contains("differs"),
        "an edited block is found: {}",
        stderr(&output)
    );
}

/// A run of `times` for each measurement, as bench.sh keeps one.
fn run_file(dir: &Path, times: &[(&str, Vec<f64>)]) -> PathBuf {
    let path = dir.join("main.json");
    let times: serde_json::Map<String, serde_json::Value> = times
        .iter()
        .map(|(key, xs)| ((*key).to_owned(), serde_json::json!(xs)))
        .collect();
    let run = serde_json::json!({
        "name": "main",
        "command": "tests/bench/bench.sh",
        "sizes": [10, 10000],
        "helpers": ["pat-keychain", "secretservice"],
        "machine": "test",
        "versions": "test",
        "times_ms": times,
        "rss_kib": {},
    });
    std::fs::write(&path, run.to_string()).unwrap();
    path
}

/// Near `ms`, spread by `spread` either way.
fn around(ms: f64, spread: f64) -> Vec<f64> {
    (0..30)
        .map(|i| ms + spread * ((i % 7) as f64 - 3.0) / 3.0)
        .collect()
}

#[test]
fn a_benchmark_figure_below_the_floor_or_within_noise_is_never_met() {
    let dir = tempfile::tempdir().unwrap();
    let results = run_file(
        dir.path(),
        &[
            ("floor.true", around(1.0, 0.05)),
            // Clearly met.
            ("pat-keychain.get.10", around(2.7, 0.1)),
            ("secretservice.get.10", around(13.0, 0.3)),
            // Faster than /bin/true: hyperfine's shell correction went too far.
            ("pat-keychain.get.10000", around(0.4, 0.05)),
            ("pat-keychain-ref.get.10000", around(5.0, 0.1)),
            ("secretservice.get.10000", around(46.0, 1.0)),
            // The keyring's whole share, give or take: a limit inside the noise.
            ("pat-keychain.store.10", around(5.0, 0.2)),
            ("pat-keychain.store.10000", around(80.0, 3.0)),
            ("pat-keychain-ref.store.10000", around(75.0, 3.0)),
        ],
    );
    let docs = copies(dir.path());
    let output = report(false, &[results], &docs);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&docs[0]).unwrap();
    let row = |target: &str, place: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("| {target} | {place}")))
            .unwrap_or_else(|| panic!("no row for {target} at {place}:\n{text}"))
            .to_owned()
    };
    let ratio = "`get` ≤ 0.25× `docker-credential-secretservice`";
    assert!(
        row(ratio, "keychain, N = 10 |").ends_with("| yes |"),
        "the control: a clear margin is met: {text}"
    );
    let below = row(ratio, "keychain, N = 10,000 |");
    assert!(below.ends_with("| not measurable |"), "{below}");
    assert!(
        row("`get` ≤ 1.15× its N = 10 median", "keychain, N = 10,000")
            .ends_with("| not measurable |")
    );
    let noisy = row("`store` ≤ 2.0× its N = 10 median", "keychain, N = 10,000");
    assert!(noisy.ends_with("| within noise |"), "{noisy}");
    assert!(
        text.contains("| 0.4 (0.4–0.5)† |"),
        "the figure is marked: {text}"
    );
    let summary = text
        .lines()
        .find(|l| l.starts_with(&format!("| {ratio} | ")) && l.contains("`main`"))
        .unwrap();
    assert!(
        summary.starts_with(&format!("| {ratio} | not decided |")),
        "met only where every run says yes: {summary}"
    );
}

#[test]
fn the_openbao_get_is_judged_against_the_vault_files_get_of_the_same_run() {
    // Rounds of one measurement, as bench.sh keeps them, pool into one.
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    for (file, ms) in [
        ("openbao.get@1.json", 2.0),
        ("openbao.get@2.json", 2.1),
        ("openbao.vault-get@1.json", 1.6),
        ("openbao.vault-get@2.json", 1.5),
        ("floor.true.json", 1.0),
    ] {
        let times: Vec<f64> = around(ms, 0.05).iter().map(|t| t / 1000.0).collect();
        let run = serde_json::json!({ "results": [{ "times": times }] });
        std::fs::write(raw.join(file), run.to_string()).unwrap();
    }
    let kept = dir.path().join("openbao.json");
    let output = Command::new("python3")
        .arg(repo().join("tests/bench/report.py"))
        .args(["collect"])
        .arg(&raw)
        .arg(&kept)
        .args([
            "openbao",
            "tests/bench/bench.sh --openbao-only",
            "10",
            "secretservice",
        ])
        .args(["test", "test"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(run["times_ms"]["openbao.get"].as_array().unwrap().len(), 60);
    assert!(run["times_ms"].get("openbao.get@1").is_none());

    let docs = copies(dir.path());
    let output = report(false, std::slice::from_ref(&kept), &docs);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&docs[0]).unwrap();
    let target =
        "| OpenBao `get` ≤ 1.5× the vault file's `get` | registry default, the two taking turns |";
    let row = text.lines().find(|l| l.starts_with(target));
    assert!(
        row.is_some_and(|r| r.ends_with("| yes |")),
        "about 1.3×: {text}"
    );
    assert!(
        text.contains("| pat-file `get` (the vault file, key cached)"),
        "{text}"
    );

    // Twice the vault's: not met.
    let results = run_file(
        dir.path(),
        &[
            ("floor.true", around(1.0, 0.05)),
            ("openbao.get", around(3.4, 0.1)),
            ("openbao.vault-get", around(1.5, 0.05)),
        ],
    );
    let docs = copies(dir.path());
    let output = report(false, &[results], &docs);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&docs[0]).unwrap();
    let row = text.lines().find(|l| l.starts_with(target)).unwrap();
    assert!(row.ends_with("| no |"), "{row}");
}
