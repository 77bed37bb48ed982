//! Money as integer fen. Amounts never pass through floating point.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an amount cell was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad amount {value:?}: {why}")]
pub struct AmountError {
    pub value: String,
    pub why: &'static str,
}

/// Parses an export amount (`129.90`, `129.9`, `129`, `¥129.90`, `￥1,299.00`, `598元`, …) into fen.
///
/// The input is a field already trimmed and stripped of Excel text guards.
pub fn parse_amount(raw: &str) -> Result<Fen, AmountError> {
    parse_fen(raw).map(Fen)
}

fn parse_fen(raw: &str) -> Result<i64, AmountError> {
    if let Some(fen) = plain_amount(raw.as_bytes()) {
        return Ok(fen);
    }
    let err = |why| AmountError {
        value: raw.to_string(),
        why,
    };
    let mut s = raw.trim();
    if s.starts_with('-') || s.starts_with('−') {
        return Err(err("negative amounts are not allowed"));
    }
    if let Some(rest) = s.strip_prefix('¥').or_else(|| s.strip_prefix('￥')) {
        s = rest.trim_start();
    }
    if let Some(rest) = s.strip_suffix('元') {
        s = rest.trim_end();
    }
    if s.starts_with('-') {
        return Err(err("negative amounts are not allowed"));
    }
    if s.is_empty() {
        return Err(err("no digits"));
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let int_digits = parse_grouped_integer(int_part).ok_or_else(|| err("not a number"))?;
    let frac_fen = match frac_part {
        None => 0,
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(err("not a number"))
        }
        Some(f) if f.len() > 2 => return Err(err("more than two decimals")),
        Some(f) if f.len() == 1 => i64::from(f.as_bytes()[0] - b'0') * 10,
        Some(f) => i64::from(f.as_bytes()[0] - b'0') * 10 + i64::from(f.as_bytes()[1] - b'0'),
    };
    int_digits
        .checked_mul(100)
        .and_then(|v| v.checked_add(frac_fen))
        .ok_or_else(|| err("amount too large"))
}

/// The form nearly every cell has, `129.90` (1 to 15 digits, then none, one or two decimals), read in
/// one pass; None for anything else, which the general path then reads or refuses.
fn plain_amount(b: &[u8]) -> Option<i64> {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], Some(&b[dot + 1..])),
        None => (b, None),
    };
    if int.is_empty() || int.len() > 15 {
        return None;
    }
    let mut value: i64 = 0;
    for &c in int {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(c - b'0');
    }
    let frac_fen = match frac {
        None => 0,
        Some([d]) if d.is_ascii_digit() => i64::from(d - b'0') * 10,
        Some([d, e]) if d.is_ascii_digit() && e.is_ascii_digit() => {
            i64::from(d - b'0') * 10 + i64::from(e - b'0')
        }
        Some(_) => return None,
    };
    Some(value * 100 + frac_fen)
}

/// Digits with optional thousands commas (`1,299`), the first group 1-3 digits, the others 3.
/// One pass, no allocation: every amount cell of every row comes through here.
pub(crate) fn parse_grouped_integer(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let grouped = b.contains(&b',');
    let mut value: i64 = 0;
    // Digits since the last comma (or the start).
    let mut run = 0usize;
    let mut first = true;
    for &c in b {
        if c == b',' {
            let ok = if first {
                (1..=3).contains(&run)
            } else {
                run == 3
            };
            if !ok {
                return None;
            }
            first = false;
            run = 0;
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        run += 1;
    }
    let last_ok = if grouped { run == 3 } else { run >= 1 };
    last_ok.then_some(value)
}

/// A quantity: a whole number of at least 1.
pub fn parse_quantity(raw: &str) -> Result<u32, String> {
    let b = raw.as_bytes();
    if (1..=9).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) && b[0] != b'0' {
        return Ok(b.iter().fold(0, |q, c| q * 10 + u32::from(c - b'0')));
    }
    let s = raw.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad quantity {raw:?}: not a whole number"));
    }
    match s.parse::<u32>() {
        Ok(0) => Err(format!("bad quantity {raw:?}: must be at least 1")),
        Ok(q) => Ok(q),
        Err(_) => Err(format!("bad quantity {raw:?}: too large")),
    }
}

