//! Filters and attribute paths (RFC 7644 sections 3.4.2.2 and 3.10): parsing, resolution,
//! printing and evaluation, as table tests and property tests.

use proptest::prelude::*;
use scim_core::ScimType;
use scim_core::filter::{
    CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN, attribute_def, matches,
    matches_value, parse_filter, parse_filter_raw,
};
use scim_core::path::{AttrPath, parse_attr_path, parse_patch_path};
use scim_core::schema::{AttrType, ENTERPRISE_URN, ResourceKind, USER_URN, registry};
use serde_json::{Value, json};

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;
const BJENSEN_ID: &str = "2819c223-7f76-453a-919d-413861904646";
const MANAGER_ID: &str = "26118915-6090-4610-87e4-49d8ca9f808d";

/// The RFC 7643 section 8.2 example user, trimmed, in canonical form.
fn bjensen() -> Value {
    json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "id": BJENSEN_ID,
        "externalId": "bjensen",
        "userName": "bjensen",
        "name": { "familyName": "O'Malley", "givenName": "Barbara" },
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "ims": [ { "value": "babs@foo.com", "type": "xmpp" } ],
        ENTERPRISE_URN: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": { "value": MANAGER_ID }
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": format!("https://example.com/v2/Users/{BJENSEN_ID}")
        }
    })
}

fn tour_guides() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            { "value": BJENSEN_ID, "type": "User", "display": "Babs Jensen" },
            { "value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User", "display": "Mandy Pepperidge" }
        ],
        "meta": { "resourceType": "Group", "created": "2010-01-23T04:56:22Z" }
    })
}

fn parse(filter: &str, kind: ResourceKind) -> Filter {
    parse_filter(filter, kind).unwrap_or_else(|e| panic!("{filter}: {e}"))
}

fn user_matches(filter: &str) -> bool {
    matches(&parse(filter, USER), &bjensen(), USER)
}

fn filter_error(filter: &str, kind: ResourceKind) -> String {
    let err = parse_filter(filter, kind).expect_err(filter);
    assert_eq!(err.status, 400, "{filter}");
    assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{filter}");
    err.detail
}

fn path(urn: Option<&str>, attr: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        urn: urn.map(str::to_owned),
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    }
}

fn cmp(p: AttrPath, op: CompareOp, v: CompValue) -> Filter {
    Filter::Compare(p, op, v)
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.to_owned())
}

fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

// ---------------------------------------------------------------------------------------------
// RFC 7644 section 3.4.2.2 examples

