//! The storage check's rule (high from 80% of the limit), its JSON and the overall status it
//! makes.

use super::*;

const LIMIT: u64 = 1_000;

fn check(bytes_used: Option<u64>) -> StorageCheck {
    StorageCheck::new(Ok(LIMIT), bytes_used)
}

#[test]
fn high_from_80_percent() {
    assert_eq!(check(Some(800)).state, StorageState::High);
    assert_eq!(check(Some(790)).state, StorageState::Ok, "79%");
    assert_eq!(check(Some(799)).state, StorageState::Ok, "79.9%");
    assert_eq!(check(Some(u64::MAX)).state, StorageState::High);
}

#[test]
fn without_a_size_nothing_is_known() {
    assert_eq!(check(None).state, StorageState::Unknown);
    assert_eq!(overall_status(true, &check(None)), "ok");
    assert_eq!(overall_status(false, &check(None)), "misconfigured");
}

#[test]
fn no_limit_is_no_check_and_a_bad_limit_is_misconfigured() {
    assert_eq!(StorageCheck::new(Ok(0), None).state, StorageState::Disabled);
    assert_eq!(
        StorageCheck::new(Ok(0), Some(u64::MAX)).state,
        StorageState::Disabled
    );
    assert!(!needs_size(&Ok(0)));
    assert!(needs_size(&Ok(LIMIT)));
    let config = crate::settings::Config::new(
        |name: &str| (name == "STORAGE_LIMIT_BYTES").then(|| "lots".to_string()),
        0,
    );
    assert!(!config.health_needs_size());
    let detail = config.health_detail(Some(u64::MAX));
    assert_eq!(
        detail["status"], "misconfigured",
        "the alerts check lists it"
    );
    assert_eq!(detail["storage"]["state"], "misconfigured");
    let bad = config.storage_limit_bytes();
    assert!(!needs_size(&bad));
    assert_eq!(
        StorageCheck::new(bad, Some(u64::MAX)).state,
        StorageState::Misconfigured
    );
}

#[test]
fn the_detail_carries_the_figures() {
    assert_eq!(
        check(Some(812)).to_json(),
        json!({ "state": "high", "bytes_used": 812, "limit_bytes": 1_000, "percent": 81,
                "alert_at_percent": 80 })
    );
    assert_eq!(
        check(None).to_json(),
        json!({ "state": "unknown", "bytes_used": null, "limit_bytes": 1_000, "percent": null,
                "alert_at_percent": 80 })
    );
}

#[test]
fn high_storage_degrades_a_working_install_and_misconfiguration_wins() {
    let high = check(Some(900));
    let fine = check(Some(100));
    assert_eq!(overall_status(true, &fine), "ok");
    assert_eq!(overall_status(true, &high), "degraded");
    assert_eq!(overall_status(false, &high), "misconfigured");
    assert_eq!(overall_status(false, &fine), "misconfigured");
}
