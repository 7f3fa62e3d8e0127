//! # store-tests
//!
//! One storage conformance suite, generic over [`directory::Store`], run on every backend:
//! `tests/sqlite.rs` and `tests/postgres.rs` each instantiate it with [`conformance!`].
//!
//! Every case creates its own organisation(s), so cases are independent of each other's order
//! and can share one database. The filter cases compare a store's `list_resources` with the
//! in-memory evaluator `scim_core::filter::matches` on random filters and resources (see
//! [`oracle`]): the evaluator is the specification, and every store must agree with it.

pub mod cases;
pub mod directory_cases;
pub mod oracle;
pub mod support;

/// Instantiates the suite as `#[tokio::test]` functions for one backend. `$make` is an async
/// function (or closure returning a future) that yields a fresh `Arc<dyn Store>`; it is called
/// once per test, inside that test's runtime.
///
/// The cases where the in-memory evaluator is stricter than some store has managed so far are
/// listed separately in [`conformance_strict!`], so a backend can mark them `#[ignore]` with a
/// reason while they are open.
#[macro_export]
macro_rules! conformance {
    ($make:path) => {
        $crate::conformance!(@cases $make;
            orgs_round_trip,
            org_rename_always_and_kind_change_only_without_accounts,
            org_time_zone_defaults_to_utc_and_is_set_per_org,
            reveals_are_taken_once_by_their_admin_before_expiry,
            tokens_round_trip_and_touch,
            resource_create_get_update_delete,
            document_reads_back_in_written_key_order,
            user_name_is_unique_case_insensitively,
            updates_keep_name_and_external_id_lookups_current,
            concurrent_creates_of_one_user_name_admit_exactly_one,
            bulk_creates_take_each_user_once_in_order_and_refuse_taken_names,
            stale_or_missing_versions_are_refused,
            members_add_remove_replace_and_remove_matching,
            concurrent_member_adds_lose_nothing,
            member_deleted_while_being_added_never_dangles,
            unknown_and_cross_org_members_are_refused,
            refused_member_change_leaves_group_unchanged,
            user_groups_lists_direct_groups,
            delete_removes_memberships_and_bumps_groups,
            list_counts_and_pages_by_index_in_stable_order,
            cursor_paging_visits_every_row_once,
            cursor_paging_by_user_name_descending_visits_every_row_once,
            cursor_paging_with_missing_sort_keys_ascending,
            invalid_cursor_is_refused,
            sort_by_multi_valued_attribute_uses_primary_value,
            list_loads_relations_when_asked,
            org_isolation_for_every_method,
            filters_agree_with_evaluator_on_common_user_attributes,
            filters_agree_with_evaluator_on_common_group_attributes,
            token_revoke_marks_once_and_only_in_its_org,
            connection_state_round_trips_per_org,
            admins_are_unique_by_email_case_insensitively_per_org,
            activity_appends_lists_since_and_purges,
            activity_lists_in_time_order_across_batches,
            notices_are_enqueued_once_per_key,
            notice_claims_are_exclusive_leased_and_final_once_sent,
            admins_are_found_by_address_across_organisations,
            password_links_are_used_once_by_purpose_and_only_in_their_org,
            signin_failures_count_within_a_window_per_address_across_orgs,
            admins_are_removed_and_reset_with_their_sessions_only_in_their_org,
            user_writes_append_one_event_each_with_the_whole_user,
            member_changes_append_member_events_only,
            refused_writes_append_no_event,
            events_are_numbered_per_organisation_and_never_cross,
            connection_and_token_notices_append_their_events,
            disconnect_reports_every_released_user_and_group,
            event_pages_filter_by_type_and_purge_keeps_the_numbering,
            directory_reads_page_objects_and_members,
            concurrent_writers_events_follow_in_order,
            apps_round_trip_and_are_found_by_key_hash,
            app_names_are_unique_among_live_apps_and_revoked_once,
            apps_stay_in_their_organisation,
            webhooks_round_trip_and_are_removed_with_their_log,
            webhook_claims_are_exclusive_between_owners,
            webhook_leases_expire_and_reports_need_the_lease,
            second_factors_are_confirmed_once_and_never_replaced_after,
            time_steps_and_recovery_codes_are_used_once_even_when_racing,
            second_factors_stay_in_their_organisation_and_go_with_their_admin,
        );
    };
    (@cases $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make().await;
                $crate::cases::$name(store).await;
            }
        )*
    };
}

