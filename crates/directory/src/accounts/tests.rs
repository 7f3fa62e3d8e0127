use super::*;

#[test]
fn csv_fields_are_quoted_and_defused() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
}

#[test]
fn formulas_behind_blanks_tabs_and_returns_are_defused() {
    for (raw, want) in [
        (" =1+2", "\"' =1+2\""),
        ("  @SUM(A1)", "\"'  @SUM(A1)\""),
        ("\t=HYPERLINK(\"x\")", "\"'\t=HYPERLINK(\"\"x\"\")\""),
        ("\tplain", "\"'\tplain\""),
        ("\rplain", "\"'\rplain\""),
        ("\u{a0}+1", "\"'\u{a0}+1\""),
        ("-5", "\"'-5\""),
    ] {
        assert_eq!(csv_field(raw), want, "{raw:?}");
    }
    for plain in ["a=b", "x@example.com", "Anne-Marie", " spaced", ""] {
        assert_eq!(csv_field(plain), plain, "{plain:?}");
    }
}

#[test]
fn school_properties_are_refused_for_businesses() {
    let l = LocalProps {
        grade_level: Some("5".into()),
        ..LocalProps::default()
    };
    assert!(check_local(OrgKind::Business, l.clone()).is_err());
    assert_eq!(
        check_local(OrgKind::School, l)
            .expect("valid")
            .grade_level
            .as_deref(),
        Some("5")
    );
    let dup = LocalProps {
        roles: vec![" staff ".into(), "staff".into()],
        ..LocalProps::default()
    };
    assert_eq!(
        check_local(OrgKind::Business, dup).expect("valid").roles,
        vec!["staff"]
    );
    let blank = LocalProps {
        roles: vec!["".into()],
        ..LocalProps::default()
    };
    assert!(check_local(OrgKind::Business, blank).is_err());
}
