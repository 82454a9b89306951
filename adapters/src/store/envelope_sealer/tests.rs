//! The envelope sealer on a real database: per-owner keys, holds, shredding, legacy texts and
//! re-wrapping.

use super::*;
use crate::store::integrations::test_db::TestDb;

fn keyring(entries: &[&str]) -> XChaChaSealer {
    XChaChaSealer::from_config(&entries.join(",")).unwrap()
}

fn secret(text: &str) -> SecretString {
    SecretString::new(text)
}

#[tokio::test]
async fn secrets_seal_under_their_owners_key_and_open_only_while_held() {
    let db = TestDb::new().await;
    let kek = XChaChaSealer::generate_entry("k1");
    let sealer = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    let hold = sealer.hold_for_sealing("int-1").await.unwrap();
    assert!(hold.is_live());
    let sealed = sealer.seal(&secret("hunter2"), "int-1/token").unwrap();
    assert!(sealed.as_str().starts_with("sb2:"), "{}", sealed.as_str());
    assert!(!sealed.as_str().contains("hunter2"));
    assert_eq!(
        sealer.open(&sealed, "int-1/token").unwrap().expose(),
        "hunter2"
    );
    // Bound to its context, and sealing needs the owner's hold.
    assert!(sealer.open(&sealed, "int-1/other").is_err());
    assert_eq!(
        sealer.seal(&secret("x"), "int-2/token").unwrap_err(),
        SealError::UnknownKey("int-2".into())
    );
    drop(hold);
    assert_eq!(
        sealer.open(&sealed, "int-1/token").unwrap_err(),
        SealError::UnknownKey("int-1".into())
    );

    // Another process (another sealer on the same table and keyring) opens it once it holds.
    let other = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    let _hold = other.hold_for_opening("int-1").await.unwrap();
    assert_eq!(
        other.open(&sealed, "int-1/token").unwrap().expose(),
        "hunter2"
    );
    // The keyring alone does not open it.
    assert!(keyring(&[&kek]).open(&sealed, "int-1/token").is_err());
    db.drop_database().await;
}

#[tokio::test]
async fn concurrent_first_holds_agree_on_one_key() {
    let db = TestDb::new().await;
    let kek = XChaChaSealer::generate_entry("k1");
    let a = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    let b = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    let (hold_a, hold_b) = tokio::join!(a.hold_for_sealing("int-1"), b.hold_for_sealing("int-1"));
    let (_hold_a, _hold_b) = (hold_a.unwrap(), hold_b.unwrap());
    let sealed = a.seal(&secret("s"), "int-1/token").unwrap();
    assert_eq!(b.open(&sealed, "int-1/token").unwrap().expose(), "s");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    db.drop_database().await;
}

#[tokio::test]
async fn a_destroyed_key_opens_nothing_again_and_is_never_replaced() {
    let db = TestDb::new().await;
    let kek = XChaChaSealer::generate_entry("k1");
    let sealer = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    let hold = sealer.hold_for_sealing("platform:messenger").await.unwrap();
    let sealed = sealer
        .seal(&secret("app-secret"), "platform:messenger/app_secret")
        .unwrap();
    let kept = sealer.hold_for_sealing("int-2").await.unwrap();
    let other = sealer.seal(&secret("two"), "int-2/token").unwrap();

    // Another process destroys it while this one holds it.
    let remote = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    remote.destroy("platform:messenger").await.unwrap();
    let wrapped: Option<String> =
        sqlx::query_scalar("SELECT wrapped_key FROM data_keys WHERE owner = $1")
            .bind("platform:messenger")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(wrapped, None);
    // The next hold reads the table and drops what this process still had.
    let again = sealer.hold_for_opening("platform:messenger").await.unwrap();
    assert!(!again.is_live());
    assert!(sealer
        .open(&sealed, "platform:messenger/app_secret")
        .is_err());
    drop((hold, again));
    // Never a new key: nothing seals for it any more.
    let after = sealer.hold_for_sealing("platform:messenger").await.unwrap();
    assert!(!after.is_live());
    assert!(sealer
        .seal(&secret("x"), "platform:messenger/app_secret")
        .is_err());
    // Other owners are untouched.
    assert_eq!(sealer.open(&other, "int-2/token").unwrap().expose(), "two");
    drop(kept);
    db.drop_database().await;
}

#[tokio::test]
async fn keyring_sealed_texts_from_before_data_keys_still_open() {
    let db = TestDb::new().await;
    let kek = XChaChaSealer::generate_entry("k1");
    let legacy = keyring(&[&kek])
        .seal(&secret("old"), "int-1/token")
        .unwrap();
    let sealer = EnvelopeSealer::new(db.pool.clone(), keyring(&[&kek]));
    // No hold needed, and opening makes no key.
    assert_eq!(sealer.open(&legacy, "int-1/token").unwrap().expose(), "old");
    let hold = sealer.hold_for_opening("int-1").await.unwrap();
    assert!(!hold.is_live());
    db.drop_database().await;
}

#[tokio::test]
async fn rewrapping_moves_keys_to_the_new_keyring_key_without_resealing() {
    let db = TestDb::new().await;
    let old = XChaChaSealer::generate_entry("old");
    let new = XChaChaSealer::generate_entry("new");
    let before = EnvelopeSealer::new(db.pool.clone(), keyring(&[&old]));
    let sealed = {
        let _hold = before.hold_for_sealing("int-1").await.unwrap();
        before.seal(&secret("kept"), "int-1/token").unwrap()
    };
    {
        let _hold = before.hold_for_sealing("int-gone").await.unwrap();
    }
    before.destroy("int-gone").await.unwrap();

    // Without the old keyring key the data key does not unwrap.
    let new_only = EnvelopeSealer::new(db.pool.clone(), keyring(&[&new]));
    assert!(matches!(
        new_only.hold_for_opening("int-1").await,
        Err(DataKeyError::Unwrap { .. })
    ));

    let rotated = EnvelopeSealer::new(db.pool.clone(), keyring(&[&new, &old]));
    let report = rotated.data_keys().rewrap().await.unwrap();
    assert_eq!(
        report,
        crate::store::data_keys::RewrapReport {
            rewrapped: 1,
            current: 0,
            destroyed: 1
        }
    );
    assert_eq!(
        rotated.data_keys().rewrap().await.unwrap().current,
        1,
        "a second run has nothing to do"
    );
    let _hold = new_only.hold_for_opening("int-1").await.unwrap();
    assert_eq!(
        new_only.open(&sealed, "int-1/token").unwrap().expose(),
        "kept"
    );
    db.drop_database().await;
}
