//! ROC AUC ([`common::evaluation::auc`]) against hand-counted pairs (the same numbers as
//! scikit-learn's `roc_auc_score`) and against a brute-force pair count on random inputs.

use common::evaluation::auc;
use proptest::prelude::*;

/// AUC by counting every (positive, negative) pair: 1 when the positive scores higher, ½ on a
/// tie.
fn pairwise(scores: &[f64], labels: &[i64]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] != 0 && labels[j] == 0 {
                pairs += 1.0;
                if si > sj {
                    wins += 1.0;
                } else if si == sj {
                    wins += 0.5;
                }
            }
        }
    }
    wins / pairs
}

#[test]
fn hand_counted_examples() {
    // sklearn's docstring example: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]), Some(0.75));
    // perfect and reversed ranking
    assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[0, 0, 1, 1]), Some(1.0));
    assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[0, 0, 1, 1]), Some(0.0));
}

#[test]
fn ties_count_half() {
    // pairs (pos, neg): (0.5, 0.2) 1, (0.5, 0.5) ½, (0.9, 0.2) 1, (0.9, 0.5) 1 → 3.5 / 4
    assert_eq!(auc(&[0.2, 0.5, 0.5, 0.9], &[0, 1, 0, 1]), Some(0.875));
    // a constant score carries no ranking information
    assert_eq!(auc(&[0.5; 6], &[1, 0, 1, 0, 0, 1]), Some(0.5));
}

#[test]
fn any_nonzero_label_is_positive() {
    assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 7, -1]), Some(0.75));
}

#[test]
fn undefined_cases_are_none() {
    assert_eq!(auc(&[], &[]), None, "empty");
    assert_eq!(auc(&[0.1, 0.9], &[1, 1]), None, "only positives");
    assert_eq!(auc(&[0.1, 0.9], &[0, 0]), None, "only negatives");
    assert_eq!(auc(&[0.1, 0.9], &[0, 1, 1]), None, "lengths differ");
    assert_eq!(auc(&[0.1, f64::NAN], &[0, 1]), None, "non-finite score");
}

proptest! {
    #[test]
    fn equals_pairwise_count(
        data in proptest::collection::vec((0u8..6, proptest::bool::ANY), 2..40)
    ) {
        // few distinct scores, so ties are frequent
        let scores: Vec<f64> = data.iter().map(|(s, _)| f64::from(*s) / 5.0).collect();
        let labels: Vec<i64> = data.iter().map(|(_, y)| i64::from(*y)).collect();
        let got = auc(&scores, &labels);
        if labels.iter().all(|&y| y == 1) || labels.iter().all(|&y| y == 0) {
            prop_assert_eq!(got, None);
        } else {
            let want = pairwise(&scores, &labels);
            prop_assert!((got.unwrap() - want).abs() < 1e-12, "auc {:?} vs pairwise {}", got, want);
        }
    }
}
