//! `trainer-svc`: the lstm.v1.Trainer service and its one-shot commands (SPEC §12).
fn main() {
    println!("trainer-svc: being written");
}
