//! The vendor API's operations: licenses by product and key, login tokens, discounts.

use super::*;

impl LicenseService {
    /// One page of a product's licenses, and where the next one starts.
    pub async fn product_licenses(
        &self,
        account: &AccountId,
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
    pub async fn public_info(&self, key: &str) -> Result<KeyStatus, LicenseError> {
        let key = uuid_field("key", key)?;
        let found = self.store.find_license_by_key(&key).await?;
        let Some(license) = found else {
            return Ok(KeyStatus {
                key,
                exists: false,
                is_valid: false,
                product_sku: None,
                latest_version: None,
            });
        };
        let product = self
            .store
            .get_product(&license.account, &license.product_id)
            .await?;
        Ok(KeyStatus {
            key,
            exists: true,
            is_valid: license.is_active(self.now()),
            product_sku: product.as_ref().map(|p| p.sku.clone()),
            latest_version: product.and_then(|p| p.latest_version),
        })
    }

    /// The license a key belongs to, if it is the account's.
    pub async fn license_by_key(
        &self,
        account: &AccountId,
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
        Ok(IssuedLoginToken { token, expires_at })
    }

    /// Redeems a login token once, for the account its license belongs to.
    pub async fn redeem_login_token(
        &self,
        account: &AccountId,
        token: &str,
    ) -> Result<HolderIdentity, LicenseError> {
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
        Ok(HolderIdentity {
            holder: redeemed.holder,
            profile,
        })
    }

    pub async fn create_discount(
        &self,
        account: &AccountId,
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
}
