/// Ids below Pd the device still tracks.
pub const WINDOW_BEFORE_PD: u32 = 23;
/// Ids above Pd the device accepts.
pub const WINDOW_AFTER_PD: u32 = 40;

/// The firmware's receipt window: Pd (the highest id received, 23 on a new
/// device) and one received flag for each id from `Pd - 23` to `Pd`.
///
/// Bit `i` of `flags` is the id `Pd - 23 + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReceiptWindow {
    /// Pd, the window's centre.
    pub pd_index: u32,
    /// Received flags, 24 bits.
    pub flags: u32,
}

impl Default for ReceiptWindow {
    fn default() -> Self {
        Self {
            pd_index: WINDOW_BEFORE_PD,
            flags: 0,
        }
    }
}

const FLAG_MASK: u32 = (1 << (WINDOW_BEFORE_PD + 1)) - 1;

impl ReceiptWindow {
    /// Expands a transmitted 6-bit id to the one full id in the window with
    /// those low bits (the window spans exactly 64 ids).
    pub fn infer_full_id(&self, compressed: u8) -> u32 {
        let low = self.lowest_id();
        let offset = (u32::from(compressed) + 64 - (low & 0x3f)) & 0x3f;
        // Saturating: a Pd within 40 of u32::MAX is past what the firmware supports.
        low.saturating_add(offset)
    }

    /// Whether `id` is recorded as received.
    pub fn is_received(&self, id: u32) -> bool {
        if id > self.pd_index || id < self.lowest_id() {
            return false;
        }
        self.flags & (1 << self.index_of(id)) != 0
    }

    /// Records `id` as received, moving the window up if it is above Pd.
    pub fn mark_received(&mut self, id: u32) {
        if self.is_received(id) {
            return;
        }
        let index = self.index_moving_up_to(id);
        self.flags |= 1 << index;
    }

    /// Marks every id up to and including `id` as received (what SET_CREDIT
    /// and WIPE_STATE do, so that older keycodes stop working).
    pub fn mark_received_up_to(&mut self, id: u32) {
        if id.saturating_add(1) < self.lowest_id() {
            return;
        }
        let index = self.index_moving_up_to(id);
        self.flags |= (2u32 << index) - 1;
    }

    /// Lowest id the window tracks. Saturating so that a corrupt stored Pd
    /// below 23 cannot underflow.
    fn lowest_id(&self) -> u32 {
        self.pd_index.saturating_sub(WINDOW_BEFORE_PD)
    }

    fn index_of(&self, id: u32) -> u32 {
        WINDOW_BEFORE_PD - (self.pd_index - id).min(WINDOW_BEFORE_PD)
    }

    /// The flag index of `id`, moving the window up first when `id` is above
    /// Pd. An id below the window gets Pd's own index, as in the firmware
    /// (callers only pass ids inferred inside the window, or the one id just
    /// below it).
    fn index_moving_up_to(&mut self, id: u32) -> u32 {
        if id > self.pd_index {
            let increment = id - self.pd_index;
            self.flags = if increment > WINDOW_BEFORE_PD {
                0
            } else {
                (self.flags >> increment) & FLAG_MASK
            };
            self.pd_index = id;
            WINDOW_BEFORE_PD
        } else if id >= self.lowest_id() {
            self.index_of(id)
        } else {
            WINDOW_BEFORE_PD
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_ids_within_the_window() {
        let window = ReceiptWindow::default();
        assert_eq!(window.infer_full_id(0), 0);
        assert_eq!(window.infer_full_id(63), 63);
        let moved = ReceiptWindow {
            pd_index: 100,
            flags: 0,
        };
        // Window is 77..=140.
        assert_eq!(moved.infer_full_id(77 & 0x3f), 77);
        assert_eq!(moved.infer_full_id(140 & 0x3f), 140);
        assert_eq!(moved.infer_full_id(100 & 0x3f), 100);
    }

    #[test]
    fn shifting_keeps_flags_that_stay_in_the_window() {
        let mut window = ReceiptWindow::default();
        window.mark_received(20);
        window.mark_received(30);
        assert!(window.is_received(20));
        assert!(window.is_received(30));
        assert!(!window.is_received(25));
        window.mark_received(50);
        assert!(window.is_received(30), "30 is still inside 27..=50");
        assert!(!window.is_received(20), "20 fell out of the window");
        window.mark_received_up_to(52);
        assert!((29..=52).all(|id| window.is_received(id)));
    }
}
