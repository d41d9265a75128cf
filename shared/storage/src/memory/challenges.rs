//! Activation challenges, their claims and delivery events, in memory.

use super::*;

impl State {
    /// Frees a challenge's slot and code claims if they are still its own.
    pub(super) fn release_claims(&mut self, challenge: &Challenge) {
        let slot = (
            challenge.account.clone(),
            challenge.person_id.clone(),
            challenge.purpose,
        );
        if self
            .challenge_slots
            .get(&slot)
            .is_some_and(|(id, _)| *id == challenge.id)
        {
            self.challenge_slots.remove(&slot);
        }
        let code = (challenge.account.clone(), challenge.code.clone());
        if self
            .challenge_codes
            .get(&code)
            .is_some_and(|(id, _)| *id == challenge.id)
        {
            self.challenge_codes.remove(&code);
        }
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn create_challenge(
        &self,
        challenge: &Challenge,
        replacing: Option<&Challenge>,
        retention_secs: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let now = challenge.created_at;
        let account = &challenge.account;
        let slot_key = (
            account.clone(),
            challenge.person_id.clone(),
            challenge.purpose,
        );
        let slot = state.challenge_slots.get(&slot_key).cloned();
        match replacing {
            None => {
                if slot.is_some_and(|(_, expires)| expires > now) {
                    return Err(StoreError::AlreadyExists);
                }
            }
            Some(old) => {
                let holds = slot.is_some_and(|(id, _)| id == old.id);
                let stored = state.challenges.get(&(account.clone(), old.id.clone()));
                let live = stored.is_some_and(|c| c.ended.is_none() && !c.is_expired(now));
                if !holds || !live {
                    return Err(StoreError::Conflict);
                }
            }
        }
        let code_key = (account.clone(), challenge.code.clone());
        if state
            .challenge_codes
            .get(&code_key)
            .is_some_and(|(_, expires)| *expires > now)
        {
            return Err(StoreError::Conflict);
        }
        let key = (account.clone(), challenge.id.clone());
        if state.challenges.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        if let Some(old) = replacing {
            let old_key = (account.clone(), old.id.clone());
            if let Some(stored) = state.challenges.get_mut(&old_key) {
                stored.ended = Some(EndReason::Invalidated);
                stored.expires_at = now;
            }
            let ended = state.challenges[&old_key].clone();
            state.release_claims(&ended);
            state
                .challenge_purge_at
                .insert(old_key, ended.purge_at(retention_secs));
        }
        state
            .challenge_slots
            .insert(slot_key, (challenge.id.clone(), challenge.expires_at));
        state
            .challenge_codes
            .insert(code_key, (challenge.id.clone(), challenge.expires_at));
        state
            .challenge_purge_at
            .insert(key.clone(), challenge.purge_at(retention_secs));
        state.challenges.insert(key, challenge.clone());
        state.append_event(challenge.created_event());
        Ok(())
    }

    async fn get_challenge(
        &self,
        account: &AccountId,
        id: &ChallengeId,
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .lock()
            .challenges
            .get(&(account.clone(), id.clone()))
            .cloned())
    }

