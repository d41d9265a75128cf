//! The storage conformance suite's licensing half: API keys, products,
//! licenses, deployments, holder profiles, discounts, nonces and login
//! tokens, against both adapters with the same expectations.

use std::sync::Arc;

use api_tests::on_both_stores;
use domain::clients::api_keys::ApiKey;
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::events::EventType;
use domain::ids::{LicenseId, ProductId};
use domain::licensing::*;
use domain::LicenseStore;
use domain::StoreError;
use storage::Stores;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn product(account_name: &str, sku: &str) -> Product {
    Product {
        account: account(account_name),
        id: ProductId::generate(),
        sku: sku.to_owned(),
        name: format!("Product {sku}"),
        description: Some("desc".into()),
        latest_version: None,
        license_count: 0,
        retired: false,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn license(product: &Product, name: &str, holder: Option<&str>) -> License {
    License {
        account: product.account.clone(),
        id: LicenseId::generate(),
        product_id: product.id.clone(),
        holder: holder.map(str::to_owned),
        key: new_uuid(),
        name: name.to_owned(),
        order_id: None,
        valid_from: NOW,
        valid_until: None,
        status: LicenseStatus::Active,
        listing: Listing::default(),
        deployment: None,
        created_at: NOW,
    }
}

async fn count_of(stores: &Stores, product: &Product) -> u64 {
    stores
        .licenses()
        .get_product(&product.account, &product.id)
        .await
        .unwrap()
        .unwrap()
        .license_count
}

async fn api_keys_are_found_by_hash_listed_and_revoked(stores: &Stores) {
    let a = account("ck_keys_a");
    let first = ApiKey::issue(&a, "ci", NOW).record;
    let mut second = ApiKey::issue(&a, "ops", NOW.plus_secs(1)).record;
    let other = ApiKey::issue(&account("ck_keys_b"), "b", NOW).record;
    for key in [&first, &second, &other] {
        stores.api_keys().create_api_key(key).await.unwrap();
    }
    assert_eq!(
        stores.api_keys().create_api_key(&first).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        stores.api_keys().find_api_key(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    let listed = stores.api_keys().list_api_keys(&a).await.unwrap();
    assert_eq!(listed, vec![first.clone(), second.clone()]);
    assert_eq!(
        stores.api_keys().revoke_api_key(&a, &other.id).await,
        Err(StoreError::NotFound),
        "another account's key id"
    );
    stores
        .api_keys()
        .revoke_api_key(&a, &first.id)
        .await
        .unwrap();
    assert_eq!(
        stores.api_keys().find_api_key(&first.hash).await.unwrap(),
        None
    );
    assert_eq!(
        stores.api_keys().revoke_api_key(&a, &first.id).await,
        Err(StoreError::NotFound)
    );
    second.label = "still there".into();
    assert!(stores
        .api_keys()
        .find_api_key(&second.hash)
        .await
        .unwrap()
        .is_some());
}

async fn products_claim_their_sku_and_are_paged_updated_and_deleted(stores: &Stores) {
    let store = &stores.licenses();
    let mut products: Vec<Product> = (0..5)
        .map(|i| product("ck_products", &format!("sku-{i}")))
        .collect();
    for p in &products {
        store.create_product(p).await.unwrap();
    }
    assert_eq!(
        store.create_product(&products[0]).await,
        Err(StoreError::AlreadyExists)
    );
    let same_sku = product("ck_products", "sku-1");
    assert_eq!(
        store.create_product(&same_sku).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.get_product(&same_sku.account, &same_sku.id).await,
        Ok(None)
    );
    // Another account may use the same SKU.
    store
        .create_product(&product("ck_products_b", "sku-1"))
        .await
        .unwrap();
    let found = store
        .find_product_by_sku(&account("ck_products"), "sku-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, products[1]);

    products.sort_by(|a, b| a.id.cmp(&b.id));
    let mut seen = Vec::new();
    let mut after: Option<ProductId> = None;
    loop {
        let page = store
            .list_products(&account("ck_products"), 2, after.as_ref())
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|p| p.id.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let ids: Vec<ProductId> = products.iter().map(|p| p.id.clone()).collect();
    assert_eq!(seen, ids);

    // An update writes the editable fields and keeps the license count.
    let target = products[0].clone();
    store
        .create_license(&license(&target, "L", Some("u1")))
        .await
        .unwrap();
    let mut changed = target.clone();
    changed.name = "Renamed".into();
    changed.description = None;
    changed.latest_version = Some("2.0".into());
    changed.license_count = 0;
    changed.updated_at = NOW.plus_secs(5);
    store.update_product(&changed).await.unwrap();
    let stored = store
        .get_product(&target.account, &target.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Renamed");
    assert_eq!(stored.description, None);
    assert_eq!(stored.latest_version.as_deref(), Some("2.0"));
    assert_eq!(stored.license_count, 1);
    assert_eq!(stored.updated_at, NOW.plus_secs(5));

    assert_eq!(
        store.delete_product(&target.account, &target.id).await,
        Err(StoreError::Conflict)
    );
    store
        .retire_product(&target.account, &target.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .create_license(&license(&target, "M", Some("u2")))
            .await,
        Err(StoreError::NotFound),
        "a retired product takes no new licenses"
    );
    assert_eq!(
        store.update_product(&changed).await,
        Err(StoreError::NotFound)
    );
    let page = store
        .list_licenses(&{
            let mut q = LicenseQuery::all(&target.account, NOW, 10);
            q.product_id = Some(target.id.clone());
            q
        })
        .await
        .unwrap();
    store
        .delete_license(&target.account, &page.items[0].id, NOW)
        .await
        .unwrap();
    store
        .delete_product(&target.account, &target.id)
        .await
        .unwrap();
    assert_eq!(
        store.delete_product(&target.account, &target.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.retire_product(&target.account, &target.id).await,
        Err(StoreError::NotFound)
    );
    // The SKU is free again.
    let mut again = product("ck_products", &target.sku);
    again.id = ProductId::generate();
    store.create_product(&again).await.unwrap();
}

async fn licenses_are_counted_keyed_and_deleted_as_one_step(stores: &Stores) {
    let store = &stores.licenses();
    let p = product("ck_lic", "app");
    store.create_product(&p).await.unwrap();
    let first = license(&p, "First", Some("K1"));
    store.create_license(&first).await.unwrap();
    assert_eq!(
        store.create_license(&first).await,
        Err(StoreError::AlreadyExists)
    );
    let mut same_key = license(&p, "Other", None);
    same_key.key = first.key.clone();
    assert_eq!(
        store.create_license(&same_key).await,
        Err(StoreError::AlreadyExists)
    );
    let orphan = license(&product("ck_lic", "missing"), "X", None);
    assert_eq!(
        store.create_license(&orphan).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        count_of(stores, &p).await,
        1,
        "failed creates count nothing"
    );
    assert_eq!(
        store.get_license(&p.account, &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_license(&account("ck_other"), &first.id).await,
        Ok(None)
    );
    assert_eq!(
        store.find_license_by_key(&first.key).await.unwrap(),
        Some(first.clone())
    );
    store
        .delete_license(&p.account, &first.id, NOW)
        .await
        .unwrap();
    assert_eq!(store.find_license_by_key(&first.key).await, Ok(None));
    assert_eq!(
        store.delete_license(&p.account, &first.id, NOW).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(count_of(stores, &p).await, 0);
    // One event for each change that committed, none for the refused ones.
    assert_eq!(
        crate::webhooks::events_about(stores, &first.id.to_string()).await,
        [EventType::LicenseCreated, EventType::LicenseDeleted]
    );
    for refused in [&same_key, &orphan] {
        assert_eq!(
            crate::webhooks::events_about(stores, &refused.id.to_string()).await,
            []
        );
    }

    // Racing creates on one product: every one is counted.
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            let l = license(&p, &format!("R{i:02}"), None);
            tokio::spawn(async move { store.create_license(&l).await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    assert_eq!(count_of(stores, &p).await, 12);
}

async fn all_licenses(store: &Arc<dyn LicenseStore>, mut query: LicenseQuery) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        let page = store.list_licenses(&query).await.unwrap();
        names.extend(page.items.iter().map(|l| l.name.clone()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return names,
        }
    }
}

async fn licenses_are_filtered_sorted_by_name_and_paged(stores: &Stores) {
    let store = &stores.licenses();
    let a = product("ck_list", "a");
    let b = product("ck_list", "b");
    store.create_product(&a).await.unwrap();
    store.create_product(&b).await.unwrap();
    let hour = 3600;
    let mut made = Vec::new();
    for (i, name) in ["delta", "Alpha", "charlie", "bravo", "alpha", "echo"]
        .iter()
        .enumerate()
    {
        let on = if i % 2 == 0 { &a } else { &b };
        let holder = if i < 3 { Some("u1") } else { Some("u2") };
        let mut l = license(on, name, holder);
        match i {
            1 => l.valid_until = Some(NOW.plus_secs(-hour)), // expired
            2 => l.valid_from = NOW.plus_secs(hour),         // pending
            3 => l.status = LicenseStatus::Inactive,         // suspended
            4 => l.valid_until = Some(NOW.plus_secs(10 * hour)),
            _ => {}
        }
        l.valid_from = if i == 1 {
            NOW.plus_secs(-2 * hour)
        } else {
            l.valid_from
        };
        store.create_license(&l).await.unwrap();
        made.push(l);
    }
    // Another account's license never shows.
    let foreign = product("ck_list_b", "a");
    store.create_product(&foreign).await.unwrap();
    store
        .create_license(&license(&foreign, "aaa", Some("u1")))
        .await
        .unwrap();

    let base = LicenseQuery::all(&a.account, NOW, 2);
    assert_eq!(
        all_licenses(store, base.clone()).await,
        ["Alpha", "alpha", "bravo", "charlie", "delta", "echo"],
        "byte order of names, paged by 2"
    );
    let mut by_product = base.clone();
    by_product.product_id = Some(a.id.clone());
    assert_eq!(
        all_licenses(store, by_product.clone()).await,
        ["alpha", "charlie", "delta"]
    );
    let mut by_holder = base.clone();
    by_holder.holder = Some("u2".into());
    assert_eq!(
        all_licenses(store, by_holder).await,
        ["alpha", "bravo", "echo"]
    );
    let mut both = by_product.clone();
    both.holder = Some("u1".into());
    assert_eq!(all_licenses(store, both).await, ["charlie", "delta"]);
    for (state, expected) in [
        (LicenseState::Active, vec!["alpha", "delta", "echo"]),
        (LicenseState::Expired, vec!["Alpha"]),
        (LicenseState::Pending, vec!["charlie"]),
        (LicenseState::Suspended, vec!["bravo"]),
    ] {
        let mut q = base.clone();
        q.state = Some(state);
        assert_eq!(all_licenses(store, q.clone()).await, expected, "{state:?}");
        assert_eq!(
            store.count_licenses(&q).await.unwrap(),
            expected.len() as u64
        );
    }
    let mut window = base.clone();
    window.window_from = Some(NOW.plus_secs(20 * hour));
    assert_eq!(
        all_licenses(store, window.clone()).await,
        ["bravo", "charlie", "delta", "echo"],
        "windows still open in 20 hours"
    );
    window.window_from = None;
    window.window_to = Some(NOW.plus_secs(-90 * 60));
    assert_eq!(all_licenses(store, window).await, ["Alpha"]);
    let mut one = base.clone();
    one.id = Some(made[2].id.clone());
    assert_eq!(all_licenses(store, one.clone()).await, ["charlie"]);
    assert_eq!(store.count_licenses(&one).await.unwrap(), 1);
    one.product_id = Some(b.id.clone());
    assert_eq!(store.count_licenses(&one).await.unwrap(), 0);
    assert_eq!(store.count_licenses(&base).await.unwrap(), 6);
    // Resuming after a position that no longer exists still works.
    let mut after = base.clone();
    after.after = Some(LicensePosition {
        name: "b".into(),
        id: LicenseId::generate(),
    });
    assert_eq!(
        all_licenses(store, after).await,
        ["bravo", "charlie", "delta", "echo"]
    );
}

async fn a_license_is_deployed_once(stores: &Stores) {
    let store = &stores.licenses();
    let p = product("ck_deploy", "app");
    store.create_product(&p).await.unwrap();
    let l = license(&p, "Unowned", None);
    store.create_license(&l).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut deployed = l.clone();
            deployed.holder = Some(format!("0x{i:040x}"));
            deployed.deployment = Some(Deployment {
                blockchain: "ETHEREUM".into(),
                address: format!("0x{i:040}"),
                token_id: "1".into(),
                kind: "PLATFORM_CERTIFICATE".into(),
                certificate: "a.b.c".into(),
                deployed_at: NOW,
            });
            tokio::spawn(async move { store.record_deployment(&deployed).await })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(wins, 1);
    let stored = store.get_license(&p.account, &l.id).await.unwrap().unwrap();
    let holder = stored.holder.clone().unwrap();
    assert_eq!(
        stored.deployment.as_ref().unwrap().address,
        format!("0x{:040}", u64::from_str_radix(&holder[2..], 16).unwrap())
    );
    let mut by_holder = LicenseQuery::all(&p.account, NOW, 10);
    by_holder.holder = Some(holder);
    assert_eq!(all_licenses(store, by_holder).await, ["Unowned"]);
    let mut gone = l.clone();
    gone.id = LicenseId::generate();
    assert_eq!(
        store.record_deployment(&gone).await,
        Err(StoreError::NotFound)
    );
}

async fn nonces_and_login_tokens_are_spent_once(stores: &Stores) {
    let store = &stores.licenses();
    let a = account("ck_nonce");
    let nonce = ActivationNonce {
        account: a.clone(),
        nonce: "0123456789abcdef0123456789abcdef".into(),
        address: "0x96dc73c8b5969608c77375f085949744b5177660".into(),
        created_at: NOW,
        expires_at: NOW.plus_secs(300),
    };
    store.create_nonce(&nonce).await.unwrap();
    assert_eq!(
        store.create_nonce(&nonce).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.get_nonce(&a, &nonce.nonce).await.unwrap(),
        Some(nonce.clone())
    );
    assert_eq!(
        store
            .get_nonce(&account("ck_elsewhere"), &nonce.nonce)
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .spend_nonce(&a, &nonce.nonce, NOW.plus_secs(300))
            .await,
        Err(StoreError::NotFound),
        "expired"
    );
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let (a, n) = (a.clone(), nonce.nonce.clone());
            tokio::spawn(async move { store.spend_nonce(&a, &n, NOW).await })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::NotFound) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.get_nonce(&a, &nonce.nonce).await, Ok(None));

    let token = LoginToken {
        hash: "ab".repeat(32),
        account: a.clone(),
        holder: "K1".into(),
        license_id: LicenseId::generate(),
        created_at: NOW,
        expires_at: NOW.plus_secs(600),
    };
    store.create_login_token(&token).await.unwrap();
    assert_eq!(
        store
            .redeem_login_token(&account("ck_elsewhere"), &token.hash, NOW)
            .await,
        Err(StoreError::NotFound),
        "another account cannot redeem it"
    );
    assert_eq!(
        store
            .redeem_login_token(&a, &token.hash, NOW.plus_secs(600))
            .await,
        Err(StoreError::NotFound),
        "expired"
    );
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let (a, h) = (a.clone(), token.hash.clone());
            tokio::spawn(async move { store.redeem_login_token(&a, &h, NOW).await })
        })
        .collect();
    let mut redeemed = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            Ok(t) => redeemed.push(t),
            Err(StoreError::NotFound) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(redeemed, vec![token]);
}

async fn profiles_and_discounts_are_stored(stores: &Stores) {
    let store = &stores.licenses();
    let a = account("ck_profiles");
    assert_eq!(store.get_holder_profile(&a, "K1").await, Ok(None));
    let mut profile = HolderProfile {
        first_name: Some("Erika".into()),
        last_name: Some("Mustermann".into()),
        email: Some("erika@example.com".into()),
        is_email_verified: true,
        country_code3_letter: Some("DEU".into()),
    };
    store.put_holder_profile(&a, "K1", &profile).await.unwrap();
    profile.is_email_verified = false;
    store.put_holder_profile(&a, "K1", &profile).await.unwrap();
    assert_eq!(
        store.get_holder_profile(&a, "K1").await.unwrap(),
        Some(profile)
    );
    assert_eq!(
        store
            .get_holder_profile(&account("ck_elsewhere"), "K1")
            .await,
        Ok(None)
    );
    let discount = Discount {
        account: a.clone(),
        code: "PFNHX-BDFZ8-L8PEX".into(),
        product_id: ProductId::generate(),
        value: DiscountValue::Amount {
            amount: 500,
            currency: "EUR".into(),
        },
        valid_from: NOW,
        valid_until: Some(NOW.plus_secs(86_400)),
        usage_limit: Some(10),
        created_at: NOW,
    };
    store.create_discount(&discount).await.unwrap();
    let mut clash = discount.clone();
    clash.account = account("ck_elsewhere");
    assert_eq!(
        store.create_discount(&clash).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.get_discount(&discount.code).await.unwrap(),
        Some(discount)
    );
}

on_both_stores!(
    api_keys_are_found_by_hash_listed_and_revoked,
    products_claim_their_sku_and_are_paged_updated_and_deleted,
    licenses_are_counted_keyed_and_deleted_as_one_step,
    licenses_are_filtered_sorted_by_name_and_paged,
    a_license_is_deployed_once,
    nonces_and_login_tokens_are_spent_once,
    profiles_and_discounts_are_stored,
);
