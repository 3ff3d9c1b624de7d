//! The one markdown table `make bench` prints, and the statistics its rows need.

pub fn header() {
    println!("| measure | size | keyguard | baseline | keyguard better by |");
    println!("| --- | ---: | ---: | ---: | ---: |");
}

/// Which way a figure is better.
#[derive(Clone, Copy)]
pub enum Better {
    Lower,
    Higher,
}

/// One row: keyguard's figure, the baseline's, and the factor by which keyguard's is
/// better (below 1 where it is worse).
pub fn row(measure: &str, size: &str, ours: f64, theirs: f64, decimals: usize, better: Better) {
    let (good, bad) = match better {
        Better::Lower => (ours, theirs),
        Better::Higher => (theirs, ours),
    };
    let factor = if good > 0.0 {
        format!("{:.1}×", bad / good)
    } else {
        "-".into()
    };
    println!("| {measure} | {size} | {ours:.decimals$} | {theirs:.decimals$} | {factor} |");
}

/// The `p`th percentile (nearest rank) of the samples.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}
