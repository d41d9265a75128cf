//! `ChallengeService`: creating, verifying, ending and cleaning up challenges.

use super::*;

/// How many times a racing update on one challenge is retried.
const CHALLENGE_RETRIES: usize = 16;

pub struct ChallengeService {
    store: Arc<dyn ChallengeStore>,
    clock: Arc<dyn Clock>,
    config: ChallengeConfig,
}

impl ChallengeService {
    pub fn new(
        store: Arc<dyn ChallengeStore>,
        clock: Arc<dyn Clock>,
        config: ChallengeConfig,
    ) -> Self {
        ChallengeService {
            store,
            clock,
            config,
        }
    }

    pub fn config(&self) -> &ChallengeConfig {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Creates a challenge. With a live one for the same person and purpose,
    /// 409 unless `invalidate_existing`, which ends the old one and creates
    /// the new one in one transaction.
    pub async fn create(
        &self,
        account: &AccountId,
        new: NewChallenge,
    ) -> Result<Challenge, ChallengeError> {
        for _ in 0..CHALLENGE_RETRIES {
            let now = self.clock.now();
            let live = self
                .store
                .live_challenge(account, &new.person_id, new.purpose, now)
                .await?;
            if live.is_some() && !new.invalidate_existing {
                return Err(ChallengeError::LiveChallengeExists);
            }
            let challenge = Challenge {
                account: account.clone(),
                id: ChallengeId::generate(now.millis()),
                person_id: new.person_id.clone(),
                code: generate_code(),
                created_at: now,
                expires_at: now.plus_secs(self.config.lifetime_secs),
                origin: new.origin,
                purpose: new.purpose,
                delivery_method: new.delivery_method,
                usage_count: 0,
                max_usage_count: self.config.max_usage_count,
                ended: None,
                failed_attempts: 0,
                attempt_window_start: now,
                event_count: 0,
                marked_expired: false,
            };
            match self
                .store
                .create_challenge(&challenge, live.as_ref(), self.config.retention_secs)
                .await
            {
                Ok(()) => return Ok(challenge),
                Err(StoreError::AlreadyExists) if !new.invalidate_existing => {
                    return Err(ChallengeError::LiveChallengeExists)
                }
                // A code clash, or the live challenge changed under us: again.
                Err(StoreError::AlreadyExists | StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ChallengeError::Busy)
    }

    pub async fn get(
        &self,
        account: &AccountId,
        id: &ChallengeId,
    ) -> Result<Challenge, ChallengeError> {
        self.store
            .get_challenge(account, id)
            .await?
            .ok_or(ChallengeError::NotFound)
    }

    pub async fn list(&self, query: &ChallengeQuery) -> Result<Vec<Challenge>, ChallengeError> {
        Ok(self.store.list_challenges(query).await?)
    }

    /// Marks the challenge expired now; its code stops working. Deleting an
    /// ended or expired challenge changes nothing and succeeds.
    pub async fn delete(
        &self,
        account: &AccountId,
        id: &ChallengeId,
    ) -> Result<(), ChallengeError> {
        let challenge = self.get(account, id).await?;
        let now = self.clock.now();
        if challenge.ended.is_some() || challenge.is_expired(now) {
            return Ok(());
        }
        match self
            .store
            .end_challenge(
                &challenge,
                now,
                EndReason::Deleted,
                self.config.retention_secs,
            )
            .await
        {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(StoreError::NotFound) => Err(ChallengeError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks `code` for `person_id` and uses the challenge once. Wrong
    /// codes count against the attempt window; racing uses never exceed
    /// `max_usage_count`.
    pub async fn verify(
        &self,
        account: &AccountId,
        id: &ChallengeId,
        body: &VerifyRequest,
    ) -> Result<Challenge, ChallengeError> {
        let person = body
            .person_id
            .as_deref()
            .ok_or_else(|| ChallengeError::invalid("person_id", "is required"))?;
        let code = body
            .code
            .as_deref()
            .filter(|c| !c.trim().is_empty() && c.len() <= 64)
            .ok_or_else(|| {
                ChallengeError::invalid("code", "is required (at most 64 characters)")
            })?;
        for _ in 0..CHALLENGE_RETRIES {
            let challenge = self.get(account, id).await?;
            if challenge.person_id != person {
                // The same answer as an unknown id: a wrong person learns
                // nothing about the challenge.
                return Err(ChallengeError::NotFound);
            }
            let now = self.clock.now();
            if let Some(retry) = self.locked_for(&challenge, now) {
                return Err(ChallengeError::TooManyAttempts {
                    retry_after_secs: retry,
                });
            }
            match challenge.ended {
                Some(EndReason::Deleted) => return Err(ChallengeError::Deleted),
                Some(EndReason::Invalidated) => return Err(ChallengeError::Invalidated),
                None => {}
            }
            if challenge.is_expired(now) {
                return Err(ChallengeError::Expired);
            }
            if challenge.usage_count >= challenge.max_usage_count {
                return Err(ChallengeError::Exhausted);
            }
            if !constant_time_eq(normalize_code(code).as_bytes(), challenge.code.as_bytes()) {
                let window_over = challenge
                    .attempt_window_start
                    .plus_secs(self.config.attempt_window_secs)
                    <= now;
                let (window_start, failed) = if window_over {
                    (now, 1)
                } else {
                    (
                        challenge.attempt_window_start,
                        challenge.failed_attempts + 1,
                    )
                };
                return match self
                    .store
                    .record_failed_attempt(&challenge, window_start, failed)
                    .await
                {
                    Ok(()) => Err(ChallengeError::WrongCode),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => Err(e.into()),
                };
            }
            match self.store.use_challenge(&challenge, now).await {
                Ok(()) => {
                    let mut used = challenge;
                    used.usage_count += 1;
                    return Ok(used);
                }
                // Another use, a delete or an expiry got there first: read
                // again and answer for the new state.
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(ChallengeError::NotFound),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ChallengeError::Busy)
    }

    /// Seconds until the attempt window reopens, when it is full.
    fn locked_for(&self, challenge: &Challenge, now: Timestamp) -> Option<i64> {
        let window_end = challenge
            .attempt_window_start
            .plus_secs(self.config.attempt_window_secs);
        (challenge.failed_attempts >= self.config.max_failed_attempts && now < window_end)
            .then(|| now.secs_until(window_end))
    }

    pub async fn add_event(
        &self,
        account: &AccountId,
        challenge_id: &ChallengeId,
        body: &NewDeliveryEvent,
    ) -> Result<(Challenge, DeliveryEvent), ChallengeError> {
        let kind = body
            .kind
            .as_deref()
            .filter(|k| {
                (1..=64).contains(&k.len())
                    && k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .ok_or_else(|| {
                ChallengeError::invalid("type", "is required: 1-64 of A-Z and '_', e.g. DISPATCHED")
            })?;
        let timestamp = body
            .timestamp
            .as_deref()
            .and_then(Timestamp::parse_rfc3339)
            .ok_or_else(|| {
                ChallengeError::invalid(
                    "timestamp",
                    "is required: RFC 3339, e.g. 2018-06-18T13:06:54.000Z",
                )
            })?;
        let text = |field: &str,
                    value: &Option<String>,
                    max: usize|
         -> Result<Option<String>, ChallengeError> {
            match value {
                Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
                    Err(ChallengeError::invalid(
                        field,
                        format!("must be at most {max} characters, no control characters"),
                    ))
                }
                other => Ok(other.clone()),
            }
        };
        let challenge = self.get(account, challenge_id).await?;
        let now = self.clock.now();
        let event = DeliveryEvent {
            account: account.clone(),
            challenge_id: challenge.id.clone(),
            id: new_uuid_v7(now.millis()),
            kind: kind.to_owned(),
            timestamp,
            provider: text("provider", &body.provider, 128)?,
            additional_details: text("additional_details", &body.additional_details, 1000)?,
            created_at: now,
        };
        match self
            .store
            .add_delivery_event(&event, self.config.max_events)
            .await
        {
            Ok(()) => Ok((challenge, event)),
            Err(StoreError::Conflict) => Err(ChallengeError::TooManyEvents(self.config.max_events)),
            Err(StoreError::NotFound) => Err(ChallengeError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// A challenge's delivery events, newest `timestamp` first.
    pub async fn events(
        &self,
        account: &AccountId,
        challenge_id: &ChallengeId,
    ) -> Result<Vec<DeliveryEvent>, ChallengeError> {
        let challenge = self.get(account, challenge_id).await?;
        let mut events = self.store.list_delivery_events(&challenge).await?;
        events.sort_by(|a, b| (b.timestamp, &b.id).cmp(&(a.timestamp, &a.id)));
        Ok(events)
    }

    pub async fn event(
        &self,
        account: &AccountId,
        challenge_id: &ChallengeId,
        event_id: &str,
    ) -> Result<DeliveryEvent, ChallengeError> {
        self.events(account, challenge_id)
            .await?
            .into_iter()
            .find(|e| e.id == event_id)
            .ok_or(ChallengeError::EventNotFound)
    }

    /// One bounded cleanup run: marks challenges whose time is up as expired
    /// (freeing their person and code for new challenges), then deletes what
    /// has outlived the retention. Every step is conditional, so a run that
    /// crashed is simply run again; DynamoDB's TTL removes what no run
    /// reaches.
    pub async fn cleanup(&self) -> Result<CleanupReport, ChallengeError> {
        let now = self.clock.now();
        let mut report = CleanupReport::default();
        for _ in 0..CLEANUP_PAGES {
            let due = self
                .store
                .expired_challenges(now, CLEANUP_PAGE_SIZE)
                .await?;
            for r in &due {
                match self.store.mark_expired(r, now).await {
                    Ok(()) => report.marked_expired += 1,
                    Err(StoreError::NotFound | StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            report.more = due.len() == CLEANUP_PAGE_SIZE;
            if !report.more {
                break;
            }
        }
        let mut more_purges = false;
        for _ in 0..CLEANUP_PAGES {
            let due = self
                .store
                .purgeable_challenges(now, CLEANUP_PAGE_SIZE)
                .await?;
            for r in &due {
                match self.store.purge_challenge(r).await {
                    Ok(()) => report.purged += 1,
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            more_purges = due.len() == CLEANUP_PAGE_SIZE;
            if !more_purges {
                break;
            }
        }
        report.more |= more_purges;
        Ok(report)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_unambiguous_characters_and_normalize() {
        let code = generate_code();
        assert_eq!(code.len(), CODE_LENGTH);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        for ambiguous in b"0O1IL2Z5S8BDQUV" {
            assert!(!CODE_ALPHABET.contains(ambiguous), "{}", *ambiguous as char);
        }
        assert_eq!(normalize_code(" acefg-hjk mn "), "ACEFGHJKMN");
    }
}
