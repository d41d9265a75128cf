//! The licensing rules behind all three APIs.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::deploy::{license_id_of_contract, LicenseDeployer, BLOCKCHAINS};
use super::model::*;
use super::requests::*;
use super::signatures::Signer;
use super::views::{AuthenticatedIdentity, IssuedLoginToken, PublicLicenseInfo};
use super::LicenseError;
use crate::clients::ClientKey;
use crate::clock::{Clock, Timestamp};
use crate::hex;
use crate::ports::{LicenseStore, Page, StoreError};
use crate::random::random_hex;

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
        account: &ClientKey,
        new: NewProduct,
    ) -> Result<Product, LicenseError> {
        let now = self.now();
        let product = Product {
            account: account.clone(),
            id: new.id.unwrap_or_else(new_uuid),
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

    /// A product of the account; unknown and malformed ids are both 404s.
    pub async fn product(&self, account: &ClientKey, id: &str) -> Result<Product, LicenseError> {
        let id = parse_uuid(id).ok_or(LicenseError::ProductNotFound)?;
        self.store
            .get_product(account, &id)
            .await?
            .filter(|p| !p.retired)
            .ok_or(LicenseError::ProductNotFound)
    }

    pub async fn product_by_ref(
        &self,
        account: &ClientKey,
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
        account: &ClientKey,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page<Product, String>, LicenseError> {
        let limit = page_limit("limit", limit)?;
        let after = cursor
            .map(|c| {
                parse_uuid(c).ok_or_else(|| {
                    LicenseError::invalid("cursor", "is not a cursor this API handed out")
                })
            })
            .transpose()?;
        Ok(self
            .store
            .list_products(account, limit, after.as_deref())
            .await?)
    }

    pub async fn update_product(
        &self,
        account: &ClientKey,
        id: &str,
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
        account: &ClientKey,
        id: &str,
        force: bool,
    ) -> Result<(), LicenseError> {
        let id = parse_uuid(id).ok_or(LicenseError::ProductNotFound)?;
        if !force {
            return match self.store.delete_product(account, &id).await {
                Ok(()) => Ok(()),
                Err(StoreError::NotFound) => Err(LicenseError::ProductNotFound),
                Err(StoreError::Conflict) => {
                    let count = self
                        .store
                        .get_product(account, &id)
                        .await?
                        .map_or(0, |p| p.license_count);
                    Err(LicenseError::ProductInUse(count))
                }
                Err(e) => Err(e.into()),
            };
        }
        match self.store.retire_product(account, &id).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(LicenseError::ProductNotFound),
            Err(e) => return Err(e.into()),
        }
        for _ in 0..FORCED_DELETE_ROUNDS {
            let mut query = LicenseQuery::all(account, self.now(), 100);
            query.product_id = Some(id.clone());
            let page = self.store.list_licenses(&query).await?;
            for license in &page.items {
                match self.store.delete_license(account, &license.id).await {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match self.store.delete_product(account, &id).await {
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
        account: &ClientKey,
        new: NewLicense,
    ) -> Result<License, LicenseError> {
        let product = self.product(account, &new.product_id).await?;
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
            id: new.id.unwrap_or_else(new_uuid),
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

    pub async fn license(&self, account: &ClientKey, id: &str) -> Result<License, LicenseError> {
        let id = parse_uuid(id).ok_or(LicenseError::LicenseNotFound)?;
        self.store
            .get_license(account, &id)
            .await?
            .ok_or(LicenseError::LicenseNotFound)
    }

    pub async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, LicenseError> {
        Ok(self.store.list_licenses(query).await?)
    }

    pub async fn delete_license(&self, account: &ClientKey, id: &str) -> Result<(), LicenseError> {
        let id = parse_uuid(id).ok_or(LicenseError::LicenseNotFound)?;
        match self.store.delete_license(account, &id).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(LicenseError::LicenseNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates each license on its own: one failing does not undo the
    /// others (`docs/licenses.md`).
    pub async fn batch_create(
        &self,
        account: &ClientKey,
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
        account: &ClientKey,
        ids: &[String],
    ) -> Vec<Result<(), LicenseError>> {
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(self.delete_license(account, id).await);
        }
        results
    }

    // ---- the vendor API ----

    /// One page of a product's licenses, and where the next one starts.
    pub async fn product_licenses(
        &self,
        account: &ClientKey,
        product: &ProductRef,
        cursor: Option<&str>,
    ) -> Result<Page<License, LicensePosition>, LicenseError> {
        let product = self.product_by_ref(account, product).await?;
        let mut query = LicenseQuery::all(account, self.now(), self.config.product_licenses_page);
        query.product_id = Some(product.id);
        query.after = cursor.map(LicensePosition::from_cursor).transpose()?;
        Ok(self.store.list_licenses(&query).await?)
    }

    /// What anyone holding a key may learn of it: whether it exists and is
    /// valid, its product's SKU and latest version. Nothing about the holder.
    pub async fn public_info(&self, key: &str) -> Result<PublicLicenseInfo, LicenseError> {
        let key = uuid_field("key", key)?;
        let found = self.store.find_license_by_key(&key).await?;
        let Some(license) = found else {
            return Ok(PublicLicenseInfo {
                exists: false,
                key,
                is_valid: false,
                product_sku: None,
                latest_public_version_name: None,
            });
        };
        let product = self
            .store
            .get_product(&license.account, &license.product_id)
            .await?;
        Ok(PublicLicenseInfo {
            exists: true,
            key,
            is_valid: license.is_active(self.now()),
            product_sku: product.as_ref().map(|p| p.sku.clone()),
            latest_public_version_name: product.and_then(|p| p.latest_version),
        })
    }

    /// The license a key belongs to, if it is the account's.
    pub async fn license_by_key(
        &self,
        account: &ClientKey,
        key: &str,
    ) -> Result<(License, Product), LicenseError> {
        let key = uuid_field("key", key)?;
        let license = self
            .store
            .find_license_by_key(&key)
            .await?
            .filter(|l| l.account == *account)
            .ok_or(LicenseError::LicenseKeyNotFound)?;
        let product = self
            .store
            .get_product(account, &license.product_id)
            .await?
            .ok_or(LicenseError::ProductNotFound)?;
        Ok((license, product))
    }

    /// A one-time login token for the holder of an active license: the
    /// holder proves who they are with the license key.
    pub async fn issue_login_token(
        &self,
        license_key: &str,
    ) -> Result<IssuedLoginToken, LicenseError> {
        let key = uuid_field("licenseKey", license_key)?;
        let license = self
            .store
            .find_license_by_key(&key)
            .await?
            .ok_or(LicenseError::LicenseKeyNotFound)?;
        let now = self.now();
        let holder = match &license.holder {
            Some(holder) if license.is_active(now) => holder.clone(),
            _ => return Err(LicenseError::LicenseNotActive),
        };
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let token = format!("olt_{}", URL_SAFE_NO_PAD.encode(secret));
        let expires_at = now.plus_secs(self.config.login_token_ttl_secs);
        self.store
            .create_login_token(&LoginToken {
                hash: token_hash(&token),
                account: license.account.clone(),
                holder,
                license_id: license.id.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(IssuedLoginToken {
            token,
            expires_at: super::views::vendor_time(expires_at),
        })
    }

    /// Redeems a login token once, for the account its license belongs to.
    pub async fn redeem_login_token(
        &self,
        account: &ClientKey,
        token: &str,
    ) -> Result<AuthenticatedIdentity, LicenseError> {
        let plausible = token.starts_with("olt_") && token.len() <= 64;
        if !plausible {
            return Err(LicenseError::LoginTokenInvalid);
        }
        let redeemed = match self
            .store
            .redeem_login_token(account, &token_hash(token), self.now())
            .await
        {
            Ok(redeemed) => redeemed,
            Err(StoreError::NotFound) => return Err(LicenseError::LoginTokenInvalid),
            Err(e) => return Err(e.into()),
        };
        let profile = self
            .store
            .get_holder_profile(account, &redeemed.holder)
            .await?;
        Ok(AuthenticatedIdentity::new(&redeemed.holder, profile))
    }

    pub async fn create_discount(
        &self,
        account: &ClientKey,
        new: NewDiscount,
    ) -> Result<Discount, LicenseError> {
        let product = self.product_by_ref(account, &new.product).await?;
        let now = self.now();
        for _ in 0..DISCOUNT_CODE_ATTEMPTS {
            let discount = Discount {
                account: account.clone(),
                code: discount_code(),
                product_id: product.id.clone(),
                value: new.value.clone(),
                valid_from: new.valid_from.unwrap_or(now),
                valid_until: new.valid_until,
                usage_limit: new.usage_limit,
                created_at: now,
            };
            match self.store.create_discount(&discount).await {
                Ok(()) => return Ok(discount),
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LicenseError::DiscountExists)
    }

    // ---- the subscription API ----

    /// One page of `POST /query/license`, with the total count.
    pub async fn query(
        &self,
        account: &ClientKey,
        body: &QueryBody,
    ) -> Result<(Vec<License>, u64, usize), LicenseError> {
        let (mut query, offset) = body.validate(account, self.now())?;
        if let Some(id) = offset {
            let last = self
                .store
                .get_license(account, &id)
                .await?
                .ok_or_else(|| LicenseError::invalid("offset.id", "names no license"))?;
            query.after = Some(last.position());
        }
        let limit = query.limit;
        let page = self.store.list_licenses(&query).await?;
        let count = self.store.count_licenses(&query).await?;
        Ok((page.items, count, limit))
    }

    /// `POST /create`. With no `software`, a product is made for the license
    /// under its name, since the document's example creates one that way.
    pub async fn create_subscription(
        &self,
        account: &ClientKey,
        body: &SubscriptionLicenseBody,
    ) -> Result<License, LicenseError> {
        let mut new = body.validate(self.now())?;
        if let Some(id) = &new.id {
            if self.store.get_license(account, id).await?.is_some() {
                return Err(LicenseError::LicenseExists);
            }
        }
        if new.product_id.is_empty() {
            let name = new.name.clone().unwrap_or_default();
            let product = self
                .create_product(
                    account,
                    NewProduct {
                        id: None,
                        name,
                        sku: None,
                        description: new.listing.description.clone(),
                        latest_version: None,
                    },
                )
                .await?;
            new.product_id = product.id;
        }
        self.create_license(account, new).await
    }

    /// `POST /deploy/{id}`: records a deployment once. Repeating it for the
    /// same blockchain answers the recorded one.
    pub async fn deploy(
        &self,
        account: &ClientKey,
        id: &str,
        body: &DeployBody,
    ) -> Result<License, LicenseError> {
        let mut license = self.license(account, id).await?;
        if body
            .id
            .as_deref()
            .is_some_and(|b| parse_uuid(b).as_deref() != Some(license.id.as_str()))
        {
            return Err(LicenseError::invalid(
                "id",
                "differs from the id in the path",
            ));
        }
        let blockchain = body
            .contract
            .as_ref()
            .and_then(|c| c.blockchain.as_deref())
            .ok_or_else(|| LicenseError::invalid("contract.blockchain", "is required"))?;
        if !BLOCKCHAINS.contains(&blockchain) {
            return Err(LicenseError::invalid(
                "contract.blockchain",
                format!("must be one of {}", BLOCKCHAINS.join(", ")),
            ));
        }
        let owner = match &body.owner {
            Some(owner) => Some(Signer::parse(owner).map_err(|_| {
                LicenseError::invalid(
                    "owner",
                    "must be an Ethereum address or a P-256 public key to deploy",
                )
            })?),
            None => None,
        };
        if let Some(existing) = &license.deployment {
            return if existing.blockchain == blockchain
                && owner
                    .as_ref()
                    .is_none_or(|o| license.holder.as_deref().is_some_and(|h| o.is(h)))
            {
                Ok(license)
            } else {
                Err(LicenseError::AlreadyDeployed)
            };
        }
        match (&license.holder, &owner) {
            (None, None) => return Err(LicenseError::OwnerRequired),
            (None, Some(_)) => license.holder = body.owner.clone().map(|o| o.trim().to_owned()),
            (Some(holder), Some(owner)) if !owner.is(holder) => {
                return Err(LicenseError::OwnerMismatch)
            }
            (Some(holder), _) => {
                if Signer::parse(holder).is_err() {
                    return Err(LicenseError::invalid(
                        "owner",
                        "the license holder is not an Ethereum address or P-256 key",
                    ));
                }
            }
        }
        license.deployment = Some(self.deployer.deploy(&license, blockchain, self.now())?);
        match self.store.record_deployment(&license).await {
            Ok(()) => Ok(license),
            Err(StoreError::NotFound) => Err(LicenseError::LicenseNotFound),
            Err(StoreError::Conflict) => {
                // Another deploy won the race; answer like a repeat.
                let stored = self.license(account, id).await?;
                match &stored.deployment {
                    Some(d) if d.blockchain == blockchain => Ok(stored),
                    _ => Err(LicenseError::AlreadyDeployed),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn issue_nonce(
        &self,
        account: &ClientKey,
        body: &NonceBody,
    ) -> Result<ActivationNonce, LicenseError> {
        let signer = Signer::parse(required("address", &body.address)?)?;
        let now = self.now();
        let nonce = ActivationNonce {
            account: account.clone(),
            nonce: random_hex(16),
            address: signer.canonical(),
            created_at: now,
            expires_at: now.plus_secs(self.config.nonce_ttl_secs),
        };
        self.store.create_nonce(&nonce).await?;
        Ok(nonce)
    }

    /// Checks a signed nonce and the license it activates, then spends the
    /// nonce. A nonce is spent only by the activation it authorizes.
    pub async fn activate(
        &self,
        account: &ClientKey,
        body: &ActivateBody,
    ) -> Result<License, LicenseError> {
        let signer = Signer::parse(required("address", &body.address)?)?;
        let contract = required("contract", &body.contract)?;
        let token_id = required("tokenId", &body.token_id)?;
        let nonce_text = required("nonce", &body.nonce)?;
        let sign = required("sign", &body.sign)?;
        if nonce_text.len() > 64 {
            return Err(LicenseError::NonceNotFound);
        }
        let now = self.now();
        let nonce = self
            .store
            .get_nonce(account, nonce_text)
            .await?
            .ok_or(LicenseError::NonceNotFound)?;
        if now >= nonce.expires_at {
            return Err(LicenseError::NonceExpired);
        }
        if nonce.address != signer.canonical() {
            return Err(LicenseError::NonceAddressMismatch);
        }
        signer.verify(&nonce.nonce, sign)?;
        let license_id = license_id_of_contract(contract).ok_or(LicenseError::ContractNotFound)?;
        let license = self
            .store
            .get_license(account, &license_id)
            .await?
            .ok_or(LicenseError::ContractNotFound)?;
        let deployed = license.deployment.as_ref().is_some_and(|d| {
            d.address.eq_ignore_ascii_case(contract.trim()) && d.token_id == token_id.trim()
        });
        if !deployed {
            return Err(LicenseError::ContractNotFound);
        }
        if !license.holder.as_deref().is_some_and(|h| signer.is(h)) {
            return Err(LicenseError::NotOwner);
        }
        if !license.is_active(now) {
            return Err(LicenseError::LicenseNotActive);
        }
        match self.store.spend_nonce(account, &nonce.nonce, now).await {
            Ok(()) => Ok(license),
            Err(StoreError::NotFound) => Err(LicenseError::NonceNotFound),
            Err(e) => Err(e.into()),
        }
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