#[test]
fn every_rfc_example_filter_parses_round_trips_and_evaluates() {
    let cases = [
        (r#"userName eq "bjensen""#, true),
        (r#"name.familyName co "O'Malley""#, true),
        (r#"userName sw "J""#, false),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            false,
        ),
        ("title pr", true),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr or userType eq "Intern""#, true),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            true,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            true,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
    ];
    for (text, expected) in cases {
        let f = parse(text, USER);
        let printed = f.to_string();
        assert_eq!(parse(&printed, USER), f, "{text} printed as {printed}");
        assert_eq!(matches(&f, &bjensen(), USER), expected, "{text}");
    }
}

#[test]
fn rfc_example_with_grouping_has_the_expected_tree() {
    let f = parse(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        USER,
    );
    let emails_value = || path(None, "emails", Some("value"));
    assert_eq!(
        f,
        and(
            cmp(AttrPath::simple("userType"), CompareOp::Ne, s("Employee")),
            not(or(
                cmp(emails_value(), CompareOp::Co, s("example.com")),
                cmp(emails_value(), CompareOp::Co, s("example.org")),
            )),
        )
    );
}

#[test]
fn rfc_value_path_example_has_the_expected_tree() {
    let f = parse(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        USER,
    );
    let vp = |attr: &str, ty: &str, domain: &str| {
        Filter::ValuePath(
            AttrPath::simple(attr),
            Box::new(and(
                cmp(AttrPath::simple("type"), CompareOp::Eq, s(ty)),
                cmp(AttrPath::simple("value"), CompareOp::Co, s(domain)),
            )),
        )
    };
    assert_eq!(
        f,
        or(
            vp("emails", "work", "@example.com"),
            vp("ims", "xmpp", "@foo.com")
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Operators

#[test]
fn every_operator_on_strings_folds_case_unless_case_exact() {
    let cases = [
        (r#"userName eq "BJENSEN""#, true),
        (r#"userName eq "bjense""#, false),
        (r#"userName ne "BJensen""#, false),
        (r#"userName ne "alice""#, true),
        (r#"displayName co "S JEN""#, true),
        (r#"displayName co "xyz""#, false),
        (r#"displayName sw "babs""#, true),
        (r#"displayName sw "Jensen""#, false),
        (r#"displayName ew "JENSEN""#, true),
        (r#"displayName ew "Babs""#, false),
        (r#"displayName co """#, true),
        (r#"userName gt "A""#, true),
        (r#"userName gt "BJENSEN""#, false),
        (r#"userName ge "BJENSEN""#, true),
        (r#"userName lt "C""#, true),
        (r#"userName lt "bjensen""#, false),
        (r#"userName le "BJENSEN""#, true),
        (r#"userName le "a""#, false),
        (r#"externalId eq "bjensen""#, true),
        (r#"externalId eq "BJENSEN""#, false),
        (r#"externalId sw "BJ""#, false),
        (&format!(r#"id eq "{BJENSEN_ID}""#), true),
        (&format!(r#"id eq "{}""#, BJENSEN_ID.to_uppercase()), false),
        (r#"meta.resourceType eq "User""#, true),
        (r#"meta.resourceType eq "user""#, false),
        (r#"meta.version eq "W/\"3694e05e9dff591\"""#, true),
        (
            r#"meta.location ew "/Users/2819c223-7f76-453a-919d-413861904646""#,
            true,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
}

#[test]
fn case_folding_covers_non_ascii_letters() {
    let doc = json!({ "userName": "ÖLAF" });
    assert!(matches(&parse(r#"userName eq "ölaf""#, USER), &doc, USER));
}

#[test]
fn date_times_compare_chronologically_across_offsets() {
    let cases = [
        (r#"meta.created lt "2011-01-01T00:00:00Z""#, true),
        (r#"meta.created gt "2010-01-23T04:56:21.999Z""#, true),
        (r#"meta.created eq "2010-01-23T05:56:22+01:00""#, true),
        (r#"meta.created eq "2010-01-23T04:56:22.000Z""#, true),
        (r#"meta.created ge "2010-01-23T05:56:22+01:00""#, true),
        (r#"meta.created gt "2010-01-23T05:56:22+01:00""#, false),
        (r#"meta.created gt "yesterday""#, false),
        (r#"meta.created lt "yesterday""#, false),
        (r#"meta.created ne "yesterday""#, true),
        (r#"meta.created co "2010""#, false),
        (r#"meta.created eq 2010"#, false),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
}

#[test]
fn booleans_compare_with_literals_and_entra_string_booleans() {
    let cases = [
        ("active eq true", true),
        ("active eq TRUE", true),
        ("active eq false", false),
        ("active ne false", true),
        (r#"active eq "True""#, true),
        (r#"active eq "false""#, false),
        (r#"active eq "yes""#, false),
        ("active eq 1", false),
        ("emails[primary eq true and type eq \"work\"]", true),
        ("emails[primary eq true and type eq \"home\"]", false),
        ("emails.primary eq true", true),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
    assert_eq!(
        parse(r#"active eq "False""#, USER),
        cmp(
            AttrPath::simple("active"),
            CompareOp::Eq,
            CompValue::Bool(false)
        )
    );
}

#[test]
fn present_requires_a_non_empty_value() {
    let doc = json!({
        "userName": "x",
        "title": "",
        "emails": [],
        "phoneNumbers": [{ "value": "" }],
        "name": { "givenName": "Ann" }
    });
    let cases = [
        ("userName pr", true),
        ("title pr", false),
        ("nickName pr", false),
        ("emails pr", false),
        ("phoneNumbers pr", true),
        ("phoneNumbers.value pr", false),
        ("name pr", true),
        ("name.givenName pr", true),
        ("name.familyName pr", false),
    ];
    for (text, expected) in cases {
        assert_eq!(matches(&parse(text, USER), &doc, USER), expected, "{text}");
    }
}

#[test]
fn eq_null_means_not_present_and_ne_null_means_present() {
    let cases = [
        ("nickName eq null", true),
        ("nickName ne null", false),
        ("title eq NULL", false),
        ("title ne null", true),
        ("emails.value eq null", false),
        ("x509Certificates.value eq null", true),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
}

#[test]
fn comparisons_on_missing_attributes_are_false_and_their_negations_true() {
    let cases = [
        (r#"nickName eq "x""#, false),
        (r#"nickName co "x""#, false),
        (r#"nickName gt "a""#, false),
        (r#"not (nickName eq "x")"#, true),
        (r#"nickName ne "x""#, true),
        (r#"name.middleName sw "x""#, false),
        (r#"phoneNumbers.value eq "x""#, false),
        (r#"phoneNumbers.value ne "x""#, true),
        (r#"phoneNumbers[type eq "work"]"#, false),
        (r#"not (phoneNumbers[type eq "work"])"#, true),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
}

#[test]
fn multi_valued_comparisons_hold_for_any_element_and_ne_means_no_element_equals() {
    let cases = [
        (r#"emails.type eq "home""#, true),
        (r#"emails.type eq "other""#, false),
        (r#"emails.type ne "work""#, false),
        (r#"emails.type ne "other""#, true),
        (r#"emails eq "BABS@jensen.org""#, true),
        (r#"emails co "@jensen""#, true),
        (r#"emails sw "nobody""#, false),
        (
            r#"emails[type eq "work" and value co "@jensen.org"]"#,
            false,
        ),
        (r#"emails[type eq "home" and value co "@jensen.org"]"#, true),
        (r#"emails[not (type eq "work")]"#, true),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
}

#[test]
fn complex_multi_valued_compared_directly_means_its_value_sub_attribute() {
    assert_eq!(
        parse(r#"emails co "x""#, USER),
        parse(r#"emails.value co "x""#, USER)
    );
    assert_eq!(
        parse(r#"members eq "abc""#, GROUP),
        cmp(
            path(None, "members", Some("value")),
            CompareOp::Eq,
            s("abc")
        )
    );
    assert_eq!(
        parse("emails pr", USER),
        Filter::Present(AttrPath::simple("emails"))
    );
}

#[test]
fn type_mismatches_never_match() {
    let cases = [
        ("userName eq 5", false),
        ("userName ne 5", true),
        ("userName eq true", false),
        ("userName gt 1", false),
        (r#"active co "t""#, false),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
}

#[test]
fn extension_attributes_are_found_under_their_urn() {
    let manager = format!(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "{MANAGER_ID}""#
    );
    let cases = [
        (manager.as_str(), true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            true,
        ),
        (
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT sw "tour""#,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"#,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr"#,
            false,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(user_matches(text), expected, "{text}");
    }
    assert_eq!(
        parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Manager.Value pr",
            USER
        ),
        Filter::Present(path(Some(ENTERPRISE_URN), "manager", Some("value")))
    );
}

#[test]
fn core_urn_qualified_paths_resolve_to_unqualified_names() {
    assert_eq!(
        parse(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "x""#,
            USER
        ),
        parse(r#"name.givenName eq "x""#, USER)
    );
    assert_eq!(
        parse(
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
            GROUP
        ),
        parse(r#"displayName eq "x""#, GROUP)
    );
}

#[test]
fn group_members_filters() {
    let g = tour_guides();
    let cases = [
        (format!(r#"members.value eq "{BJENSEN_ID}""#), true),
        (format!(r#"members eq "{BJENSEN_ID}""#), true),
        (
            format!(r#"members eq "{}""#, BJENSEN_ID.to_uppercase()),
            true,
        ),
        (r#"members.value eq "nobody""#.to_owned(), false),
        (
            format!(r#"members[value eq "{BJENSEN_ID}" and type eq "User"]"#),
            true,
        ),
        (r#"members[type eq "Group"]"#.to_owned(), false),
        (r#"members.display co "pepper""#.to_owned(), true),
        (r#"displayName eq "tour guides""#.to_owned(), true),
        ("members pr".to_owned(), true),
    ];
    for (text, expected) in cases {
        assert_eq!(matches(&parse(&text, GROUP), &g, GROUP), expected, "{text}");
    }
}

#[test]
fn common_attributes_are_valid_for_every_kind() {
    for kind in [USER, GROUP] {
        for text in [
            r#"id eq "x""#,
            r#"externalId eq "x""#,
            r#"meta.created gt "2020-01-01T00:00:00Z""#,
            r#"meta.lastModified le "2020-01-01T00:00:00Z""#,
            r#"meta.version eq "W/\"1\"""#,
            "meta pr",
            r#"schemas eq "urn:x""#,
        ] {
            parse(text, kind);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Case-insensitivity and printing

#[test]
fn names_operators_and_keywords_are_case_insensitive() {
    let pairs = [
        (r#"userName Eq "john""#, r#"Username eq "john""#),
        (r#"USERNAME EQ "john""#, r#"userName eq "john""#),
        (
            r#"TITLE PR AND USERTYPE EQ "x" OR NOT (ACTIVE EQ TRUE)"#,
            r#"title pr and userType eq "x" or not (active eq true)"#,
        ),
        (r#"EMAILS[TYPE eq "work"]"#, r#"emails[type eq "work"]"#),
        (r#"Emails.Value CO "x""#, r#"emails.value co "x""#),
        ("nickName EQ Null", "nickName eq null"),
        ("active eq False", "active eq false"),
    ];
    for (a, b) in pairs {
        assert_eq!(parse(a, USER), parse(b, USER), "{a}");
        assert_eq!(
            parse(a, USER).to_string(),
            b.replace("Username", "userName")
        );
    }
}

#[test]
fn printing_is_canonical_and_parenthesises_only_where_needed() {
    let cases = [
        (r#"userName eq "x""#, r#"userName eq "x""#),
        (r#"emails co "x""#, r#"emails.value co "x""#),
        (
            r#"(title pr or nickName pr) and userName pr"#,
            r#"(title pr or nickName pr) and userName pr"#,
        ),
        (
            "title pr and (nickName pr and userName pr)",
            "title pr and (nickName pr and userName pr)",
        ),
        (
            "(title pr and nickName pr) and userName pr",
            "title pr and nickName pr and userName pr",
        ),
        (
            "title pr or (nickName pr and userName pr)",
            "title pr or nickName pr and userName pr",
        ),
        (
            "title pr or (nickName pr or userName pr)",
            "title pr or (nickName pr or userName pr)",
        ),
        ("((title pr))", "title pr"),
        ("not(title pr)", "not (title pr)"),
        ("externalId eq jyoung", r#"externalId eq "jyoung""#),
        (
            r#"userName eq "a\"b\\c\/d\n\u0001\u00e9\ud83d\ude00""#,
            "userName eq \"a\\\"b\\\\c/d\\n\\u0001é😀\"",
        ),
        ("userName eq -1.5e3", "userName eq -1500.0"),
        ("userName eq 42", "userName eq 42"),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
        ),
    ];
    for (input, printed) in cases {
        let f = parse(input, USER);
        assert_eq!(f.to_string(), printed, "{input}");
        assert_eq!(parse(printed, USER), f, "{input}");
    }
}

#[test]
fn bare_word_values_are_strings() {
    assert_eq!(
        parse("externalId eq jyoung", USER),
        cmp(AttrPath::simple("externalId"), CompareOp::Eq, s("jyoung"))
    );
    let doc = json!({ "externalId": "jyoung" });
    assert!(matches(&parse("externalId eq jyoung", USER), &doc, USER));
    assert!(matches(
        &parse("externalId eq jyoung and externalId sw jy", USER),
        &doc,
        USER
    ));
}

#[test]
fn json_string_escapes_are_decoded() {
    let f = parse_filter_raw(r#"userName eq "\"\\\/\b\f\n\r\t\u0041\u00e9\uD83D\uDE00""#)
        .expect("parses");
    assert_eq!(
        f,
        cmp(
            AttrPath::simple("userName"),
            CompareOp::Eq,
            s("\"\\/\u{8}\u{c}\n\r\tAé😀")
        )
    );
}

#[test]
fn numbers_keep_their_json_form() {
    for (text, expected) in [
        ("0", json!(0)),
        ("-7", json!(-7)),
        ("18446744073709551615", json!(18446744073709551615u64)),
        ("2.5", json!(2.5)),
        ("1E2", json!(100.0)),
    ] {
        let f = parse_filter_raw(&format!("x eq {text}")).expect(text);
        let Value::Number(n) = expected else {
            panic!("not a number")
        };
        assert_eq!(
            f,
            cmp(AttrPath::simple("x"), CompareOp::Eq, CompValue::Num(n))
        );
    }
}

#[test]
fn raw_parse_keeps_names_as_written() {
    let f = parse_filter_raw(r#"Foo.BAR eq "x" and urn:a:b:C pr"#).expect("parses");
    assert_eq!(
        f,
        and(
            cmp(path(None, "Foo", Some("BAR")), CompareOp::Eq, s("x")),
            Filter::Present(path(Some("urn:a:b"), "C", None)),
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn syntax_errors_say_where_and_why() {
    let cases = [
        (
            r#"userName eqq "x""#,
            r#"invalid filter at offset 9: expected a comparison operator or 'pr', found "eqq""#,
        ),
        (
            "userName eq",
            "invalid filter at offset 11: expected a comparison value",
        ),
        (
            r#"(userName eq "x""#,
            "invalid filter at offset 16: expected 'and', 'or' or ')' closing the '(' at offset 0, found end of input",
        ),
        (
            r#"userName eq "x")"#,
            "invalid filter at offset 15: expected 'and', 'or' or the end of the filter, found ')'",
        ),
        (
            r#"userName eq "x" and"#,
            "invalid filter at offset 19: expected an attribute path, found end of input",
        ),
        (
            r#"userName eq "x" xor title pr"#,
            r#"invalid filter at offset 16: expected 'and', 'or' or the end of the filter, found "xor""#,
        ),
        (
            r#"not userName eq "x""#,
            r#"invalid filter at offset 4: expected '(' after 'not', found "userName""#,
        ),
        (
            r#"emails[type eq "work"].value"#,
            "invalid filter at offset 28: expected a comparison operator or 'pr', found end of input",
        ),
        (
            r#"emails[ims[type eq "x"]]"#,
            "invalid filter at offset 10: value filters cannot be nested",
        ),
        (
            r#"emails.value[type eq "x"]"#,
            "invalid filter at offset 12: a value filter must follow an attribute name without a sub-attribute",
        ),
        (
            r#"userName eq "abc"#,
            "invalid filter at offset 12: unterminated string",
        ),
        (
            r#"userName eq "\q""#,
            r#"invalid filter at offset 13: invalid escape "\\q""#,
        ),
        (
            r#"userName eq "\ud800x""#,
            "invalid filter at offset 13: unpaired UTF-16 surrogate",
        ),
        (
            r#"userName eq "\u12""#,
            "invalid filter at offset 13: expected four hexadecimal digits",
        ),
        (
            "userName eq \"a\tb\"",
            "invalid filter at offset 14: control characters",
        ),
        (
            "userName eq 01",
            r#"invalid filter at offset 12: invalid number "01""#,
        ),
        (
            "userName eq 1e999",
            "invalid filter at offset 12: number \"1e999\" is out of range",
        ),
        (
            "userName eq (",
            "invalid filter at offset 12: expected a comparison value",
        ),
        (
            "userName eq and",
            "invalid filter at offset 12: expected a comparison value",
        ),
        (
            "name.givenName.x pr",
            "invalid filter at offset 14: an attribute path has at most one sub-attribute",
        ),
        (
            r#""userName" eq "x""#,
            "invalid filter at offset 0: expected an attribute path, found a string",
        ),
        (
            "",
            "invalid filter at offset 0: expected an attribute path, found end of input",
        ),
        (
            "   ",
            "invalid filter at offset 3: expected an attribute path",
        ),
        (
            "and pr",
            r#"invalid filter at offset 0: expected an attribute path, found "and""#,
        ),
        (
            "9abc pr",
            r#"invalid filter at offset 0: invalid attribute name "9abc""#,
        ),
        (
            "user:name pr",
            "invalid filter at offset 0: invalid attribute name \"user:name\"",
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User: eq "x""#,
            "invalid filter at offset 43: expected an attribute name after the schema URN",
        ),
        (
            "()",
            "invalid filter at offset 1: expected an attribute path, found ')'",
        ),
    ];
    for (text, prefix) in cases {
        let detail = filter_error(text, USER);
        assert!(
            detail.starts_with(prefix),
            "{text}\n  got:  {detail}\n  want: {prefix}"
        );
    }
}

#[test]
fn long_words_in_errors_are_truncated() {
    let word = "x".repeat(100);
    let detail = filter_error(&format!("userName {word} \"a\""), USER);
    assert!(
        detail.ends_with(&format!("found \"{}...\"", "x".repeat(32))),
        "{detail}"
    );
}

#[test]
fn unknown_attributes_are_invalid_filter_naming_them() {
    let cases = [
        (r#"foo eq "x""#, USER, "unknown attribute 'foo' for User"),
        ("name.foo pr", USER, "unknown attribute 'name.foo' for User"),
        (
            "userName.x pr",
            USER,
            "unknown attribute 'userName.x' for User",
        ),
        ("members pr", USER, "unknown attribute 'members' for User"),
        (
            r#"userName eq "x""#,
            GROUP,
            "unknown attribute 'userName' for Group",
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
            GROUP,
            "unknown attribute 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department' for Group",
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
            GROUP,
            "unknown attribute",
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge eq "x""#,
            USER,
            "unknown attribute",
        ),
        ("manager pr", GROUP, "unknown attribute 'manager' for Group"),
        (
            r#"emails[foo eq "x"]"#,
            USER,
            "unknown sub-attribute 'foo' of 'emails'",
        ),
        (r#"emails[value.x eq "x"]"#, USER, "unknown sub-attribute"),
        ("schemas.x pr", USER, "unknown attribute 'schemas.x'"),
    ];
    for (text, kind, fragment) in cases {
        let detail = filter_error(text, kind);
        assert!(detail.contains(fragment), "{text}: {detail}");
    }
}

#[test]
fn invalid_comparisons_are_invalid_filter() {
    let cases = [
        (
            "active gt true",
            "operator 'gt' cannot be used on boolean attribute 'active'",
        ),
        ("active le false", "boolean"),
        ("emails.primary lt true", "boolean"),
        (r#"x509Certificates.value ge "a""#, "binary"),
        (r#"x509Certificates gt "a""#, "binary"),
        (
            r#"name eq "x""#,
            "complex attribute 'name' cannot be compared directly",
        ),
        (r#"meta eq "x""#, "complex attribute 'meta'"),
        ("userName co null", "operator 'co' cannot compare with null"),
        ("userName gt null", "cannot compare with null"),
        (
            r#"name[givenName eq "x"]"#,
            "not a multi-valued complex attribute",
        ),
        (
            r#"userName[value eq "x"]"#,
            "not a multi-valued complex attribute",
        ),
    ];
    for (text, fragment) in cases {
        let detail = filter_error(text, USER);
        assert!(detail.contains(fragment), "{text}: {detail}");
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

fn nested(open: &str, inner: &str, close: &str, levels: usize) -> String {
    format!("{}{inner}{}", open.repeat(levels), close.repeat(levels))
}

#[test]
fn filter_of_exactly_the_length_limit_is_accepted_and_one_byte_more_is_not() {
    let head = r#"userName eq ""#;
    let fill = MAX_FILTER_LEN - head.len() - 1;
    let at_limit = format!("{head}{}\"", "a".repeat(fill));
    assert_eq!(at_limit.len(), MAX_FILTER_LEN);
    parse(&at_limit, USER);
    let over = format!("{head}{}\"", "a".repeat(fill + 1));
    let detail = filter_error(&over, USER);
    assert!(detail.contains("4097 bytes"), "{detail}");
}

#[test]
fn nesting_up_to_the_depth_limit_is_accepted_and_one_more_is_not() {
    for (open, close) in [("(", ")"), ("not (", ")"), ("NOT(", ")")] {
        let ok = nested(open, "title pr", close, MAX_FILTER_DEPTH);
        parse(&ok, USER);
        let too_deep = nested(open, "title pr", close, MAX_FILTER_DEPTH + 1);
        let detail = filter_error(&too_deep, USER);
        assert!(
            detail.contains(&format!(
                "filter nests deeper than {MAX_FILTER_DEPTH} levels"
            )),
            "{detail}"
        );
    }
    // The value-path bracket is a level too.
    let ok = format!(
        "emails[{}]",
        nested("(", r#"type eq "work""#, ")", MAX_FILTER_DEPTH - 1)
    );
    parse(&ok, USER);
    let too_deep = format!(
        "emails[{}]",
        nested("(", r#"type eq "work""#, ")", MAX_FILTER_DEPTH)
    );
    assert!(filter_error(&too_deep, USER).contains("deeper"));
}

#[test]
fn a_million_nested_parentheses_is_an_error_not_a_stack_overflow() {
    for open in ["(", "not(", "emails[", "(("] {
        let input = open.repeat(1_000_000);
        let err = parse_filter(&input, USER).expect_err("rejected");
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        let err = parse_patch_path(&input).expect_err("rejected");
        assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    }
    // Within the length limit, the depth limit stops the descent.
    let input = "(".repeat(MAX_FILTER_LEN);
    assert!(filter_error(&input, USER).contains("deeper"));
}

#[test]
fn long_flat_or_chain_is_accepted_and_evaluated_on_a_small_stack() {
    let mut terms = Vec::new();
    let mut text = String::new();
    for i in 0.. {
        let term = format!(r#"id eq "{i}""#);
        if text.len() + term.len() + 4 > MAX_FILTER_LEN {
            break;
        }
        if !text.is_empty() {
            text.push_str(" or ");
        }
        text.push_str(&term);
        terms.push(i);
    }
    let deep = nested("not (", "title pr", ")", MAX_FILTER_DEPTH);
    // Parsing, resolving, evaluating and printing the largest inputs must fit a small stack.
    let worker = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let chain = parse_filter(&text, USER).expect("chain parses");
            let deep = parse_filter(&deep, USER).expect("deep parses");
            let doc = json!({ "id": "7", "title": "x" });
            let printed = chain.to_string();
            (
                matches(&chain, &doc, USER),
                matches(&deep, &doc, USER),
                printed == text,
            )
        })
        .expect("spawn");
    let (chain_matches, deep_matches, same_text) = worker.join().expect("no overflow");
    assert!(terms.len() > 250, "{} terms", terms.len());
    assert!(chain_matches);
    assert!(deep_matches, "an even number of nots");
    assert!(same_text);
}

// ---------------------------------------------------------------------------------------------
// Paths and helpers used by PATCH and the stores

#[test]
fn matches_value_evaluates_one_element_of_a_multi_valued_attribute() {
    let emails = registry().user.attribute("emails").expect("emails");
    let path = parse_patch_path(r#"emails[type eq "WORK" and not (primary eq "false")]"#)
        .expect("parses")
        .resolve(USER)
        .expect("resolves");
    let filter = path.filter.expect("has a filter");
    let cases = [
        (
            json!({ "value": "a@x", "type": "work", "primary": true }),
            true,
        ),
        (json!({ "value": "a@x", "type": "Work" }), true),
        (
            json!({ "value": "a@x", "type": "work", "primary": false }),
            false,
        ),
        (json!({ "value": "a@x", "type": "home" }), false),
        (json!("a@x"), false),
    ];
    for (element, expected) in cases {
        assert_eq!(
            matches_value(&filter, &element, emails),
            expected,
            "{element}"
        );
    }
    let members = registry().group.attribute("members").expect("members");
    let f = parse_patch_path(r#"members[value eq "abc"]"#)
        .expect("parses")
        .resolve(GROUP)
        .expect("resolves")
        .filter
        .expect("has a filter");
    assert!(matches_value(&f, &json!({ "value": "ABC" }), members));
    assert!(!matches_value(&f, &json!({ "value": "abd" }), members));
    assert!(matches_value(&not(f), &json!(null), members));
}

#[test]
fn attribute_def_describes_resolved_paths() {
    let def = |p: AttrPath| attribute_def(USER, &p).expect("known");
    assert_eq!(
        def(path(None, "meta", Some("created"))).ty,
        AttrType::DateTime
    );
    assert!(def(AttrPath::simple("id")).case_exact);
    assert!(!def(path(None, "emails", Some("value"))).case_exact);
    assert!(def(AttrPath::simple("schemas")).multi_valued);
    assert_eq!(
        def(path(Some(ENTERPRISE_URN), "manager", Some("value"))).name,
        "value"
    );
    assert!(attribute_def(USER, &AttrPath::simple("nope")).is_none());
}

#[test]
fn attr_path_display_round_trips() {
    for text in [
        "userName",
        "name.givenName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$ref",
    ] {
        let p = parse_attr_path(text).expect(text);
        assert_eq!(p.to_string(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Str,
    Bool,
    Date,
}

#[derive(Debug, Clone, Copy)]
struct P {
    urn: Option<&'static str>,
    attr: &'static str,
    sub: Option<&'static str>,
    ty: Ty,
}

const fn p(attr: &'static str, sub: Option<&'static str>, ty: Ty) -> P {
    P {
        urn: None,
        attr,
        sub,
        ty,
    }
}

const fn ext(attr: &'static str, sub: Option<&'static str>) -> P {
    P {
        urn: Some(ENTERPRISE_URN),
        attr,
        sub,
        ty: Ty::Str,
    }
}

/// Comparable User paths in canonical form.
const USER_PATHS: &[P] = &[
    p("userName", None, Ty::Str),
    p("displayName", None, Ty::Str),
    p("title", None, Ty::Str),
    p("nickName", None, Ty::Str),
    p("active", None, Ty::Bool),
    p("name", Some("givenName"), Ty::Str),
    p("name", Some("familyName"), Ty::Str),
    p("emails", Some("value"), Ty::Str),
    p("emails", Some("type"), Ty::Str),
    p("emails", Some("primary"), Ty::Bool),
    p("id", None, Ty::Str),
    p("externalId", None, Ty::Str),
    p("schemas", None, Ty::Str),
    p("meta", Some("created"), Ty::Date),
    p("meta", Some("lastModified"), Ty::Date),
    p("meta", Some("version"), Ty::Str),
    ext("department", None),
    ext("manager", Some("value")),
];

/// Complex paths: only `pr` keeps them as they are.
const PRESENT_ONLY: &[P] = &[
    p("emails", None, Ty::Str),
    p("name", None, Ty::Str),
    p("meta", None, Ty::Str),
    ext("manager", None),
];

/// Sub-attributes of `emails` and `phoneNumbers`, for value paths.
const ELEMENT_PATHS: &[P] = &[
    p("value", None, Ty::Str),
    p("type", None, Ty::Str),
    p("display", None, Ty::Str),
    p("primary", None, Ty::Bool),
];

const SAMPLE_STRINGS: &[&str] = &[
    "bjensen",
    "BJensen",
    "alice",
    "",
    "work",
    "WORK",
    "home",
    "a@example.com",
    "@example.com",
    "Tour Guide",
    "tour",
    "Sales",
    "x",
    "W/\"1\"",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
];

const DATES: &[&str] = &[
    "2010-01-23T04:56:22Z",
    "2011-05-13T04:42:34Z",
    "2011-05-13T06:42:34+02:00",
    "2024-02-29T23:59:59.5Z",
    "not a date",
];

fn to_path(p: &P) -> AttrPath {
    path(p.urn, p.attr, p.sub)
}

fn any_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn any_string() -> BoxedStrategy<CompValue> {
    prop_oneof![
        3 => prop::sample::select(SAMPLE_STRINGS).prop_map(|s| CompValue::Str(s.to_owned())),
        1 => prop::collection::vec(any::<char>(), 0..8)
            .prop_map(|cs| CompValue::Str(cs.into_iter().collect())),
    ]
    .boxed()
}

fn any_number() -> BoxedStrategy<CompValue> {
    prop_oneof![
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        any::<u64>().prop_map(|n| CompValue::Num(n.into())),
        (-1.0e15f64..1.0e15)
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Num),
    ]
    .boxed()
}

/// Values a resolved filter keeps unchanged for an attribute of type `ty`.
fn value_for(ty: Ty) -> BoxedStrategy<CompValue> {
    match ty {
        Ty::Str => prop_oneof![
            6 => any_string(),
            1 => any_number(),
            1 => any::<bool>().prop_map(CompValue::Bool),
            1 => Just(CompValue::Null),
        ]
        .boxed(),
        Ty::Bool => prop_oneof![
            4 => any::<bool>().prop_map(CompValue::Bool),
            1 => Just(CompValue::Null),
            1 => any_number(),
            1 => Just(CompValue::Str("yes".to_owned())),
        ]
        .boxed(),
        Ty::Date => prop_oneof![
            4 => prop::sample::select(DATES).prop_map(|s| CompValue::Str(s.to_owned())),
            1 => any_string(),
            1 => Just(CompValue::Null),
        ]
        .boxed(),
    }
}

/// Makes an operator valid for its attribute and value, as the resolver requires.
fn valid_op(ty: Ty, op: CompareOp, v: &CompValue) -> CompareOp {
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    );
    if (*v == CompValue::Null && !matches!(op, CompareOp::Eq | CompareOp::Ne))
        || (ty == Ty::Bool && ordering)
    {
        CompareOp::Eq
    } else {
        op
    }
}

fn compare_leaf(paths: &'static [P]) -> BoxedStrategy<Filter> {
    prop::sample::select(paths)
        .prop_flat_map(|p| (Just(p), any_op(), value_for(p.ty)))
        .prop_map(|(p, op, v)| Filter::Compare(to_path(&p), valid_op(p.ty, op, &v), v))
        .boxed()
}

fn present_leaf(paths: &'static [P]) -> BoxedStrategy<Filter> {
    prop::sample::select(paths)
        .prop_map(|p| Filter::Present(to_path(&p)))
        .boxed()
}

fn tree(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
            inner.prop_map(not),
        ]
    })
    .boxed()
}

fn element_filter() -> BoxedStrategy<Filter> {
    tree(
        prop_oneof![3 => compare_leaf(ELEMENT_PATHS), 1 => present_leaf(ELEMENT_PATHS)].boxed(),
        2,
    )
}

fn value_path_leaf() -> BoxedStrategy<Filter> {
    (
        prop::sample::select(&["emails", "phoneNumbers"][..]),
        element_filter(),
    )
        .prop_map(|(attr, inner)| Filter::ValuePath(AttrPath::simple(attr), Box::new(inner)))
        .boxed()
}

/// Resolved User filters.
fn user_filter() -> BoxedStrategy<Filter> {
    let present = prop_oneof![present_leaf(USER_PATHS), present_leaf(PRESENT_ONLY)];
    tree(
        prop_oneof![
            4 => compare_leaf(USER_PATHS),
            1 => present.boxed(),
            1 => value_path_leaf(),
        ]
        .boxed(),
        4,
    )
}

fn shout_path(p: &AttrPath) -> AttrPath {
    AttrPath {
        urn: p.urn.as_ref().map(|u| u.to_uppercase()),
        attr: p.attr.to_uppercase(),
        sub: p.sub.as_ref().map(|s| s.to_uppercase()),
    }
}

/// The same filter with every name and URN in upper case.
fn shout(f: &Filter) -> Filter {
    match f {
        Filter::And(a, b) => and(shout(a), shout(b)),
        Filter::Or(a, b) => or(shout(a), shout(b)),
        Filter::Not(a) => not(shout(a)),
        Filter::Present(p) => Filter::Present(shout_path(p)),
        Filter::Compare(p, op, v) => Filter::Compare(shout_path(p), *op, v.clone()),
        Filter::ValuePath(p, inner) => Filter::ValuePath(shout_path(p), Box::new(shout(inner))),
    }
}

fn email() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(
            &["a@example.com", "B@EXAMPLE.COM", "x", ""][..],
        )),
        prop::option::of(prop::sample::select(&["work", "home", "WORK"][..])),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(value, ty, primary)| {
            let mut e = serde_json::Map::new();
            if let Some(v) = value {
                e.insert("value".into(), json!(v));
            }
            if let Some(t) = ty {
                e.insert("type".into(), json!(t));
            }
            if let Some(p) = primary {
                e.insert("primary".into(), json!(p));
            }
            Value::Object(e)
        })
}

/// Small User documents in canonical form, with many attributes often missing.
fn user_doc() -> impl Strategy<Value = Value> {
    let pick = |values: &'static [&'static str]| prop::option::of(prop::sample::select(values));
    (
        pick(&["bjensen", "BJensen", "alice", "", "Ölaf"]),
        pick(&["Tour Guide", "", "tour guide"]),
        prop::option::of(any::<bool>()),
        prop::collection::vec(email(), 0..3),
        pick(DATES),
        pick(&["bjensen", "BJENSEN"]),
        pick(&["Tour Operations", "Sales"]),
        pick(&["26118915", "x"]),
        pick(&["W/\"1\"", "W/\"2\""]),
    )
        .prop_map(
            |(user_name, title, active, emails, created, external_id, dept, manager, version)| {
                let mut doc = serde_json::Map::new();
                let mut schemas = vec![json!(USER_URN)];
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        doc.insert(k.to_owned(), v);
                    }
                };
                put("id", Some(json!(BJENSEN_ID)));
                put("userName", user_name.map(|v| json!(v)));
                put("title", title.map(|v| json!(v)));
                put("active", active.map(|v| json!(v)));
                put("externalId", external_id.map(|v| json!(v)));
                if !emails.is_empty() {
                    put("emails", Some(Value::Array(emails)));
                }
                let mut meta = serde_json::Map::new();
                meta.insert("resourceType".into(), json!("User"));
                if let Some(c) = created {
                    meta.insert("created".into(), json!(c));
                    meta.insert("lastModified".into(), json!(c));
                }
                if let Some(v) = version {
                    meta.insert("version".into(), json!(v));
                }
                put("meta", Some(Value::Object(meta)));
                let mut enterprise = serde_json::Map::new();
                if let Some(d) = dept {
                    enterprise.insert("department".into(), json!(d));
                }
                if let Some(m) = manager {
                    enterprise.insert("manager".into(), json!({ "value": m }));
                }
                if !enterprise.is_empty() {
                    schemas.push(json!(ENTERPRISE_URN));
                    put(ENTERPRISE_URN, Some(Value::Object(enterprise)));
                }
                put("schemas", Some(Value::Array(schemas)));
                Value::Object(doc)
            },
        )
}

proptest! {
    #[test]
    fn printed_filter_parses_back_to_the_same_ast(f in user_filter()) {
        let printed = f.to_string();
        prop_assert_eq!(parse_filter(&printed, USER), Ok(f.clone()), "{}", printed);
        prop_assert_eq!(parse_filter_raw(&printed), Ok(f));
    }

    #[test]
    fn names_in_any_case_resolve_to_the_canonical_ast(f in user_filter()) {
        let printed = shout(&f).to_string();
        prop_assert_eq!(parse_filter(&printed, USER), Ok(f), "{}", printed);
    }

    #[test]
    fn double_negation_changes_nothing(f in user_filter(), doc in user_doc()) {
        prop_assert_eq!(
            matches(&not(not(f.clone())), &doc, USER),
            matches(&f, &doc, USER)
        );
    }

    #[test]
    fn excluded_middle_holds_even_for_missing_attributes(f in user_filter(), doc in user_doc()) {
        prop_assert!(matches(&or(f.clone(), not(f.clone())), &doc, USER));
        prop_assert!(!matches(&and(f.clone(), not(f)), &doc, USER));
    }

    #[test]
    fn de_morgan_holds(a in user_filter(), b in user_filter(), doc in user_doc()) {
        prop_assert_eq!(
            matches(&not(and(a.clone(), b.clone())), &doc, USER),
            matches(&or(not(a), not(b)), &doc, USER)
        );
    }

    #[test]
    fn ne_is_the_negation_of_eq(
        p in prop::sample::select(USER_PATHS),
        v in any_string(),
        doc in user_doc(),
    ) {
        let eq = Filter::Compare(to_path(&p), CompareOp::Eq, v.clone());
        let ne = Filter::Compare(to_path(&p), CompareOp::Ne, v);
        prop_assert_eq!(matches(&ne, &doc, USER), !matches(&eq, &doc, USER));
    }

    #[test]
    fn eq_null_is_not_present(p in prop::sample::select(USER_PATHS), doc in user_doc()) {
        let eq_null = Filter::Compare(to_path(&p), CompareOp::Eq, CompValue::Null);
        let present = Filter::Present(to_path(&p));
        prop_assert_eq!(matches(&eq_null, &doc, USER), !matches(&present, &doc, USER));
    }

    #[test]
    fn one_condition_value_path_equals_the_dotted_path(
        sub in prop::sample::select(&["value", "type", "primary"][..]),
        op in any_op(),
        v in any_string(),
        doc in user_doc(),
    ) {
        // `ne` differs on purpose: dotted, no element equals; bracketed, some element differs.
        let op = if op == CompareOp::Ne { CompareOp::Eq } else { op };
        let ty = if sub == "primary" { Ty::Bool } else { Ty::Str };
        let op = valid_op(ty, op, &v);
        let bracketed = Filter::ValuePath(
            AttrPath::simple("emails"),
            Box::new(Filter::Compare(AttrPath::simple(sub), op, v.clone())),
        );
        let dotted = Filter::Compare(path(None, "emails", Some(sub)), op, v);
        prop_assert_eq!(matches(&bracketed, &doc, USER), matches(&dotted, &doc, USER));
    }

    #[test]
    fn parser_never_panics_and_printing_round_trips(s in "[a-zA-Z() \\[\\]\".:0-9\\\\-]{0,60}") {
        if let Ok(f) = parse_filter(&s, USER) {
            prop_assert_eq!(parse_filter(&f.to_string(), USER), Ok(f));
        }
        let _ = parse_patch_path(&s);
        let _ = parse_attr_path(&s);
    }
}

#[test]
fn value_path_followed_by_sub_attribute_means_a_condition_on_the_same_element() {
    // Entra matches users on `emails[type eq "work"].value eq ...`.
    let sugared = parse(r#"emails[type eq "work"].value eq "X@example.com""#, USER);
    let plain = parse(
        r#"emails[type eq "work" and value eq "X@example.com"]"#,
        USER,
    );
    assert_eq!(sugared, plain);
    let user = json!({"userName": "x", "emails": [
        {"type": "home", "value": "x@example.com"},
        {"type": "work", "value": "other@example.com"}
    ]});
    // Same element, not any element: the home address does not satisfy the work condition.
    assert!(!matches(&sugared, &user, USER));
}

#[test]
fn manager_without_urn_and_compared_directly_means_its_value() {
    let f = parse(r#"manager eq "boss-id""#, USER);
    assert_eq!(
        f,
        parse(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "boss-id""#,
            USER
        )
    );
    let user = json!({"userName": "x",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "boss-id"}}});
    assert!(matches(&f, &user, USER));
    assert!(!matches(&parse(r#"manager eq "other""#, USER), &user, USER));
}
