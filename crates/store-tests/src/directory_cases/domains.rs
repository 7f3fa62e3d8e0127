//! Verified domains bound `userName`s.

use super::*;

pub async fn verified_domains_bound_user_names(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let add = |typed: &'static str| w.dir.add_domain(w.org.id, "cli", typed);
    // The name as typed is kept normalised, the name its record is looked up under.
    let first = add(" Example.EDU. ").await.expect("add");
    assert_eq!(first.name, "example.edu");
    assert!(
        first.txt.starts_with("scimd-domain-verification=") && first.txt.len() > 40,
        "{}",
        first.txt
    );
    let bad = add("https://example.org/").await.expect_err("not a domain");
    assert!(
        matches!(bad, DirectoryError::Invalid(ref m) if m.contains("without http://")),
        "{bad:?}"
    );
    // Unverified: not enforced yet.
    w.scim_create("before@elsewhere.org")
        .await
        .expect("no verified domain yet");
    let missing = w
        .dir
        .verify_domain(
            w.org.id,
            "cli",
            "example.edu",
            &FakeDns(TxtOutcome::Missing {
                seen: vec![
                    "v=spf1 -all".into(),
                    "scimd-domain-verification=stale".into(),
                ],
            }),
        )
        .await
        .expect_err("refused");
    // A value of ours is repeated; other records of the name are only counted.
    assert!(
        matches!(missing, DirectoryError::Dns(ref m)
            if m.contains("scimd-domain-verification=stale")
                && m.contains("1 other TXT record")
                && !m.contains("v=spf1")),
        "{missing:?}"
    );
    let d = w
        .dir
        .verify_domain(w.org.id, "cli", "EXAMPLE.edu", &FakeDns(TxtOutcome::Found))
        .await
        .expect("verified");
    assert_eq!(d.verified_by.as_deref(), Some("dns"));
    let e = w
        .scim_create("after@elsewhere.org")
        .await
        .expect_err("refused");
    assert_scim(e, 400, Some(ScimType::InvalidValue), "elsewhere.org");
    w.scim_create("pupil@Example.EDU")
        .await
        .expect("inside the domain");
    // An operator can force a second one.
    let second = add("elsewhere.org").await.expect("add");
    assert_ne!(first.txt, second.txt, "each domain its own value");
    w.dir
        .force_verify_domain(w.org.id, "cli", "elsewhere.org")
        .await
        .expect("forced");
    w.scim_create("after@elsewhere.org")
        .await
        .expect("now allowed");
    let dup = add("EXAMPLE.edu").await.expect_err("refused");
    assert_eq!(
        directory::Failure::kind(&dup),
        directory::ErrorKind::Conflict,
        "{dup}"
    );
    // An internationalised name is found as it is typed, in Unicode or as kept.
    let idn = add("Bücherei.Example").await.expect("add");
    assert_eq!(idn.name, "xn--bcherei-n2a.example");
    w.dir
        .force_verify_domain(w.org.id, "cli", "bücherei.example.")
        .await
        .expect("found in Unicode");
    w.dir
        .remove_domain(w.org.id, "cli", "BÜCHEREI.example")
        .await
        .expect("removed in Unicode");
    let gone = w
        .dir
        .remove_domain(w.org.id, "cli", "xn--bcherei-n2a.example")
        .await
        .expect_err("gone");
    assert_eq!(
        directory::Failure::kind(&gone),
        directory::ErrorKind::NotFound,
        "{gone}"
    );
}
