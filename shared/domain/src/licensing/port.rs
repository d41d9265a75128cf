//! The storage port of licensing.

use async_trait::async_trait;

use super::{
    ActivationNonce, Discount, HolderProfile, License, LicensePosition, LicenseQuery, LoginToken,
    Product,
};
use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::ids::{LicenseId, ProductId};
use crate::paging::Page;
use crate::store::StoreError;

/// Products, licenses and what hangs off them. Every call is scoped to an
/// account except the two lookups a license key or login token alone must
/// answer.
#[async_trait]
pub trait LicenseStore: Send + Sync {
    /// Creates a product and claims its SKU in the account, as one step.
    /// `AlreadyExists` when the id or the SKU is taken.
    async fn create_product(&self, product: &Product) -> Result<(), StoreError>;

    async fn get_product(
        &self,
        account: &AccountId,
        id: &ProductId,
    ) -> Result<Option<Product>, StoreError>;

    async fn find_product_by_sku(
        &self,
        account: &AccountId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError>;

    /// The account's products in id order, after `after`.
    async fn list_products(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, StoreError>;

    /// Writes the editable fields (name, description, latest version,
    /// updated time) and nothing else, so a racing license count survives.
    /// `NotFound` when the product is gone or retired.
    async fn update_product(&self, product: &Product) -> Result<(), StoreError>;

    /// Marks the product retired: from then on no license can be created
    /// on it. `NotFound` when it does not exist.
    async fn retire_product(&self, account: &AccountId, id: &ProductId) -> Result<(), StoreError>;

    /// Deletes the product and frees its SKU on condition that no license
    /// references it: `Conflict` when one does, `NotFound` when it is gone.
    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> Result<(), StoreError>;

    /// Stores the license, claims its key and counts it on its product, as
    /// one step. `NotFound` when the product is missing or retired,
    /// `AlreadyExists` when the id (or the key) is taken.
    async fn create_license(&self, license: &License) -> Result<(), StoreError>;

    async fn get_license(
        &self,
        account: &AccountId,
        id: &LicenseId,
    ) -> Result<Option<License>, StoreError>;

    /// The license a key belongs to, in any account.
    async fn find_license_by_key(&self, key: &str) -> Result<Option<License>, StoreError>;

    /// Licenses matching the query in (name, id) order, after its position.
    async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, StoreError>;

    /// How many licenses match the query's filters, ignoring its paging.
    async fn count_licenses(&self, query: &LicenseQuery) -> Result<u64, StoreError>;

    /// Deletes the license, frees its key and uncounts it on its product,
    /// as one step. `NotFound` when it is gone.
    async fn delete_license(
        &self,
        account: &AccountId,
        id: &LicenseId,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Stores `license.deployment` and `license.holder` on condition that
    /// the license has no deployment yet: `Conflict` when it has one,
    /// `NotFound` when it is gone.
    async fn record_deployment(&self, license: &License) -> Result<(), StoreError>;

    async fn put_holder_profile(
        &self,
        account: &AccountId,
        holder: &str,
        profile: &HolderProfile,
    ) -> Result<(), StoreError>;

    async fn get_holder_profile(
        &self,
        account: &AccountId,
        holder: &str,
    ) -> Result<Option<HolderProfile>, StoreError>;

    /// `AlreadyExists` when the code is taken, in any account.
    async fn create_discount(&self, discount: &Discount) -> Result<(), StoreError>;

    async fn get_discount(&self, code: &str) -> Result<Option<Discount>, StoreError>;

    async fn create_nonce(&self, nonce: &ActivationNonce) -> Result<(), StoreError>;

    async fn get_nonce(
        &self,
        account: &AccountId,
        nonce: &str,
    ) -> Result<Option<ActivationNonce>, StoreError>;

    /// Deletes the nonce on condition that it exists and has not expired by
    /// `now`; `NotFound` otherwise. Exactly one of racing spends succeeds.
    async fn spend_nonce(
        &self,
        account: &AccountId,
        nonce: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    async fn create_login_token(&self, token: &LoginToken) -> Result<(), StoreError>;

    /// Deletes and returns the token on condition that it belongs to
    /// `account` and has not expired by `now`; `NotFound` otherwise.
    /// Exactly one of racing redemptions succeeds.
    async fn redeem_login_token(
        &self,
        account: &AccountId,
        hash: &str,
        now: Timestamp,
    ) -> Result<LoginToken, StoreError>;
}
