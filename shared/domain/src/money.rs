//! Money without floating point: an amount is a whole number of
//! ten-thousandths of its currency's unit, read from and written as a
//! decimal string (`docs/payg.md`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// Ten-thousandths of a currency unit: four decimal places cover every
/// ISO 4217 currency's minor unit (at most three) with one to spare, so
/// no currency table is needed to take an amount exactly.
const SCALE: i64 = 10_000;
const DECIMALS: usize = 4;
/// The most digits before the point: under a trillion units, so sums of
/// many amounts stay far inside i64.
const MAX_WHOLE_DIGITS: usize = 12;

/// A non-negative amount of money, exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Parses `"50"`, `"1500.5"`, `"0.0001"`: up to twelve digits with at
    /// most four decimals.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::new(
                field,
                "must be a decimal string of up to 12 digits and 4 decimals, e.g. \"50\" or \"12.50\"",
            )
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > MAX_WHOLE_DIGITS
            || !digits(whole)
            || (text.contains('.') && fraction.is_empty())
            || fraction.len() > DECIMALS
            || !digits(fraction)
        {
            return Err(bad());
        }
        let units: i64 = whole.parse().map_err(|_| bad())?;
        let padded = format!("{fraction:0<DECIMALS$}");
        let fraction: i64 = padded.parse().map_err(|_| bad())?;
        Ok(Amount(units * SCALE + fraction))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn plus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    /// `self - other`, or zero when `other` is more.
    pub fn minus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0).max(0))
    }

    /// How many whole `price`s `self` buys (none for a zero price).
    pub fn whole_times(self, price: Amount) -> u64 {
        if price.0 == 0 {
            0
        } else {
            u64::try_from(self.0 / price.0).unwrap_or(0)
        }
    }

    /// `price` times `n`.
    pub fn times(price: Amount, n: u64) -> Amount {
        Amount(price.0.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Amount {
    /// The shortest exact decimal: `50`, `12.5`, `0.0001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (units, fraction) = (self.0 / SCALE, self.0 % SCALE);
        if fraction == 0 {
            write!(f, "{units}")
        } else {
            let digits = format!("{fraction:0DECIMALS$}");
            write!(f, "{units}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Amount::parse("amount", &text).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

/// An ISO 4217-shaped currency code: three capital letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(text.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be a currency code of three capital letters, e.g. KES",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Currency::parse("currency", &text).map_err(|e| e.reason)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        Amount::parse("amount", text).unwrap()
    }

    #[test]
    fn decimal_strings_are_exact_and_print_back_shortest() {
        for (text, shown) in [
            ("50", "50"),
            ("1500.5", "1500.5"),
            ("12.50", "12.5"),
            ("0.0001", "0.0001"),
            ("007", "7"),
            ("999999999999.9999", "999999999999.9999"),
        ] {
            assert_eq!(amount(text).to_string(), shown, "{text}");
        }
        // 0.1 + 0.2 is 0.3 here.
        assert_eq!(amount("0.1").plus(amount("0.2")), amount("0.3"));
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            "1e3",
            "1,5",
            "0.00001",
            " 1",
            "1 ",
            "NaN",
            "1000000000000",
            "99999999999999",
        ] {
            assert!(Amount::parse("amount", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn whole_days_and_what_is_left() {
        let paid = amount("175");
        let rate = amount("50");
        assert_eq!(paid.whole_times(rate), 3);
        assert_eq!(paid.minus(Amount::times(rate, 3)), amount("25"));
        assert_eq!(paid.whole_times(Amount::ZERO), 0);
        assert_eq!(amount("1").minus(amount("2")), Amount::ZERO);
    }

    #[test]
    fn currencies_are_three_capitals() {
        assert!(Currency::parse("currency", "KES").is_ok());
        for bad in ["kes", "KE", "KESH", "K3S", ""] {
            assert!(Currency::parse("currency", bad).is_err(), "{bad}");
        }
    }
}
