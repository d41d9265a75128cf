//! The licensing rules behind all three APIs.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::commands::*;
use super::deploy::{license_id_of_contract, LicenseDeployer, BLOCKCHAINS};
use super::model::*;
use super::port::LicenseStore;
use super::signatures::Signer;
use super::LicenseError;
use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::hex;
use crate::paging::Page;
use crate::random::random_hex;
use crate::store::StoreError;

mod subscription;
mod vendor;

/// The documented limits of the licensing APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicensingConfig {
    /// How long an activation nonce is accepted.
    pub nonce_ttl_secs: i64,
    /// How long a one-time login token may wait to be redeemed.
    pub login_token_ttl_secs: i64,
    /// How many licenses one `GetProductLicenses` answer holds at most.
    pub product_licenses_page: usize,
}

impl Default for LicensingConfig {
    fn default() -> Self {
        LicensingConfig {
            nonce_ttl_secs: 300,
            login_token_ttl_secs: 600,
            product_licenses_page: 500,
        }
    }
}

/// How many rounds a forced product delete takes before giving up on
/// licenses that keep appearing (each round deletes up to a page of them).
const FORCED_DELETE_ROUNDS: usize = 1000;
/// Attempts at a fresh random discount code before reporting a conflict.
const DISCOUNT_CODE_ATTEMPTS: usize = 5;
/// Uppercase letters and digits without 0/O and 1/I, which read alike.
const DISCOUNT_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub struct LicenseService {
    store: Arc<dyn LicenseStore>,
    deployer: Arc<dyn LicenseDeployer>,
    clock: Arc<dyn Clock>,
    config: LicensingConfig,
}

impl LicenseService {
    pub fn new(
        store: Arc<dyn LicenseStore>,
        deployer: Arc<dyn LicenseDeployer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::with_config(store, deployer, clock, LicensingConfig::default())
    }

