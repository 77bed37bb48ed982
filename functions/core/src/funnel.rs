//! The funnel metrics of funnel.md: a note's RED figures of a date and the ratios derived from
//! them, in exact integer arithmetic (counts, fen).

use crate::money::{Fen, Yuan};
use serde::{Deserialize, Serialize};

/// The latest RED figures of one (note, report date), summed over the rows of the export they come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteFigures {
    pub impressions: u64,
    pub clicks: u64,
    pub engagements: u64,
    pub link_clicks: u64,
    pub spend_fen: Fen,
}

impl NoteFigures {
    pub fn add(&mut self, o: &NoteFigures) {
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.engagements += o.engagements;
        self.link_clicks += o.link_clicks;
        self.spend_fen += o.spend_fen;
    }
}

/// A note's figures of a date as a statement holds them: whose note, and the export they stand from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRed {
    pub campaign_id: String,
    pub note_id: String,
    pub figures: NoteFigures,
    /// The key of the RED report export the figures come from (changes.csv's `source`).
    pub source: String,
}

/// `n / d` with exactly four decimals, rounded half up; `None` (an empty cell) when `d` is 0.
pub fn ratio_4dp(n: u64, d: u64) -> Option<String> {
    if d == 0 {
        return None;
    }
    let (n, d) = (u128::from(n), u128::from(d));
    let units = (n * 20_000 + d) / (2 * d);
    Some(format!("{}.{:04}", units / 10_000, units % 10_000))
}

/// Cost per click: `spend / clicks` in yuan, rounded half up to the fen; `None` when `clicks` is 0.
pub fn cpc(spend: Fen, clicks: u64) -> Option<String> {
    if clicks == 0 {
        return None;
    }
    let (s, c) = (i128::from(spend.fen().max(0)), i128::from(clicks));
    let fen = (2 * s + c) / (2 * c);
    Some(Yuan(i64::try_from(fen).unwrap_or(i64::MAX)).to_string())
}

/// ROAS: `net_gmv / spend` with two decimals, rounded half up; `None` when nothing was spent.
pub fn roas(net_gmv: Fen, spend: Fen) -> Option<String> {
    crate::money::ratio_2dp(net_gmv.fen(), spend.fen())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_round_half_up_and_are_empty_on_a_zero_denominator() {
        assert_eq!(ratio_4dp(1, 3).as_deref(), Some("0.3333"));
        assert_eq!(ratio_4dp(2, 3).as_deref(), Some("0.6667"));
        // 1/80000 = 0.0000125: half a unit of the fourth decimal rounds up only from .5.
        assert_eq!(ratio_4dp(1, 80_000).as_deref(), Some("0.0000"));
        assert_eq!(ratio_4dp(1, 20_000).as_deref(), Some("0.0001"));
        assert_eq!(ratio_4dp(5, 4).as_deref(), Some("1.2500"));
        assert_eq!(ratio_4dp(0, 7).as_deref(), Some("0.0000"));
        assert_eq!(ratio_4dp(3, 0), None);
    }

    #[test]
    fn cpc_is_yuan_rounded_half_up_to_the_fen() {
        // ¥10.00 over 3 clicks = 333.33 fen -> ¥3.33; ¥0.05 over 2 = 2.5 fen -> ¥0.03.
        assert_eq!(cpc(Fen(1000), 3).as_deref(), Some("3.33"));
        assert_eq!(cpc(Fen(5), 2).as_deref(), Some("0.03"));
        assert_eq!(cpc(Fen(0), 9).as_deref(), Some("0.00"));
        assert_eq!(cpc(Fen(1000), 0), None);
    }

    #[test]
    fn roas_is_net_over_spend() {
        assert_eq!(roas(Fen(25_000), Fen(10_000)).as_deref(), Some("2.50"));
        assert_eq!(roas(Fen(1), Fen(3)).as_deref(), Some("0.33"));
        assert_eq!(roas(Fen(2), Fen(3)).as_deref(), Some("0.67"));
        assert_eq!(roas(Fen(5), Fen(0)), None);
    }
}
