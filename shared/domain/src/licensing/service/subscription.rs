//! The subscription API's operations: queries, subscriptions, deployments and activations.

use super::*;

impl LicenseService {
    /// One page of `POST /query/license`, with the total count.
    pub async fn query(
        &self,
        account: &AccountId,
        mut query: LicenseQuery,
        after_license: Option<&LicenseId>,
    ) -> Result<(Vec<License>, u64, usize), LicenseError> {
        if let Some(id) = after_license {
            let last = self
                .store
                .get_license(account, id)
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
        account: &AccountId,
        mut new: NewLicense,
    ) -> Result<License, LicenseError> {
        if let Some(id) = &new.id {
            if self.store.get_license(account, id).await?.is_some() {
                return Err(LicenseError::LicenseExists);
            }
        }
        if new.product_id.is_none() {
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
            new.product_id = Some(product.id);
        }
        self.create_license(account, new).await
    }

    /// `POST /deploy/{id}`: records a deployment once. Repeating it for the
    /// same blockchain answers the recorded one.
    pub async fn deploy(
        &self,
        account: &AccountId,
        id: &LicenseId,
        body: &DeployOrder,
    ) -> Result<License, LicenseError> {
        let mut license = self.license(account, id).await?;
        if body
            .id
            .as_deref()
            .is_some_and(|b| LicenseId::parse(b).as_ref() != Some(&license.id))
        {
            return Err(LicenseError::invalid(
                "id",
                "differs from the id in the path",
            ));
        }
        let blockchain = body
            .blockchain
            .as_deref()
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
        account: &AccountId,
        signer: &Signer,
    ) -> Result<ActivationNonce, LicenseError> {
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
        account: &AccountId,
        request: &ActivationRequest,
    ) -> Result<License, LicenseError> {
        let ActivationRequest {
            signer,
            contract,
            token_id,
            nonce: nonce_text,
            sign,
        } = request;
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
