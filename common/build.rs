//! Compiles `../proto/**/*.proto` hermetically (protox, no system `protoc`) into tonic/prost code
//! plus a descriptor set for server reflection, and gives this crate's tests and benches an rpath to
//! libtorch so they run without `LD_LIBRARY_PATH`.
use std::path::{Path, PathBuf};

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read proto dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            proto_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../proto");
    let mut files = Vec::new();
    proto_files(&root, &mut files);
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&root]).expect("compile protos");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("lstm_descriptor.bin"), prost::Message::encode_to_vec(&fds))
        .expect("write descriptor set");
    tonic_prost_build::configure()
        .compile_fds(fds)
        .expect("generate gRPC code");

    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
