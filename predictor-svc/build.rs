//! Links libtorch so CUDA is found at run time (tch-rs #907/#942: without `--no-as-needed` the
//! linker drops `libtorch_cuda` and CUDA is silently unavailable) and embeds an rpath to the
//! wheel's `torch/lib`, so the binary runs without `LD_LIBRARY_PATH`.
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not export its libtorch lib dir; run scripts/setup.sh");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-L{lib}");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