    async fn live_challenge(
        &self,
        account: &AccountId,
        person_id: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Option<Challenge>, StoreError> {
        let state = self.lock();
        let Some((id, _)) =
            state
                .challenge_slots
                .get(&(account.clone(), person_id.to_owned(), purpose))
        else {
            return Ok(None);
        };
        Ok(state
            .challenges
            .get(&(account.clone(), id.clone()))
            .filter(|c| c.ended.is_none() && !c.is_expired(now))
            .cloned())
    }

    async fn list_challenges(&self, query: &ChallengeQuery) -> Result<Vec<Challenge>, StoreError> {
        let state = self.lock();
        Ok(state
            .challenges
            .values()
            .filter(|c| query.matches(c))
            .skip(query.skip)
            .take(query.size)
            .cloned()
            .collect())
    }

    async fn end_challenge(
        &self,
        challenge: &Challenge,
        at: Timestamp,
        reason: EndReason,
        retention_secs: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (challenge.account.clone(), challenge.id.clone());
        let stored = state.challenges.get_mut(&key).ok_or(StoreError::NotFound)?;
        if stored.ended.is_some() || stored.is_expired(at) {
            return Err(StoreError::Conflict);
        }
        stored.ended = Some(reason);
        stored.expires_at = at;
        let ended = stored.clone();
        state.release_claims(&ended);
        state
            .challenge_purge_at
            .insert(key, ended.purge_at(retention_secs));
        Ok(())
    }

    async fn use_challenge(&self, challenge: &Challenge, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .challenges
            .get_mut(&(challenge.account.clone(), challenge.id.clone()))
            .ok_or(StoreError::NotFound)?;
        let usable = stored.ended.is_none()
            && !stored.is_expired(now)
            && stored.usage_count < stored.max_usage_count;
        if !usable {
            return Err(StoreError::Conflict);
        }
        let event = stored.verified_event(now);
        stored.usage_count += 1;
        state.append_event(event);
        Ok(())
    }

    async fn record_failed_attempt(
        &self,
        challenge: &Challenge,
        window_start: Timestamp,
        failed: u32,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .challenges
            .get_mut(&(challenge.account.clone(), challenge.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.attempt_window_start != challenge.attempt_window_start
            || stored.failed_attempts != challenge.failed_attempts
        {
            return Err(StoreError::Conflict);
        }
        stored.attempt_window_start = window_start;
        stored.failed_attempts = failed;
        Ok(())
    }

    async fn add_delivery_event(
        &self,
        event: &DeliveryEvent,
        max_events: u32,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (event.account.clone(), event.challenge_id.clone());
        let stored = state.challenges.get_mut(&key).ok_or(StoreError::NotFound)?;
        if stored.event_count >= max_events {
            return Err(StoreError::Conflict);
        }
        stored.event_count += 1;
        state
            .delivery_events
            .entry(key)
            .or_default()
            .push(event.clone());
        Ok(())
    }

    async fn list_delivery_events(
        &self,
        challenge: &Challenge,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        Ok(self
            .lock()
            .delivery_events
            .get(&(challenge.account.clone(), challenge.id.clone()))
            .cloned()
            .unwrap_or_default())
    }

    async fn expired_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        let state = self.lock();
        let mut due: Vec<&Challenge> = state
            .challenges
            .values()
            .filter(|c| !c.marked_expired && c.ended.is_none() && c.is_expired(now))
            .collect();
        due.sort_by_key(|c| c.expires_at);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|c| ChallengeRef {
                account: c.account.clone(),
                id: c.id.clone(),
            })
            .collect())
    }

    async fn mark_expired(
        &self,
        challenge: &ChallengeRef,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .challenges
            .get_mut(&(challenge.account.clone(), challenge.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.marked_expired || stored.ended.is_some() || !stored.is_expired(now) {
            return Err(StoreError::Conflict);
        }
        stored.marked_expired = true;
        let marked = stored.clone();
        state.release_claims(&marked);
        Ok(())
    }

    async fn purgeable_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        let state = self.lock();
        let mut due: Vec<(&(AccountId, ChallengeId), &Timestamp)> = state
            .challenge_purge_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .collect();
        due.sort_by_key(|(_, at)| **at);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|((account, id), _)| ChallengeRef {
                account: account.clone(),
                id: id.clone(),
            })
            .collect())
    }

    async fn purge_challenge(&self, challenge: &ChallengeRef) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (challenge.account.clone(), challenge.id.clone());
        let removed = state.challenges.remove(&key).ok_or(StoreError::NotFound)?;
        state.release_claims(&removed);
        state.challenge_purge_at.remove(&key);
        state.delivery_events.remove(&key);
        Ok(())
    }
}