/// The cases on which a store must agree with the evaluator in every detail: `schemas`,
/// instants finer than a microsecond, member ids in any case, `meta` presence, and rows without
/// a sort key when paging backwards. Instantiate with `conformance_strict!(make)` or, to mark
/// them as known gaps of a backend, `conformance_strict!(make, ignore = "reason")`.
#[macro_export]
macro_rules! conformance_strict {
    ($make:path) => {
        $crate::conformance_strict!(@each $make, [];
            cursor_paging_with_missing_sort_keys_descending,
            filters_agree_with_evaluator_on_every_user_attribute,
            filters_agree_with_evaluator_on_every_group_attribute,
        );
    };
    ($make:path, ignore = $why:literal) => {
        $crate::conformance_strict!(@each $make, [#[ignore = $why]];
            cursor_paging_with_missing_sort_keys_descending,
            filters_agree_with_evaluator_on_every_user_attribute,
            filters_agree_with_evaluator_on_every_group_attribute,
        );
    };
    (@each $make:path, [$($attr:tt)*];) => {};
    (@each $make:path, [$($attr:tt)*]; $name:ident, $($rest:ident,)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $name() {
            let store = $make().await;
            $crate::cases::$name(store).await;
        }
        $crate::conformance_strict!(@each $make, [$($attr)*]; $($rest,)*);
    };
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The names of the cases a folder's files define: `pub async fn NAME(store: ...)`.
    fn cases_in(dir: &Path) -> Vec<String> {
        let mut names = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("the cases folder")
            .map(|e| e.expect("an entry").path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a case file");
            let mut lines = text.lines().peekable();
            while let Some(line) = lines.next() {
                let Some((name, args)) = line
                    .strip_prefix("pub async fn ")
                    .and_then(|rest| rest.split_once('('))
                else {
                    continue;
                };
                // The store is the first argument, on this line or (formatted) the next.
                let args = if args.is_empty() {
                    lines.peek().map_or("", |l| l.trim_start())
                } else {
                    args
                };
                if args.starts_with("store:") {
                    names.push(name.to_owned());
                }
            }
        }
        names
    }

    /// Whether `list` (a macro's text) names `case` as one of its entries.
    fn listed(list: &str, case: &str) -> bool {
        list.lines().any(|l| l.trim().trim_end_matches(',') == case)
    }

    /// The backends' own test files, where cases that need two handles on one database or a
    /// database of their own are called by hand.
    fn backend_files() -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        ["sqlite.rs", "postgres.rs"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).expect("a backend's test file"))
            .collect()
    }

    #[test]
    fn every_case_written_is_run_by_a_backend() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let by_hand = backend_files();
        let lib = std::fs::read_to_string(root.join("lib.rs")).expect("lib.rs");
        let directory = std::fs::read_to_string(root.join("directory_cases/mod.rs"))
            .expect("directory_cases/mod.rs");
        let conformance = cases_in(&root.join("cases"));
        let service = cases_in(&root.join("directory_cases"));
        assert!(
            conformance.len() > 30 && service.len() > 10,
            "the scan found the cases: {conformance:?} {service:?}"
        );
        let called = |c: &String| by_hand.contains(&format!("::{c}("));
        let unlisted: Vec<&String> = conformance
            .iter()
            .filter(|c| !listed(&lib, c) && !called(c))
            .chain(
                service
                    .iter()
                    .filter(|c| !listed(&directory, c) && !called(c)),
            )
            .collect();
        assert!(
            unlisted.is_empty(),
            "cases written but run by no backend (list them in their macro): {unlisted:?}"
        );
    }
}
