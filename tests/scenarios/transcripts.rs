//! Every transcript under `tests/transcripts/` (see `parley_tests::transcript`), run
//! against the real binaries.

use std::path::PathBuf;

#[test]
fn every_transcript_prints_what_it_shows() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/transcripts exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| parley_tests::transcript::run(file).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
