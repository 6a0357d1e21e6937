//! Embeds every dataset definition in `datasets/` into the Lambda binaries, so a deployment
//! carries exactly the definitions it was built and tested with (adding a dataset = add a file,
//! rebuild, redeploy). The definitions are validated by `make test` and again at cold start.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("datasets/ exists beside the crates")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    files.sort();
    let mut code = String::from("/// (file name, contents) of every embedded dataset definition.\npub static DATASETS: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        let path = f.canonicalize().unwrap();
        writeln!(
            code,
            "    ({:?}, include_str!({:?})),",
            format!("datasets/{name}"),
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("datasets.rs");
    std::fs::write(out, code).unwrap();
}
