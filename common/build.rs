//! Gives this crate's tests and benches an rpath to libtorch so they run without
//! `LD_LIBRARY_PATH`. (The protocol code is committed in `src/pb/`; see `src/pb.rs`.)
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
