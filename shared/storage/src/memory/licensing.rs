//! Products, licenses and what hangs off them, in memory.

use super::*;

#[async_trait]
impl LicenseStore for MemoryStore {
    async fn create_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (product.account.clone(), product.id.clone());
        let sku = (product.account.clone(), product.sku.clone());
        if state.products.contains_key(&key) || state.skus.contains_key(&sku) {
            return Err(StoreError::AlreadyExists);
        }
        state.skus.insert(sku, product.id.clone());
        state.products.insert(key, product.clone());
        Ok(())
    }

    async fn get_product(
        &self,
        account: &AccountId,
        id: &ProductId,
    ) -> Result<Option<Product>, StoreError> {
        Ok(self
            .lock()
            .products
            .get(&(account.clone(), id.to_owned()))
            .cloned())
    }

    async fn find_product_by_sku(
        &self,
        account: &AccountId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        let state = self.lock();
        Ok(state
            .skus
            .get(&(account.clone(), sku.to_owned()))
            .and_then(|id| state.products.get(&(account.clone(), id.clone())))
            .cloned())
    }

    async fn list_products(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, StoreError> {
        let state = self.lock();
        let start = match after {
            Some(id) => Bound::Excluded((account.clone(), id.clone())),
            None => Bound::Unbounded,
        };
        let mut matching = state
            .products
            .range((start, Bound::Unbounded))
            .skip_while(|((a, _), _)| a < account)
            .take_while(|((a, _), _)| a == account)
            .map(|(_, p)| p.clone());
        let items: Vec<Product> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        Ok(Page::new(items, more, |p| p.id.clone()))
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .products
            .get_mut(&(product.account.clone(), product.id.clone()))
            .filter(|p| !p.retired)
            .ok_or(StoreError::NotFound)?;
        stored.name = product.name.clone();
        stored.description = product.description.clone();
        stored.latest_version = product.latest_version.clone();
        stored.updated_at = product.updated_at;
        Ok(())
    }

    async fn retire_product(&self, account: &AccountId, id: &ProductId) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .products
            .get_mut(&(account.clone(), id.to_owned()))
            .ok_or(StoreError::NotFound)?;
        stored.retired = true;
        Ok(())
    }

    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (account.clone(), id.to_owned());
        let product = state.products.get(&key).ok_or(StoreError::NotFound)?;
        if product.license_count > 0 {
            return Err(StoreError::Conflict);
        }
        let sku = (account.clone(), product.sku.clone());
        state.skus.remove(&sku);
        state.products.remove(&key);
        Ok(())
    }

    async fn create_license(&self, license: &License) -> Result<(), StoreError> {
        let mut state = self.lock();
        let product_key = (license.account.clone(), license.product_id.clone());
        match state.products.get(&product_key) {
            Some(p) if !p.retired => {}
            _ => return Err(StoreError::NotFound),
        }
        let key = (license.account.clone(), license.id.clone());
        if state.licenses.contains_key(&key) || state.license_keys.contains_key(&license.key) {
            return Err(StoreError::AlreadyExists);
        }
        state.license_keys.insert(license.key.clone(), key.clone());
        state.licenses.insert(key, license.clone());
        if let Some(product) = state.products.get_mut(&product_key) {
            product.license_count += 1;
        }
        state.append_event(license.created_event());
        Ok(())
    }

    async fn get_license(
        &self,
        account: &AccountId,
        id: &LicenseId,
    ) -> Result<Option<License>, StoreError> {
        Ok(self
            .lock()
            .licenses
            .get(&(account.clone(), id.to_owned()))
            .cloned())
    }

    async fn find_license_by_key(&self, key: &str) -> Result<Option<License>, StoreError> {
        let state = self.lock();
        Ok(state
            .license_keys
            .get(key)
            .and_then(|k| state.licenses.get(k))
            .cloned())
    }

    async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, StoreError> {
        let state = self.lock();
        let mut matching: Vec<&License> = state
            .licenses
            .values()
            .filter(|l| query.matches(l))
            .filter(|l| {
                query
                    .after
                    .as_ref()
                    .is_none_or(|after| l.position() > *after)
            })
            .collect();
        matching.sort_by_key(|l| l.position());
        let more = matching.len() > query.limit;
        let items = matching.into_iter().take(query.limit).cloned().collect();
        Ok(Page::new(items, more, License::position))
    }

    async fn count_licenses(&self, query: &LicenseQuery) -> Result<u64, StoreError> {
        let state = self.lock();
        Ok(state.licenses.values().filter(|l| query.matches(l)).count() as u64)
    }

    async fn delete_license(
        &self,
        account: &AccountId,
        id: &LicenseId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let license = state
            .licenses
            .remove(&(account.clone(), id.to_owned()))
            .ok_or(StoreError::NotFound)?;
        state.license_keys.remove(&license.key);
        if let Some(product) = state
            .products
            .get_mut(&(account.clone(), license.product_id.clone()))
        {
            product.license_count = product.license_count.saturating_sub(1);
        }
        state.append_event(license.deleted_event(at));
        Ok(())
    }

    async fn record_deployment(&self, license: &License) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .licenses
            .get_mut(&(license.account.clone(), license.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.deployment.is_some() {
            return Err(StoreError::Conflict);
        }
        stored.deployment = license.deployment.clone();
        stored.holder = license.holder.clone();
        Ok(())
    }

    async fn put_holder_profile(
        &self,
        account: &AccountId,
        holder: &str,
        profile: &HolderProfile,
    ) -> Result<(), StoreError> {
        self.lock()
            .profiles
            .insert((account.clone(), holder.to_owned()), profile.clone());
        Ok(())
    }

    async fn get_holder_profile(
        &self,
        account: &AccountId,
        holder: &str,
    ) -> Result<Option<HolderProfile>, StoreError> {
        Ok(self
            .lock()
            .profiles
            .get(&(account.clone(), holder.to_owned()))
            .cloned())
    }

    async fn create_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        self.lock()
            .discounts
            .insert_new(discount.code.clone(), discount.clone())
    }

    async fn get_discount(&self, code: &str) -> Result<Option<Discount>, StoreError> {
        Ok(self.lock().discounts.get(code).cloned())
    }

    async fn create_nonce(&self, nonce: &ActivationNonce) -> Result<(), StoreError> {
        let key = (nonce.account.clone(), nonce.nonce.clone());
        self.lock().nonces.insert_new(key, nonce.clone())
    }

    async fn get_nonce(
        &self,
        account: &AccountId,
        nonce: &str,
    ) -> Result<Option<ActivationNonce>, StoreError> {
        Ok(self
            .lock()
            .nonces
            .get(&(account.clone(), nonce.to_owned()))
            .cloned())
    }

    async fn spend_nonce(
        &self,
        account: &AccountId,
        nonce: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (account.clone(), nonce.to_owned());
        match state.nonces.get(&key) {
            Some(stored) if now < stored.expires_at => {
                state.nonces.remove(&key);
                Ok(())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn create_login_token(&self, token: &LoginToken) -> Result<(), StoreError> {
        self.lock()
            .login_tokens
            .insert_new(token.hash.clone(), token.clone())
    }

    async fn redeem_login_token(
        &self,
        account: &AccountId,
        hash: &str,
        now: Timestamp,
    ) -> Result<LoginToken, StoreError> {
        let mut state = self.lock();
        match state.login_tokens.get(hash) {
            Some(token) if token.account == *account && now < token.expires_at => {
                state.login_tokens.remove(hash).ok_or(StoreError::NotFound)
            }
            _ => Err(StoreError::NotFound),
        }
    }
}
