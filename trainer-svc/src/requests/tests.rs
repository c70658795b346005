use super::recipe::param_grid;
use super::*;

#[test]
fn train_request_defaults_and_errors() {
    let job = TrainJob::try_from(pb::TrainRequest {
        symbol: "AAPL".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(job.years, vec![1]);
    assert!(job.keep_rejected && job.pipeline.use_improved_training);
    let all = TrainJob::try_from(pb::TrainRequest {
        symbol: "AAPL".into(),
        all_years: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(all.years, vec![1, 2, 3]);
    let e = TrainJob::try_from(pb::TrainRequest {
        symbol: "AAPL".into(),
        reg_loss_type: "l1".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("mse, huber, volatility, full"),
        "{e}"
    );
    let e = TrainJob::try_from(pb::TrainRequest {
        symbol: "AAPL".into(),
        start: "2024-05-01".into(),
        end: "2024-01-01".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("must be before end"), "{e}");
    let e = TrainJob::try_from(pb::TrainRequest {
        symbol: "AAPL".into(),
        param_grid: Some(pb::ParamGrid {
            lr: vec![2.0],
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("lr 2"), "{e}");
}

#[test]
fn grid_fills_empty_axes_from_the_defaults() {
    let g = param_grid(
        Some(pb::ParamGrid {
            hidden_size: vec![16],
            ..Default::default()
        }),
        true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (g.lr, g.hidden_size, g.epochs, g.batch_size),
        (vec![5e-4], vec![16], vec![25], 32)
    );
    assert!(param_grid(Some(pb::ParamGrid::default()), false)
        .unwrap()
        .is_none());
}

#[test]
fn shards_partition_the_sorted_universe() {
    let all: Vec<String> = ["D", "A", "C", "B", "E", "A"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(shard_symbols(all.clone(), (0, 2)), vec!["A", "C", "E"]);
    assert_eq!(shard_symbols(all.clone(), (1, 2)), vec!["B", "D"]);
    assert_eq!(shard_symbols(all, (0, 1)).len(), 5);
    let e = TrainAllJob::try_from(pb::TrainAllRequest {
        shard_index: 2,
        shard_count: 2,
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("shard_index 2"), "{e}");
}

#[test]
fn bad_bar_dates_name_the_row() {
    let e = bars_from_pb(vec![pb::Bar {
        date: "2024-02-30".into(),
        ..Default::default()
    }])
    .unwrap_err();
    assert!(
        e.to_string().contains("row 1 (2024-02-30), field date"),
        "{e}"
    );
}

#[test]
fn pool_requests_are_parsed_and_their_errors_named() {
    let job = TrainJob::try_from(pb::TrainRequest {
        symbol: " AMZN ".into(),
        pool_symbols: vec!["NVDA".into(), "AMZN".into(), "MSFT".into(), "NVDA".into()],
        symbol_embedding_dim: Some(4),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(job.pool, vec!["MSFT", "NVDA"], "own symbol and repeats dropped, sorted");
    assert_eq!(job.pipeline.symbol_embedding_dim, 4);
    let bad = |r: pb::TrainRequest| TrainJob::try_from(r).unwrap_err().to_string();
    let e = bad(pb::TrainRequest { symbol: "AMZN".into(), pool_symbols: vec!["BAD SYMBOL".into()], ..Default::default() });
    assert!(e.contains("pool_symbols"), "{e}");
    let e = bad(pb::TrainRequest { symbol: "AMZN".into(), symbol_embedding_dim: Some(4), ..Default::default() });
    assert!(e.contains("needs pool_symbols"), "{e}");
    let e = bad(pb::TrainRequest {
        symbol: "AMZN".into(),
        pool_symbols: vec!["NVDA".into()],
        bars: vec![pb::Bar { date: "2024-01-02".into(), open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0, amount: None }],
        ..Default::default()
    });
    assert!(e.contains("inline bars"), "{e}");
    let e = bad(pb::TrainRequest {
        symbol: "AMZN".into(),
        pool_symbols: vec!["NVDA".into()],
        symbol_embedding_dim: Some(1000),
        ..Default::default()
    });
    assert!(e.contains("symbol_embedding_dim"), "{e}");
    let bt = BacktestJob::try_from(pb::BacktestRequest {
        symbol: "AMZN".into(),
        pool_symbols: vec!["SPX".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(bt.pool, vec!["SPX"]);
}