/// An amount of money in fen (0.01 yuan), as every amount seedline reads, sums and prints;
/// stored (JSON, staged inputs) as a bare integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// The amount as a whole number of fen.
    pub fn fen(self) -> i64 {
        self.0
    }

    /// As yuan with exactly two decimals, as the CSV files print it (`Fen(12345)` → `123.45`).
    pub fn yuan(self) -> Yuan {
        Yuan(self.0)
    }
}

/// Fen printed as yuan with exactly two decimals (`12345` → `123.45`). [`Fen`] itself has no
/// `Display`: an amount says whether it prints as yuan or as a whole number of fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuan(pub i64);

impl fmt::Display for Yuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Add for Fen {
    type Output = Fen;
    fn add(self, o: Fen) -> Fen {
        Fen(self.0 + o.0)
    }
}

impl std::ops::Sub for Fen {
    type Output = Fen;
    fn sub(self, o: Fen) -> Fen {
        Fen(self.0 - o.0)
    }
}

impl std::ops::AddAssign for Fen {
    fn add_assign(&mut self, o: Fen) {
        self.0 += o.0;
    }
}

impl std::ops::SubAssign for Fen {
    fn sub_assign(&mut self, o: Fen) {
        self.0 -= o.0;
    }
}

impl std::iter::Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        Fen(iter.map(|f| f.0).sum())
    }
}

/// Yuan for people: `¥12,345.60`.
pub fn yuan_grouped(fen: Fen) -> String {
    let mut s = String::with_capacity(16);
    push_yuan_grouped(&mut s, fen);
    s
}

/// A whole number with thousands commas (`12,345`), as RED's exports and the pages print counts.
pub fn grouped(n: u64) -> String {
    let mut s = String::new();
    push_grouped(&mut s, n);
    s
}

pub(crate) fn push_grouped(out: &mut String, n: u64) {
    let mut buf = itoa::Buffer::new();
    let int = buf.format(n);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
}

/// [`yuan_grouped`] onto the end of `out`: report.html prints a thousand amounts per report.
pub fn push_yuan_grouped(out: &mut String, fen: Fen) {
    let fen = fen.0;
    if fen < 0 {
        out.push('-');
    }
    out.push('¥');
    let abs = fen.unsigned_abs();
    push_grouped(out, abs / 100);
    let cents = (abs % 100) as u8;
    out.push('.');
    out.push(char::from(b'0' + cents / 10));
    out.push(char::from(b'0' + cents % 10));
}

