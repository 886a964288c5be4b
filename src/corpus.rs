//! The committed seed corpus under `tests/corpus/`, which the parsers'
//! property tests replay before their random cases, so inputs that once
//! mattered keep being checked on every run.

use std::path::PathBuf;

/// Every input of one kind (`store`, `address`, `config`): each `.txt` file
/// gives one input per line, any other file is one input as a whole.
pub(crate) fn inputs(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let mut inputs = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with(".txt") {
            for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if !line.is_empty() {
                    inputs.push((format!("{name}:{}", i + 1), line.to_vec()));
                }
            }
        } else {
            inputs.push((name, bytes));
        }
    }
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    inputs
}

/// Property-test settings: `PROPTEST_CASES` and friends from the environment, and no
/// regression files written into the source tree (inputs worth keeping go in the corpus).
pub(crate) fn proptest_config() -> proptest::prelude::ProptestConfig {
    proptest::prelude::ProptestConfig {
        failure_persistence: None,
        ..Default::default()
    }
}
