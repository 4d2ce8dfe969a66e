//! Writes `spec/vectors/*.json` from fixed seeds. Run from anywhere:
//! `cargo run -p parley-protocol --example gen_vectors --features test-support`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    std::fs::create_dir_all(&dir)?;
    for (name, text) in parley_protocol::test_vectors::all() {
        std::fs::write(dir.join(name), text)?;
        println!("wrote spec/vectors/{name}");
    }
    Ok(())
}
