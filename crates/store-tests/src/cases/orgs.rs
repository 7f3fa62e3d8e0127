//! Organisations and their connection state.

use super::*;

pub async fn orgs_round_trip(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    assert_eq!(store.get_org(org.id).await.expect("get"), Some(org.clone()));
    assert!(store.list_orgs().await.expect("list").contains(&org));
    assert_eq!(
        store.get_org(directory::OrgId::new()).await.expect("get"),
        None
    );
}

pub async fn connection_state_round_trips_per_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    assert_eq!(store.get_connection(org.id).await.expect("get"), None);
    for state in [
        ConnectionState::Pending,
        ConnectionState::Active,
        ConnectionState::Disconnected,
        ConnectionState::NotConnected,
    ] {
        let c = Connection {
            state,
            changed: now(),
        };
        store.set_connection(org.id, &c).await.expect("set");
        assert_eq!(store.get_connection(org.id).await.expect("get"), Some(c));
    }
    assert_eq!(store.get_connection(other.id).await.expect("get"), None);
}
