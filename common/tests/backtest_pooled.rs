//! The pooled walk-forward backtest (SPEC §14.3, issue 25): fold origins are dates planned on the
//! first member's bars, every member is cut at the same origin and tested on the same dates (a
//! member with a missing day is tested on its own bars of those dates), one report per member and
//! the pooled metrics over every member's test days; a member without history is refused by name.
use common::backtest::{run_pooled_backtest, BacktestConfig};
use common::data::synthetic::{generate, SyntheticConfig};
use common::data::Bar;
use common::training::{DeviceChoice, ParamGrid, PipelineConfig};
use common::Error;
use tokio_util::sync::CancellationToken;

fn member(seed: u64, days: usize, price: f64) -> Vec<Bar> {
    generate(&SyntheticConfig { seed, days, start_price: price, ..SyntheticConfig::default() })
}

fn config() -> BacktestConfig {
    let recipe = PipelineConfig {
        symbol: "BPA".into(),
        do_cv_tune: false,
        use_improved_training: false,
        use_enhanced_model: false,
        param_grid: Some(ParamGrid { lr: vec![2e-3], hidden_size: vec![16], epochs: vec![2], batch_size: 32 }),
        seed: Some(3),
        device: DeviceChoice::Cpu,
        ..PipelineConfig::default()
    };
    BacktestConfig { folds: 2, horizon_days: 15, ..BacktestConfig::new(recipe) }
}

#[test]
fn every_member_is_cut_at_the_same_dates_and_reported_alone_and_pooled() {
    let a = member(71, 420, 50.0);
    let mut b = member(72, 420, 5000.0);
    // A day B did not trade, inside the last fold's test days.
    let gap = b.len() - 12;
    b.remove(gap);
    let members = vec![("BPA".to_string(), a.clone()), ("BPB".to_string(), b.clone())];
    let out = run_pooled_backtest(&members, &config(), &|_| {}, &CancellationToken::new()).unwrap();
    let r = &out.report;
    assert_eq!(r["pool_symbols"], serde_json::json!(["BPA", "BPB"]));
    let (ra, rb) = (&r["members"]["BPA"], &r["members"]["BPB"]);
    assert_eq!(ra["symbol"], "BPA");
    assert_eq!(rb["symbol"], "BPB");
    for k in 0..2 {
        let (fa, fb) = (&ra["folds"][k], &rb["folds"][k]);
        assert_eq!(fa["origin"], fb["origin"], "fold {k}: one origin date for every member");
        assert_eq!(fa["test_start"], fb["test_start"]);
        assert!(fb["train_end"].as_str().unwrap() < fb["origin"].as_str().unwrap());
    }
    let na = ra["folds"][1]["n"].as_u64().unwrap();
    let nb = rb["folds"][1]["n"].as_u64().unwrap();
    assert_eq!(na, 15);
    assert_eq!(nb, 14, "BPB has no bar on the day it did not trade");
    let days = |x: &serde_json::Value| x["days"]["date"].as_array().unwrap().len();
    assert_eq!(days(r), days(ra) + days(rb), "the pooled report holds every member's test days");
    assert!(r["models"]["lstm"]["brier"].as_f64().is_some(), "{}", r["models"]);
    assert!(rb["models"]["base_rate"]["brier"].as_f64().is_some());
}

#[test]
fn a_member_without_the_history_is_refused_by_name() {
    let a = member(73, 420, 50.0);
    let short: Vec<Bar> = member(74, 420, 9.0)[300..].to_vec();
    let members = vec![("BPA".to_string(), a), ("BPS".to_string(), short)];
    let e = run_pooled_backtest(&members, &config(), &|_| {}, &CancellationToken::new()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_) | Error::FailedPrecondition(_)), "{e}");
    assert!(e.to_string().contains("BPS"), "{e}");
    let alone = vec![members[0].clone()];
    assert!(matches!(run_pooled_backtest(&alone, &config(), &|_| {}, &CancellationToken::new()), Err(Error::InvalidArgument(_))));
}
