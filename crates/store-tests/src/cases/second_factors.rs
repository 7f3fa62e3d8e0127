//! Two-step verification: second factors confirmed once, time steps and recovery codes used
//! once even when requests race, the organisation's rule, and one organisation's rows never
//! reached through another.

use super::*;
use directory::store::SecondFactor;

fn admin(org: OrgId) -> Administrator {
    Administrator {
        id: AdminId::new(),
        org_id: org,
        email: format!("{}@example.com", uuid::Uuid::new_v4().simple()),
        role: AdminRole::Administrator,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        created: now(),
    }
}

fn factor(who: &Administrator, seed: u8) -> SecondFactor {
    SecondFactor {
        org_id: who.org_id,
        admin_id: who.id,
        secret: vec![seed; 20],
        created: now(),
        confirmed: None,
        last_step: None,
    }
}

fn code_hash(n: u8) -> [u8; 32] {
    let mut h = [n; 32];
    h[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    h
}

pub async fn second_factors_are_confirmed_once_and_never_replaced_after(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let ann = admin(org.id);
    store.add_admin(&ann).await.expect("ann");
    assert_eq!(
        store.get_second_factor(org.id, ann.id).await.expect("get"),
        None
    );

    // An unconfirmed enrolment stays: a second one begun (another page load) leaves it.
    let first = factor(&ann, 1);
    assert!(store.put_second_factor(&first).await.expect("put"));
    assert_eq!(
        store.get_second_factor(org.id, ann.id).await.expect("get"),
        Some(first.clone())
    );
    assert!(
        !store
            .put_second_factor(&factor(&ann, 2))
            .await
            .expect("put again")
    );
    assert_eq!(
        store.get_second_factor(org.id, ann.id).await.expect("get"),
        Some(first.clone())
    );
    // It has no codes until confirmed, and new ones cannot be given to it.
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        0
    );
    assert!(
        !store
            .replace_recovery_codes(org.id, ann.id, &[code_hash(9)])
            .await
            .expect("replace")
    );
    assert!(
        !store.accept_step(org.id, ann.id, 100).await.expect("step"),
        "an unconfirmed factor accepts no code"
    );

    let at = now();
    let codes: Vec<[u8; 32]> = (0..10).map(code_hash).collect();
    assert!(
        store
            .confirm_second_factor(org.id, ann.id, 1000, at, &codes)
            .await
            .expect("confirm")
    );
    let kept = store
        .get_second_factor(org.id, ann.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.secret, first.secret);
    assert_eq!(kept.confirmed, Some(at));
    assert_eq!(kept.last_step, Some(1000));
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        10
    );
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(
        store
            .recovery_code_hashes(org.id, ann.id)
            .await
            .expect("hashes"),
        sorted
    );

    // Confirmed: neither confirmed again nor replaced by a new enrolment.
    assert!(
        !store
            .confirm_second_factor(org.id, ann.id, 2000, now(), &[code_hash(7)])
            .await
            .expect("confirm again")
    );
    assert!(
        !store
            .put_second_factor(&factor(&ann, 3))
            .await
            .expect("put")
    );
    let still = store
        .get_second_factor(org.id, ann.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(still, kept, "nothing changed");
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        10
    );

    // Removal takes the codes with it, once.
    assert!(
        store
            .remove_second_factor(org.id, ann.id)
            .await
            .expect("rm")
    );
    assert_eq!(
        store.get_second_factor(org.id, ann.id).await.expect("get"),
        None
    );
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        0
    );
    assert!(
        !store
            .remove_second_factor(org.id, ann.id)
            .await
            .expect("rm")
    );
    // And a new enrolment may begin.
    assert!(
        store
            .put_second_factor(&factor(&ann, 4))
            .await
            .expect("put")
    );
}

pub async fn time_steps_and_recovery_codes_are_used_once_even_when_racing(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let ann = admin(org.id);
    store.add_admin(&ann).await.expect("ann");
    store
        .put_second_factor(&factor(&ann, 1))
        .await
        .expect("put");
    let codes: Vec<[u8; 32]> = (0..10).map(code_hash).collect();
    assert!(
        store
            .confirm_second_factor(org.id, ann.id, 1000, now(), &codes)
            .await
            .expect("confirm")
    );

    // Only a step later than the newest accepted one is accepted.
    assert!(!store.accept_step(org.id, ann.id, 1000).await.expect("same"));
    assert!(!store.accept_step(org.id, ann.id, 999).await.expect("older"));
    assert!(
        store
            .accept_step(org.id, ann.id, 1001)
            .await
            .expect("later")
    );
    assert!(
        !store
            .accept_step(org.id, ann.id, 1001)
            .await
            .expect("replay")
    );

    // Racing requests with one step: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.accept_step(org.id, ann.id, 1002).await })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.expect("join").expect("step"));
    }
    assert_eq!(won, 1, "one code, one sign-in");
    let f = store
        .get_second_factor(org.id, ann.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(f.last_step, Some(1002));

    // A recovery code is spent once; an unknown one never.
    assert!(
        store
            .spend_recovery_code(org.id, ann.id, &codes[0], now())
            .await
            .expect("spend")
    );
    assert!(
        !store
            .spend_recovery_code(org.id, ann.id, &codes[0], now())
            .await
            .expect("again")
    );
    assert!(
        !store
            .spend_recovery_code(org.id, ann.id, &code_hash(42), now())
            .await
            .expect("unknown")
    );
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        9
    );
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let hash = codes[1];
            tokio::spawn(async move {
                store
                    .spend_recovery_code(org.id, ann.id, &hash, now())
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.expect("join").expect("spend"));
    }
    assert_eq!(won, 1, "one recovery code, one sign-in");
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        8
    );
    let mut unused = codes[2..].to_vec();
    unused.sort();
    assert_eq!(
        store
            .recovery_code_hashes(org.id, ann.id)
            .await
            .expect("hashes"),
        unused,
        "only the unused ones"
    );

    // New codes replace every old one, used or not.
    let fresh: Vec<[u8; 32]> = (10..20).map(code_hash).collect();
    assert!(
        store
            .replace_recovery_codes(org.id, ann.id, &fresh)
            .await
            .expect("replace")
    );
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        10
    );
    assert!(
        !store
            .spend_recovery_code(org.id, ann.id, &codes[2], now())
            .await
            .expect("old")
    );
    assert!(
        store
            .spend_recovery_code(org.id, ann.id, &fresh[0], now())
            .await
            .expect("new")
    );
}

