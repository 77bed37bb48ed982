use super::*;
use crate::campaign::tests::{campaign_with, one_line, BRAND, CAMPAIGN};
use crate::campaign::{parse_record, Record};
use crate::money::Fen;

#[test]
fn packed_strings_hold_exactly_their_members() {
    let v: Vec<String> = ["57301234", "5730", ""].map(String::from).into();
    let p = Packed::of(&v);
    for s in &v {
        assert!(p.contains(s), "{s:?}");
    }
    for s in ["573", "57301234 ", "x", "573012345"] {
        assert!(!p.contains(s), "{s:?}");
    }
    assert!(!Packed::of(&Vec::new()).contains(""));
}

#[test]
fn unknown_brand_and_shared_tokens_are_refused() {
    let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
        panic!()
    };
    let e = Catalog::new(vec![], vec![c.clone()]).unwrap_err();
    assert_eq!(e.field, "brand_id");
    let Record::Brand(b) = parse_record("x", BRAND).unwrap() else {
        panic!()
    };
    let mut other = c.clone();
    other.campaign_id = "c-other".into();
    // The same note in two campaigns: refused, naming both.
    let e = Catalog::new(vec![b.clone()], vec![c.clone(), other.clone()]).unwrap_err();
    assert_eq!(e.field, "notes.note_id", "{e}");
    assert!(
        e.message
            .contains("already listed by campaign c-2025-618-face")
            && e.record.contains("c-other"),
        "{e}"
    );
    // Another note carrying the same token: refused on the token.
    other.notes[0].note_id = "aaaa0000".into();
    let e = Catalog::new(vec![b.clone()], vec![c.clone(), other.clone()]).unwrap_err();
    assert!(e.message.contains("already used by campaign"), "{e}");
    // A note of its own, with links of its own, and a title: accepted and found.
    other.notes[0].links.clear();
    other.notes[0].title = Some("夏日防晒".into());
    let cat = Catalog::new(vec![b], vec![c, other]).unwrap();
    assert_eq!(
        cat.note_owner("aaaa0000").map(|c| c.campaign_id.as_str()),
        Some("c-other")
    );
    assert_eq!(cat.note_owner("nope"), None);
}

#[test]
fn a_run_sets_aside_stored_records_that_break_a_rule_and_keeps_the_rest() {
    let Record::Brand(b) = parse_record("x", BRAND).unwrap() else {
        panic!()
    };
    let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
        panic!()
    };
    let mut evil_brand = b.clone();
    evil_brand.brand_id = "../evil".into();
    let mut evil = c.clone();
    evil.campaign_id = "c-evil/../../x".into();
    evil.notes[0].note_id = "bbbb0000".into();
    evil.notes[0].links.clear();
    let mut thief = c.clone();
    thief.campaign_id = "c-zz-thief".into();
    thief.notes[0].note_id = "cccc0000".into();
    let mut b2 = b.clone();
    b2.brand_id = "b-two".into();
    b2.shops = BTreeMap::new();
    let mut c2 = c.clone();
    c2.campaign_id = "c-two".into();
    c2.brand_id = "b-two".into();
    c2.notes[0].note_id = "dddd0000".into();
    c2.notes.truncate(1);
    for (i, l) in c2.notes[0].links.iter_mut().enumerate() {
        l.token = format!("tk-two-{i}");
    }
    let brand_id = b.brand_id.clone();
    let (cat, refused) =
        Catalog::for_run(vec![b, evil_brand, b2], vec![c.clone(), evil, thief, c2]).unwrap();
    let kept: Vec<&str> = cat
        .campaigns()
        .iter()
        .map(|c| c.campaign_id.as_str())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}: {:?}", cat.refused());
    // The brand of the set-aside campaigns is held back with the first reason; the other is not.
    assert_eq!(cat.held().len(), 1, "{:?}", cat.held());
    assert!(cat.held()[&brand_id].contains("c-evil/../../x"));
    let why: Vec<String> = refused.iter().map(|e| e.to_string()).collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(why.iter().any(|w| w.contains("../evil")), "{why:?}");
    assert!(why.iter().any(|w| w.contains("c-evil/../../x")), "{why:?}");
    assert!(
        why.iter()
            .any(|w| w.contains("c-zz-thief") && w.contains("already used")),
        "{why:?}"
    );
    assert_eq!(cat.refused().len(), 3);
}

/// A campaign of the catalog is found by where it is; an equal copy, or a changed one, gets the
/// version of its own content all the same.
#[test]
fn versions_of_the_catalogs_campaigns_and_of_copies() {
    let Record::Brand(b) = parse_record("x", BRAND).unwrap() else {
        panic!()
    };
    let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
        panic!()
    };
    let other = campaign_with(|v| {
        v["campaign_id"] = "c-0-first".into();
        v["notes"][0]["note_id"] = "aaaa0001".into();
        for l in v["notes"][0]["links"].as_array_mut().unwrap() {
            let token = format!("{}0", l["token"].as_str().unwrap());
            l["token"] = token.into();
        }
    });
    let Record::Campaign(o) = parse_record("x", &one_line(&other)).unwrap() else {
        panic!()
    };
    let cat = Catalog::new(vec![b], vec![c.clone(), o.clone()]).unwrap();
    assert_ne!(c.version(), o.version());
    for own in cat.campaigns() {
        assert_eq!(cat.version_of(own), own.version());
    }
    assert_eq!(cat.version_of(&c), c.version());
    assert_eq!(cat.version_of(&o), o.version());
    let mut changed = c.clone();
    changed.spend_fen += Fen(1);
    assert_eq!(cat.version_of(&changed), changed.version());
    assert_ne!(cat.version_of(&changed), cat.version_of(&c));
}
