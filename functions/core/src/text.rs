//! Cell clean-up on the way in (trim, Excel text guards) and on the way out (formula guard, HTML escaping).

use std::borrow::Cow;

/// Trims a field and strips an Excel text guard: `="…"` or a leading apostrophe.
pub fn clean_field(raw: &str) -> &str {
    // Most cells start and end with a character that is neither space nor the start of a guard:
    // nothing to do. Only the end characters are looked at (a non-ASCII one decoded).
    let b = raw.as_bytes();
    if let (Some(&first), Some(&last)) = (b.first(), b.last()) {
        let plain = |c: u8| c > b' ' && c < 0x7f;
        let first_ok = if first < 0x80 {
            plain(first) && first != b'=' && first != b'\''
        } else {
            !raw.chars().next().is_some_and(char::is_whitespace)
        };
        let last_ok = if last < 0x80 {
            plain(last)
        } else {
            !raw.chars().next_back().is_some_and(char::is_whitespace)
        };
        if first_ok && last_ok {
            return raw;
        }
    }
    let s = raw.trim();
    if let Some(inner) = s.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')) {
        return inner.trim();
    }
    if let Some(inner) = s.strip_prefix('\'') {
        return inner.trim();
    }
    s
}

/// A header cell: cleaned like a field, and without a stray BOM.
pub fn clean_header(raw: &str) -> &str {
    clean_field(raw.trim_start_matches('\u{feff}'))
}

/// Neutralises a text cell that a spreadsheet would run as a formula.
pub fn formula_guard(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

/// [`escape`] onto the end of `out`, without a string of its own: most text needs no escaping
/// and is copied in one go.
pub fn push_escaped(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let with = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // `i` is the index of an ASCII byte, so a char boundary.
        out.push_str(&s[plain..i]);
        out.push_str(with);
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_guards_are_stripped() {
        assert_eq!(clean_field("=\"1930123456789012\""), "1930123456789012");
        assert_eq!(clean_field("'1930123456789012"), "1930123456789012");
        assert_eq!(clean_field("=\"\""), "");
        assert_eq!(clean_field("  57300031  "), "57300031");
        assert_eq!(
            clean_field(" =\"2025-05-25 22:12:41\" "),
            "2025-05-25 22:12:41"
        );
        assert_eq!(clean_field("plain"), "plain");
        assert_eq!(clean_field("\u{3000}防晒\u{3000}"), "防晒");
        assert_eq!(clean_field("防晒\u{a0}"), "防晒");
        assert_eq!(clean_field("洁面乳 120g"), "洁面乳 120g");
        assert_eq!(clean_header("\u{feff}子订单编号"), "子订单编号");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(formula_guard("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(formula_guard("+1"), "'+1");
        assert_eq!(formula_guard("-1"), "'-1");
        assert_eq!(formula_guard("@SUM"), "'@SUM");
        assert_eq!(formula_guard("\tx"), "'\tx");
        assert_eq!(formula_guard("\rx"), "'\rx");
        assert_eq!(formula_guard("防晒"), "防晒");
        assert_eq!(formula_guard(""), "");
    }
}
