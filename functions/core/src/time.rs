//! Export timestamps: local Asia/Shanghai wall time without an offset.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// The time zone every export timestamp and report date is in.
pub const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// Parses `2025-05-28 13:45:12`, `2025/5/28 13:45:12` or `2025/5/28 13:45`.
pub fn parse_timestamp(raw: &str) -> Result<NaiveDateTime, String> {
    parse_timestamp_with(raw, &DateCache::default())
}

/// The last two dates built, for a reader of many timestamps: a row's order, payment and click
/// times fall on a day or two, and building a date from year, month and day was a good part of
/// a timestamp's cost.
#[derive(Default)]
pub struct DateCache(std::cell::Cell<[(u32, Option<NaiveDate>); 2]>);

impl DateCache {
    fn date(&self, y: u32, mo: u32, d: u32) -> Option<NaiveDate> {
        // y < 10_000, mo and d < 100 (four and two digits): one number says all three, and 0 (no
        // such date) marks an empty slot.
        let key = y * 10_000 + mo * 100 + d;
        let slots = self.0.get();
        if key != 0 {
            if let Some(&(_, date)) = slots.iter().find(|(k, _)| *k == key) {
                return date;
            }
        }
        let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d);
        self.0.set([(key, date), slots[0]]);
        date
    }
}