/// `numerator / denominator` rounded half up to 2 decimals, printed (`None` when the denominator is 0).
///
/// Both are fen, so the ratio is exact in integers: no float ever rounds it.
pub fn ratio_2dp(numerator: i64, denominator: i64) -> Option<String> {
    if denominator <= 0 {
        return None;
    }
    let n = i128::from(numerator);
    let d = i128::from(denominator);
    // hundredths = floor((n * 100 * 2 + d) / (2 d)) = round half up of n*100/d, for n >= 0.
    let hundredths = if n >= 0 {
        (n * 200 + d) / (2 * d)
    } else {
        -((-n * 200 + d - 1) / (2 * d))
    };
    let sign = if hundredths < 0 { "-" } else { "" };
    let h = hundredths.unsigned_abs();
    Some(format!("{sign}{}.{:02}", h / 100, h % 100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule as written: split at commas, the first group 1-3 digits, the others 3.
    fn grouped_by_splitting(s: &str) -> Option<i64> {
        let groups: Vec<&str> = s.split(',').collect();
        if groups.len() > 1
            && (!(1..=3).contains(&groups[0].len()) || groups[1..].iter().any(|g| g.len() != 3))
        {
            return None;
        }
        if s.is_empty() || !groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        groups.concat().parse().ok()
    }

    proptest! {
        #[test]
        fn the_plain_path_reads_what_the_general_path_reads(int in "[0-9]{0,17}", dot in any::<bool>(), frac in "[0-9a]{0,3}") {
            let s = if dot { format!("{int}.{frac}") } else { int.clone() };
            if let Some(fen) = plain_amount(s.as_bytes()) {
                // The general path, reached by a form the plain one never takes (a currency sign).
                prop_assert_eq!(parse_amount(&format!("¥{s}")), Ok(Fen(fen)));
            }
            if let Ok(q) = parse_quantity(&int) {
                prop_assert_eq!(Ok(q), format!(" {int}").trim().parse::<u32>());
            }
        }

        #[test]
        fn grouped_integers_follow_the_rule(s in "[0-9,x]{0,14}") {
            prop_assert_eq!(parse_grouped_integer(&s), grouped_by_splitting(&s));
        }
    }

    #[test]
    fn every_amount_form_of_the_spec() {
        for (raw, fen) in [
            ("129.90", 12990),
            ("129.9", 12990),
            ("129", 12900),
            ("¥129.90", 12990),
            ("￥129.90", 12990),
            ("1,299.00", 129900),
            ("598元", 59800),
            ("¥1,299.00", 129900),
            ("129.90元", 12990),
            ("¥648.05元", 64805),
            ("1,234,567.8", 123456780),
            ("0", 0),
            ("0.05", 5),
        ] {
            assert_eq!(parse_amount(raw), Ok(Fen(fen)), "{raw}");
        }
    }

    #[test]
    fn bad_amounts_are_refused() {
        for bad in [
            "-1.00",
            "-0.01",
            "¥-5",
            "1.234",
            "abc",
            "",
            "N/A",
            "1,29.00",
            "12,34",
            "1.",
            ".5",
            "1e3",
            "¥",
            "元",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("3"), Ok(3));
        assert!(parse_quantity("0").is_err());
        assert!(parse_quantity("-1").is_err());
        assert!(parse_quantity("1.5").is_err());
        assert!(parse_quantity("").is_err());
    }

    #[test]
    fn yuan_formatting() {
        assert_eq!(Yuan(0).to_string(), "0.00");
        assert_eq!(Yuan(5).to_string(), "0.05");
        assert_eq!(Yuan(12990).to_string(), "129.90");
        assert_eq!(Yuan(-150).to_string(), "-1.50");
        assert_eq!(yuan_grouped(Fen(1234560)), "¥12,345.60");
        assert_eq!(yuan_grouped(Fen(99)), "¥0.99");
        assert_eq!(yuan_grouped(Fen(100000000)), "¥1,000,000.00");
        assert_eq!(yuan_grouped(Fen(0)), "¥0.00");
        assert_eq!(yuan_grouped(Fen(-123456)), "-¥1,234.56");
        assert_eq!(yuan_grouped(Fen(i64::MIN)), "-¥92,233,720,368,547,758.08");
        // Pushed onto text already there, as report.html does.
        let mut s = String::from("<td>");
        push_yuan_grouped(&mut s, Fen(100_001));
        assert_eq!(s, "<td>¥1,000.01");
    }

    #[test]
    fn fen_sums_and_prints_as_yuan_and_stores_as_an_integer() {
        let total: Fen = [Fen(12990), Fen(-150), Fen(5)].into_iter().sum();
        assert_eq!(total, Fen(12845));
        assert_eq!((Fen(100) - Fen(250)).yuan().to_string(), "-1.50");
        assert_eq!(yuan_grouped(Fen(1234560)), "¥12,345.60");
        assert_eq!(serde_json::to_string(&Fen(12990)).unwrap(), "12990");
        assert_eq!(serde_json::from_str::<Fen>("-7").unwrap(), Fen(-7));
    }

    #[test]
    fn roas_rounds_half_up() {
        // 1.005 -> 1.01 (half up), 1.004999 -> 1.00
        assert_eq!(ratio_2dp(1005, 1000).as_deref(), Some("1.01"));
        assert_eq!(ratio_2dp(1004, 1000).as_deref(), Some("1.00"));
        assert_eq!(ratio_2dp(2, 3).as_deref(), Some("0.67"));
        assert_eq!(ratio_2dp(1, 3).as_deref(), Some("0.33"));
        assert_eq!(ratio_2dp(0, 3).as_deref(), Some("0.00"));
        assert_eq!(ratio_2dp(5, 0), None);
        // 12.345 -> 12.35
        assert_eq!(ratio_2dp(12345, 1000).as_deref(), Some("12.35"));
    }
}