pub async fn second_factors_stay_in_their_organisation_and_go_with_their_admin(
    store: Arc<dyn Store>,
) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let ann = admin(org.id);
    let bob = admin(org.id);
    store.add_admin(&ann).await.expect("ann");
    store.add_admin(&bob).await.expect("bob");
    let codes: Vec<[u8; 32]> = (0..10).map(code_hash).collect();
    for who in [&ann, &bob] {
        store.put_second_factor(&factor(who, 1)).await.expect("put");
        assert!(
            store
                .confirm_second_factor(org.id, who.id, 1000, now(), &codes)
                .await
                .expect("confirm")
        );
    }

    // Another organisation's id reaches none of ann's rows.
    assert_eq!(
        store
            .get_second_factor(other.id, ann.id)
            .await
            .expect("get"),
        None
    );
    assert!(
        !store
            .accept_step(other.id, ann.id, 2000)
            .await
            .expect("step")
    );
    assert!(
        !store
            .spend_recovery_code(other.id, ann.id, &codes[0], now())
            .await
            .expect("spend")
    );
    assert_eq!(
        store
            .recovery_codes_left(other.id, ann.id)
            .await
            .expect("n"),
        0
    );
    assert!(
        store
            .recovery_code_hashes(other.id, ann.id)
            .await
            .expect("hashes")
            .is_empty()
    );
    assert!(
        !store
            .replace_recovery_codes(other.id, ann.id, &[code_hash(3)])
            .await
            .expect("replace")
    );
    assert!(
        !store
            .confirm_second_factor(other.id, ann.id, 2000, now(), &[])
            .await
            .expect("confirm")
    );
    assert!(
        !store
            .remove_second_factor(other.id, ann.id)
            .await
            .expect("rm")
    );
    let mut stranger = factor(&ann, 5);
    stranger.org_id = other.id;
    assert!(store.put_second_factor(&stranger).await.expect("put"));
    let f = store
        .get_second_factor(org.id, ann.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(f.secret, vec![1; 20], "ann's own factor is untouched");
    assert_eq!(f.last_step, Some(1000));
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        10
    );

    // The same code hash of two administrators is two codes.
    assert!(
        store
            .spend_recovery_code(org.id, ann.id, &codes[0], now())
            .await
            .expect("ann's")
    );
    assert_eq!(
        store.recovery_codes_left(org.id, bob.id).await.expect("n"),
        10
    );

    // The organisation's rule is its own.
    assert!(!store.second_factor_required(org.id).await.expect("rule"));
    assert!(
        store
            .set_second_factor_required(org.id, true)
            .await
            .expect("set")
    );
    assert!(store.second_factor_required(org.id).await.expect("rule"));
    assert!(!store.second_factor_required(other.id).await.expect("rule"));
    assert!(
        !store
            .set_second_factor_required(OrgId::new(), true)
            .await
            .expect("unknown org")
    );
    assert!(
        store
            .set_second_factor_required(org.id, false)
            .await
            .expect("set")
    );
    assert!(!store.second_factor_required(org.id).await.expect("rule"));

    // Removing an administrator removes their factor and codes, and nobody else's.
    assert!(store.remove_admin(org.id, ann.id).await.expect("remove"));
    assert_eq!(
        store.get_second_factor(org.id, ann.id).await.expect("get"),
        None
    );
    assert_eq!(
        store.recovery_codes_left(org.id, ann.id).await.expect("n"),
        0
    );
    assert!(
        store
            .get_second_factor(other.id, ann.id)
            .await
            .expect("get")
            .is_some(),
        "the other organisation's row of that id stays"
    );
    assert!(
        store
            .get_second_factor(org.id, bob.id)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store.recovery_codes_left(org.id, bob.id).await.expect("n"),
        10
    );
}