/// [`parse_timestamp`], building dates through `cache`.
pub fn parse_timestamp_with(raw: &str, cache: &DateCache) -> Result<NaiveDateTime, String> {
    let bad = || format!("bad timestamp {raw:?}");
    if let Some(t) = canonical(raw.as_bytes(), cache) {
        return t.ok_or_else(bad);
    }
    let s = raw.trim();
    let (date_s, time_s) = s.split_once(' ').ok_or_else(bad)?;
    let time_s = time_s.trim_start();
    let (y, m, d, slash) = if date_s.contains('/') {
        let p: Vec<&str> = date_s.split('/').collect();
        if p.len() != 3
            || p[0].len() != 4
            || !(1..=2).contains(&p[1].len())
            || !(1..=2).contains(&p[2].len())
        {
            return Err(bad());
        }
        (p[0], p[1], p[2], true)
    } else {
        let p: Vec<&str> = date_s.split('-').collect();
        if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
            return Err(bad());
        }
        (p[0], p[1], p[2], false)
    };
    let t: Vec<&str> = time_s.split(':').collect();
    let (hh, mm, ss) = match (slash, t.as_slice()) {
        (false, [h, m, s]) if h.len() == 2 => (*h, *m, *s),
        (true, [h, m, s]) if (1..=2).contains(&h.len()) => (*h, *m, *s),
        (true, [h, m]) if (1..=2).contains(&h.len()) => (*h, *m, "00"),
        _ => return Err(bad()),
    };
    if mm.len() != 2 || ss.len() != 2 {
        return Err(bad());
    }
    let num = |x: &str| -> Result<u32, String> {
        if x.bytes().all(|b| b.is_ascii_digit()) {
            x.parse::<u32>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let year = i32::try_from(num(y)?).map_err(|_| bad())?;
    let date = NaiveDate::from_ymd_opt(year, num(m)?, num(d)?).ok_or_else(bad)?;
    let time = NaiveTime::from_hms_opt(num(hh)?, num(mm)?, num(ss)?).ok_or_else(bad)?;
    Ok(NaiveDateTime::new(date, time))
}

/// `YYYY-MM-DD HH:MM:SS` exactly, the form nearly every row has, without the general path's
/// splitting: `None` when the shape differs, `Some(None)` when the shape is right but the value is not.
fn canonical(b: &[u8], cache: &DateCache) -> Option<Option<NaiveDateTime>> {
    let t: &[u8; 19] = b.try_into().ok()?;
    if t[4] != b'-' || t[7] != b'-' || t[10] != b' ' || t[13] != b':' || t[16] != b':' {
        return None;
    }
    let d = |i: usize| t[i].wrapping_sub(b'0');
    // Every digit position at once: a byte below '0' wraps round to above 9 too.
    let worst = [1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .fold(d(0), |m, &i| m.max(d(i)));
    if worst > 9 {
        return Some(None);
    }
    let two = |i: usize| u32::from(d(i)) * 10 + u32::from(d(i + 1));
    let date = cache.date(two(0) * 100 + two(2), two(5), two(8));
    Some(date.and_then(|day| day.and_hms_opt(two(11), two(14), two(17))))
}

/// The canonical form written to staging and reports.
pub fn format_timestamp(t: &NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    let Some(ymd) = ymd_bytes(t.date()) else {
        return format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    };
    // Written for every staged line and report row: digits by hand, not through `format!`.
    let mut b = *b"0000-00-00 00:00:00";
    b[..10].copy_from_slice(&ymd);
    put_two(&mut b, 11, t.hour());
    put_two(&mut b, 14, t.minute());
    put_two(&mut b, 17, t.second());
    String::from_utf8_lossy(&b).into_owned()
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let s = raw.trim();
    if s.len() != 10 {
        return Err(format!("bad date {raw:?}: expected YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("bad date {raw:?}: expected YYYY-MM-DD"))
}

/// `YYYY-MM-DD` for a year 0..=9999, digits by hand (a report input carries every day of every
/// campaign: chrono's formatter was 5% of a day's match); `None` for other years.
fn ymd_bytes(d: NaiveDate) -> Option<[u8; 10]> {
    use chrono::Datelike;
    let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let mut b = *b"0000-00-00";
    put_two(&mut b, 0, year / 100);
    put_two(&mut b, 2, year % 100);
    put_two(&mut b, 5, d.month());
    put_two(&mut b, 8, d.day());
    Some(b)
}

/// Writes `v` (below 100) as two digits at `at`.
fn put_two(b: &mut [u8], at: usize, v: u32) {
    b[at] = b'0' + (v / 10) as u8;
    b[at + 1] = b'0' + (v % 10) as u8;
}

/// A `YYYY-MM-DD` date parsed by hand (the fast path of [`parse_date`], for staged data).
fn parse_ymd(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)
}

/// Serde for a map keyed by date, in the same JSON as chrono's own (`{"2025-06-01": 123}`), with
/// dates written and read by hand.
pub mod date_map {
    use std::collections::BTreeMap;

    use chrono::NaiveDate;
    use serde::de::{Error, MapAccess, Visitor};
    use serde::ser::SerializeMap;

    pub fn serialize<S: serde::Serializer, V: serde::Serialize>(
        m: &BTreeMap<NaiveDate, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(m.len()))?;
        for (d, v) in m {
            match super::ymd_bytes(*d) {
                Some(b) => map.serialize_entry(std::str::from_utf8(&b).unwrap_or_default(), v)?,
                None => map.serialize_entry(d, v)?,
            }
        }
        map.end()
    }

    struct Key(NaiveDate);

    impl<'de> serde::Deserialize<'de> for Key {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Key;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a YYYY-MM-DD date")
                }
                fn visit_str<E: Error>(self, s: &str) -> Result<Key, E> {
                    super::parse_ymd(s)
                        .or_else(|| s.parse().ok())
                        .map(Key)
                        .ok_or_else(|| E::custom(format!("bad date {s:?}")))
                }
            }
            d.deserialize_str(V)
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>, V: serde::Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<NaiveDate, V>, D::Error> {
        struct M<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> Visitor<'de> for M<V> {
            type Value = BTreeMap<NaiveDate, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map keyed by date")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = BTreeMap::new();
                while let Some((Key(k), v)) = a.next_entry::<Key, V>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(M(std::marker::PhantomData))
    }
}

/// Today's date in Asia/Shanghai.
pub fn today() -> NaiveDate {
    chrono::Utc::now().with_timezone(&TZ).date_naive()
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_maps_read_and_write_as_chrono_does() {
        use std::collections::BTreeMap;
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Fast(#[serde(with = "super::date_map")] BTreeMap<NaiveDate, i64>);
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Chrono(BTreeMap<NaiveDate, i64>);
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let m: BTreeMap<NaiveDate, i64> = [
            (d(2025, 6, 1), 5),
            (d(2025, 12, 31), -7),
            (d(999, 1, 9), 0),
            (d(12025, 1, 1), 3),
        ]
        .into_iter()
        .collect();
        let fast = serde_json::to_string(&Fast(m.clone())).unwrap();
        assert_eq!(fast, serde_json::to_string(&Chrono(m.clone())).unwrap());
        assert_eq!(serde_json::from_str::<Fast>(&fast).unwrap().0, m);
        assert_eq!(serde_json::from_str::<Chrono>(&fast).unwrap().0, m);
        for bad in [r#"{"2025-13-01":1}"#, r#"{"20x5-06-01":1}"#, r#"{"":1}"#] {
            assert!(serde_json::from_str::<Fast>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_format_as_chrono_does() {
        for s in [
            "2025-06-01 09:05:00",
            "0999-12-31 23:59:59",
            "2025-05-28 13:45:12",
        ] {
            let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
            assert_eq!(super::format_timestamp(&t), s);
            assert_eq!(
                super::format_timestamp(&t),
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            );
        }
    }

    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn every_timestamp_form_of_the_spec() {
        assert_eq!(
            parse_timestamp("2025-05-28 13:45:12"),
            Ok(dt("2025-05-28 13:45:12"))
        );
        assert_eq!(
            parse_timestamp("2025/5/28 13:45:12"),
            Ok(dt("2025-05-28 13:45:12"))
        );
        assert_eq!(
            parse_timestamp("2025/5/28 13:45"),
            Ok(dt("2025-05-28 13:45:00"))
        );
        assert_eq!(
            parse_timestamp("2025/6/1 9:05"),
            Ok(dt("2025-06-01 09:05:00"))
        );
        assert_eq!(
            parse_timestamp("2025/06/01 09:05:07"),
            Ok(dt("2025-06-01 09:05:07"))
        );
    }

    #[test]
    fn bad_timestamps_are_refused() {
        for bad in [
            "",
            "2025-05-28",
            "2025-13-01 00:00:00",
            "2025-02-30 10:00:00",
            "2025/5/28 25:00",
            "2025/5/28 9:5",
            "2025-05-28 13:45",
            "28/05/2025 13:45:12",
            "2025-05-28T13:45:12",
            "2025/5/28 13:45:1",
            "abcd/5/28 13:45",
            "2025-5-28 13:45:12",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2025-05-28"),
            Ok(NaiveDate::from_ymd_opt(2025, 5, 28).unwrap())
        );
        assert!(parse_date("2025-5-28").is_err());
        assert!(parse_date("2025-02-30").is_err());
    }

    #[test]
    fn the_canonical_fast_path_agrees_with_chrono() {
        for s in [
            "2025-05-26 07:43:22",
            "2024-02-29 23:59:59",
            "2025-02-29 10:00:00",
            "2025-13-01 10:00:00",
            "2025-05-26 24:00:00",
            "2025-05-26 07:60:00",
            "2025-05-2x 07:43:22",
            "0000-01-01 00:00:00",
        ] {
            let want = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok();
            assert_eq!(parse_timestamp(s).ok(), want, "{s}");
            if let Some(t) = want {
                assert_eq!(format_timestamp(&t), s);
            }
        }
    }
}
