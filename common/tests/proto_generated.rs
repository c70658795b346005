//! The protocol code committed in `common/src/pb/` is exactly what `proto/` generates.
//!
//! `common/src/pb.rs` includes committed code instead of generating it in a build script, so a
//! build of the services does not compile a protobuf compiler first. This test regenerates the
//! Rust code and the descriptor set the same way the build script used to (protox, then
//! tonic-prost-build) and compares them byte for byte. After changing a `.proto` file, rewrite
//! them with `UPDATE_PROTO=1 cargo test -p common --test proto_generated`.
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

#[test]
fn committed_protocol_code_matches_the_proto_files() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.join("../proto");
    let mut files = Vec::new();
    proto_files(&root, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .proto files under {}", root.display());

    let fds = protox::compile(&files, [&root]).expect("compile protos");
    let descriptor = prost::Message::encode_to_vec(&fds);
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .out_dir(out.path())
        .emit_rerun_if_changed(false)
        .compile_fds(fds)
        .expect("generate gRPC code");
    let code = std::fs::read(out.path().join("lstm.v1.rs")).expect("generated lstm.v1.rs");

    let committed_code = crate_dir.join("src/pb/lstm.v1.rs");
    let committed_descriptor = crate_dir.join("src/pb/lstm_descriptor.bin");
    if std::env::var_os("UPDATE_PROTO").is_some() {
        std::fs::write(&committed_code, &code).unwrap();
        std::fs::write(&committed_descriptor, &descriptor).unwrap();
        return;
    }
    let stale = |what: &Path| {
        format!(
            "{} is not what proto/ generates; run `UPDATE_PROTO=1 cargo test -p common --test proto_generated` and commit the result",
            what.display()
        )
    };
    assert!(std::fs::read(&committed_code).unwrap() == code, "{}", stale(&committed_code));
    assert!(std::fs::read(&committed_descriptor).unwrap() == descriptor, "{}", stale(&committed_descriptor));
}
