//! Bars written as CSV text in one of the dialects (test files, `trainer-svc generate-bars`).
use super::Dialect;
use crate::data::Bar;

/// Writes bars as CSV text in `dialect` (header + one row per bar, `\n` line ends), numbers in
/// Rust's shortest round-trip form so [`parse_csv`] gives the same bars back. Yahoo's
/// `Adj Close` repeats the close; tushare rows get `ts_code` `SYNTH` and newest-first order
/// (as tushare serves them); a missing amount is written as an empty field.
pub fn write_csv(bars: &[Bar], dialect: Dialect) -> String {
    let mut out = String::with_capacity(64 * (bars.len() + 1));
    let amount = |b: &Bar| b.amount.map(|a| a.to_string()).unwrap_or_default();
    match dialect {
        Dialect::Yahoo => {
            out.push_str("Date,Open,High,Low,Close,Adj Close,Volume\n");
            for b in bars {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    b.date, b.open, b.high, b.low, b.close, b.close, b.volume
                ));
            }
        }
        Dialect::Akshare => {
            out.push_str("日期,开盘,收盘,最高,最低,成交量,成交额\n");
            for b in bars {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    b.date,
                    b.open,
                    b.close,
                    b.high,
                    b.low,
                    b.volume,
                    amount(b)
                ));
            }
        }
        Dialect::Tushare => {
            out.push_str("ts_code,trade_date,open,high,low,close,vol,amount\n");
            for b in bars.iter().rev() {
                out.push_str(&format!(
                    "SYNTH,{},{},{},{},{},{},{}\n",
                    b.date.format("%Y%m%d"),
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    amount(b)
                ));
            }
        }
        Dialect::Plain => {
            out.push_str("date,open,high,low,close,volume\n");
            for b in bars {
                out.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    b.date, b.open, b.high, b.low, b.close, b.volume
                ));
            }
        }
    }
    out
}
