//! `predictor-svc`: the lstm.v1.Predictor service and `predict` command (SPEC §12).
fn main() {
    println!("predictor-svc: being written");
}
