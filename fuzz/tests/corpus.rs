//! Every fuzz target's body over its seed corpus, without libFuzzer: a
//! plain `cargo test` on stable catches a regression on a seed (or on a
//! crash input saved beside them) even where the fuzzer is not run.

use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn every_target_passes_over_its_seeds() {
    for (name, body) in bgapp_fuzz::TARGETS {
        let corpus = dir().join("corpus").join(name);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", corpus.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(
            inputs.len() >= 3,
            "{} holds {} seeds; keep a handful",
            corpus.display(),
            inputs.len()
        );
        for input in inputs {
            let bytes = std::fs::read(&input).unwrap();
            eprintln!("{name}: {}", input.display());
            body(&bytes);
        }
    }
}

#[test]
fn every_target_has_a_binary_and_a_corpus() {
    let mut binaries: Vec<String> = std::fs::read_dir(dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    binaries.sort();
    let mut corpora: Vec<String> = std::fs::read_dir(dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    corpora.sort();
    let mut targets: Vec<String> = bgapp_fuzz::TARGETS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    targets.sort();
    assert_eq!(binaries, targets, "fuzz_targets/*.rs and TARGETS");
    assert_eq!(corpora, targets, "corpus/* and TARGETS");
}