    pub fn with_config(
        store: Arc<dyn LicenseStore>,
        deployer: Arc<dyn LicenseDeployer>,
        clock: Arc<dyn Clock>,
        config: LicensingConfig,
    ) -> Self {
        LicenseService {
            store,
            deployer,
            clock,
            config,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    // ---- products ----

    pub async fn create_product(
        &self,
        account: &AccountId,
        new: NewProduct,
    ) -> Result<Product, LicenseError> {
        let now = self.now();
        let product = Product {
            account: account.clone(),
            id: new.id.unwrap_or_else(ProductId::generate),
            sku: new.sku.unwrap_or_else(generate_sku),
            name: new.name,
            description: new.description,
            latest_version: new.latest_version,
            license_count: 0,
            retired: false,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_product(&product).await {
            Ok(()) => Ok(product),
            Err(StoreError::AlreadyExists) => Err(LicenseError::ProductExists),
            Err(e) => Err(e.into()),
        }
    }

    /// A product of the account, unless it is being deleted.
    pub async fn product(
        &self,
        account: &AccountId,
        id: &ProductId,
    ) -> Result<Product, LicenseError> {
        self.store
            .get_product(account, id)
            .await?
            .filter(|p| !p.retired)
            .ok_or(LicenseError::ProductNotFound)
    }

    pub async fn product_by_ref(
        &self,
        account: &AccountId,
        product: &ProductRef,
    ) -> Result<Product, LicenseError> {
        match product {
            ProductRef::Id(id) => self.product(account, id).await,
            ProductRef::Sku(sku) => self
                .store
                .find_product_by_sku(account, sku)
                .await?
                .filter(|p| !p.retired)
                .ok_or(LicenseError::ProductNotFound),
        }
    }

    pub async fn list_products(
        &self,
        account: &AccountId,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page<Product, ProductId>, LicenseError> {
        let limit = crate::paging::page_limit("limit", limit)?;
        let after = cursor
            .map(|c| {
                ProductId::parse(c).ok_or_else(|| {
                    LicenseError::invalid("cursor", "is not a cursor this API handed out")
                })
            })
            .transpose()?;
        Ok(self
            .store
            .list_products(account, limit, after.as_ref())
            .await?)
    }

    pub async fn update_product(
        &self,
        account: &AccountId,
        id: &ProductId,
        changes: ProductChanges,
    ) -> Result<Product, LicenseError> {
        let mut product = self.product(account, id).await?;
        if let Some(name) = changes.name {
            product.name = name;
        }
        if let Some(description) = changes.description {
            product.description = description;
        }
        if let Some(version) = changes.latest_version {
            product.latest_version = version;
        }
        product.updated_at = self.now();
        match self.store.update_product(&product).await {
            Ok(()) => self.product(account, &product.id).await,
            Err(StoreError::NotFound) => Err(LicenseError::ProductNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a product. Without `force` only when no license references
    /// it; with `force` its licenses go first. A forced delete retires the
    /// product before it starts, so no license can be granted on it while
    /// its licenses are removed, and can be repeated after a crash.
    pub async fn delete_product(
        &self,
        account: &AccountId,
        id: &ProductId,
        force: bool,
    ) -> Result<(), LicenseError> {
        if !force {
            return match self.store.delete_product(account, id).await {
                Ok(()) => Ok(()),
                Err(StoreError::NotFound) => Err(LicenseError::ProductNotFound),
                Err(StoreError::Conflict) => {
                    let count = self
                        .store
                        .get_product(account, id)
                        .await?
                        .map_or(0, |p| p.license_count);
                    Err(LicenseError::ProductInUse(count))
                }
                Err(e) => Err(e.into()),
            };
        }
        match self.store.retire_product(account, id).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(LicenseError::ProductNotFound),
            Err(e) => return Err(e.into()),
        }
        for _ in 0..FORCED_DELETE_ROUNDS {
            let mut query = LicenseQuery::all(account, self.now(), 100);
            query.product_id = Some(id.clone());
            let page = self.store.list_licenses(&query).await?;
            for license in &page.items {
                match self
                    .store
                    .delete_license(account, &license.id, self.now())
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match self.store.delete_product(account, id).await {
                Ok(()) | Err(StoreError::NotFound) => return Ok(()),
                // A license listing can lag behind a write (DynamoDB's
                // indexes are eventually consistent): go round again.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LicenseError::Store(StoreError::Conflict))
    }

    // ---- licenses ----

    pub async fn create_license(
        &self,
        account: &AccountId,
        new: NewLicense,
    ) -> Result<License, LicenseError> {
        let product_id = new
            .product_id
            .as_ref()
            .ok_or_else(|| LicenseError::invalid("product_id", "is required"))?;
        let product = self.product(account, product_id).await?;
        let now = self.now();
        let valid_from = new.valid_from.unwrap_or(now);
        if new.valid_until.is_some_and(|until| until <= valid_from) {
            return Err(LicenseError::invalid(
                "valid_until",
                "must be after valid_from (which defaults to now)",
            ));
        }
        let license = License {
            account: account.clone(),
            id: new.id.unwrap_or_else(LicenseId::generate),
            product_id: product.id,
            holder: new.holder,
            key: new_uuid(),
            name: new.name.unwrap_or(product.name),
            order_id: new.order_id,
            valid_from,
            valid_until: new.valid_until,
            status: new.status,
            listing: new.listing,
            deployment: None,
            created_at: now,
        };
        if let (Some(profile), Some(holder)) = (&new.profile, &license.holder) {
            self.store
                .put_holder_profile(account, holder, profile)
                .await?;
        }
        match self.store.create_license(&license).await {
            Ok(()) => Ok(license),
            Err(StoreError::NotFound) => Err(LicenseError::ProductNotFound),
            Err(StoreError::AlreadyExists) => Err(LicenseError::LicenseExists),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn license(
        &self,
        account: &AccountId,
        id: &LicenseId,
    ) -> Result<License, LicenseError> {
        self.store
            .get_license(account, id)
            .await?
            .ok_or(LicenseError::LicenseNotFound)
    }

    pub async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, LicenseError> {
        Ok(self.store.list_licenses(query).await?)
    }

    pub async fn delete_license(
        &self,
        account: &AccountId,
        id: &LicenseId,
    ) -> Result<(), LicenseError> {
        match self.store.delete_license(account, id, self.now()).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(LicenseError::LicenseNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates each license on its own: one failing does not undo the
    /// others (`docs/licenses.md`).
    pub async fn batch_create(
        &self,
        account: &AccountId,
        licenses: Vec<NewLicense>,
    ) -> Vec<Result<License, LicenseError>> {
        let mut results = Vec::with_capacity(licenses.len());
        for new in licenses {
            results.push(self.create_license(account, new).await);
        }
        results
    }

    pub async fn batch_delete(
        &self,
        account: &AccountId,
        ids: &[LicenseId],
    ) -> Vec<Result<(), LicenseError>> {
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(self.delete_license(account, id).await);
        }
        results
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes()))
}

/// A product SKU like the vendor document's: 20 lowercase letters and digits.
fn generate_sku() -> String {
    random_chars(b"abcdefghijklmnopqrstuvwxyz0123456789", 20)
}

/// `XXXXX-XXXXX-XXXXX`: 75 bits from the CSPRNG.
pub fn discount_code() -> String {
    let chars = random_chars(DISCOUNT_ALPHABET, 15);
    format!("{}-{}-{}", &chars[0..5], &chars[5..10], &chars[10..15])
}

fn random_chars(alphabet: &[u8], count: usize) -> String {
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(count);
    let mut byte = [0u8; 1];
    while out.len() < count {
        OsRng.fill_bytes(&mut byte);
        if usize::from(byte[0]) < limit {
            out.push(char::from(alphabet[usize::from(byte[0]) % alphabet.len()]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discount_codes_have_the_documented_shape() {
        let code = discount_code();
        assert_eq!(code.len(), 17);
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 3);
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| DISCOUNT_ALPHABET.contains(&b))));
        assert_ne!(discount_code(), code);
        assert_eq!(generate_sku().len(), 20);
    }
}
