//! Resource quantities (`100m`, `1.5`, `128Mi`, `1e3`), parsed once as apimachinery's
//! `resource.ParseQuantity` parses them and held exactly, as its `inf.Dec` holds them: a
//! decimal mantissa and a power of ten, never a float. Admission compares and prints them
//! from this; schedulers and the binding oracle take the integer views kube-scheduler
//! takes ([`ExactQuantity::milli_value`] for cpu, [`ExactQuantity::value`] for the rest),
//! so that they agree to the last milli.
//!
//! Exact decimal rather than a fixed integer unit: the apiserver must print back what it
//! was given (`1.5Gi` is `1536Mi`, `16Ei` is capped) and compare any two quantities, which
//! an `i128` of nano or milli units cannot do for the whole grammar.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// How a quantity was written, which is how apimachinery writes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QuantityFormat {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// A resource quantity held exactly, as apimachinery's `resource.Quantity` holds it.
#[derive(Clone, Debug)]
pub struct ExactQuantity {
    negative: bool,
    /// The magnitude's decimal digits (0-9), no leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The magnitude is `digits × 10^exp`.
    exp: i64,
    format: QuantityFormat,
    /// The text as written, which apimachinery prints back when it was already canonical.
    text: Option<String>,
}

/// Why a quantity does not parse, in apimachinery's words (`ErrFormatWrong`, `ErrSuffix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not a number followed by a suffix.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// The suffix is none of the known ones.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

impl ExactQuantity {
    #[must_use]
    pub fn zero() -> Self {
        ExactQuantity {
            negative: false,
            digits: Vec::new(),
            exp: 0,
            format: QuantityFormat::DecimalSi,
            text: None,
        }
    }

    /// A quantity as a client decoded it from JSON: apimachinery's `UnmarshalJSON` trims
    /// spaces before it parses, so `" 64Mi "` is `64Mi` there and here.
    ///
    /// # Errors
    ///
    /// As [`ExactQuantity::parse`].
    pub fn from_api(quantity: &Quantity) -> Result<Self, QuantityError> {
        Self::parse(quantity.0.trim())
    }

    /// apimachinery's `ParseQuantity`: the grammar (so `" 1"` is refused, while `.`, `1.`
    /// and a bare suffix such as `Mi` are zero), the suffixes, rounding up to nano units and
    /// the 2^63-1 cap on binary ones.
    ///
    /// # Errors
    ///
    /// [`QuantityError::Format`] for text outside the grammar, [`QuantityError::Suffix`]
    /// for an unknown suffix.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let s = text;
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(QuantityError::Format);
        }
        let negative = b[0] == b'-';
        let mut pos = usize::from(matches!(b[0], b'-' | b'+'));
        while pos < b.len() && b[pos] == b'0' {
            pos += 1;
        }
        let num_start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let num = &s[num_start..pos];
        let mut denom = "";
        if pos < b.len() && b[pos] == b'.' {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            denom = &s[start..pos];
        }
        let suffix_start = pos;
        while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
            pos += 1;
        }
        if pos < b.len() && matches!(b[pos], b'-' | b'+') {
            pos += 1;
        }
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos < b.len() {
            return Err(QuantityError::Format);
        }
        let (format, exponent) =
            quantity_suffix(&s[suffix_start..]).ok_or(QuantityError::Suffix)?;

        // apimachinery keeps the text when its fast path finds it already canonical.
        let num_text = if num.is_empty() { "0" } else { num };
        let shifted = format!("{num_text}{denom}");
        let kept = match format {
            QuantityFormat::BinarySi => {
                let precision = 15 - num_text.len() as i64 - i64::from(exponent) * 3 / 10 - 1;
                denom.is_empty()
                    && precision >= 0
                    && shifted
                        .parse::<i64>()
                        .ok()
                        .is_some_and(|v| v.checked_mul(1i64 << exponent).is_some() && v & 7 != 0)
            }
            _ => {
                let precision = 18 - (num_text.len() + denom.len()) as i64;
                let scale = i64::from(exponent) - denom.len() as i64;
                precision >= 0
                    && scale >= -9
                    && scale % 3 == 0
                    && !shifted.ends_with("000")
                    && !shifted.starts_with('0')
            }
        };

        let mut q = ExactQuantity {
            negative,
            digits: shifted.bytes().map(|c| c - b'0').collect(),
            exp: -(denom.len() as i64),
            format,
            text: kept.then(|| s.to_string()),
        };
        if format == QuantityFormat::BinarySi {
            for _ in 0..exponent {
                q.double();
            }
        } else {
            q.exp += i64::from(exponent);
        }
        q.normalize();
        q.round_up_to_nano();
        if format == QuantityFormat::BinarySi {
            let max = ExactQuantity::integer(i64::MAX.unsigned_abs());
            if q.compare_magnitude(&max).is_gt() {
                q.digits = max.digits;
                q.exp = 0;
            }
            if !q.digits.is_empty() && q.compare_magnitude(&ExactQuantity::integer(1)).is_lt() {
                q.format = QuantityFormat::DecimalSi;
            }
        }
        q.negative &= !q.digits.is_empty();
        Ok(q)
    }

    fn integer(n: u64) -> Self {
        let mut q = ExactQuantity {
            digits: n.to_string().bytes().map(|c| c - b'0').collect(),
            ..ExactQuantity::zero()
        };
        q.normalize();
        q
    }

    fn double(&mut self) {
        let mut carry = 0;
        for d in self.digits.iter_mut().rev() {
            let v = *d * 2 + carry;
            *d = v % 10;
            carry = v / 10;
        }
        if carry > 0 {
            self.digits.insert(0, carry);
        }
    }

    /// Drops leading zeros and moves trailing zeros into the exponent.
    fn normalize(&mut self) {
        let leading = self.digits.iter().take_while(|d| **d == 0).count();
        self.digits.drain(..leading);
        let trailing = self.digits.iter().rev().take_while(|d| **d == 0).count();
        self.digits.truncate(self.digits.len() - trailing);
        self.exp = if self.digits.is_empty() {
            0
        } else {
            self.exp + trailing as i64
        };
    }

    /// Rounds a non-zero magnitude up to a whole number of nano units, as apimachinery does
    /// (asking for some of a resource gets some).
    fn round_up_to_nano(&mut self) {
        if self.digits.is_empty() || self.exp >= -9 {
            return;
        }
        let dropped = (-9 - self.exp).unsigned_abs();
        if dropped >= self.digits.len() as u64 {
            self.digits = vec![1];
        } else {
            // Normalized digits end in a non-zero digit, so something was dropped.
            self.digits.truncate(self.digits.len() - dropped as usize);
            let mut carry = true;
            for d in self.digits.iter_mut().rev() {
                if !carry {
                    break;
                }
                *d += 1;
                carry = *d == 10;
                if carry {
                    *d = 0;
                }
            }
            if carry {
                self.digits.insert(0, 1);
            }
        }
        self.exp = -9;
        self.normalize();
    }

    fn compare_magnitude(&self, other: &Self) -> std::cmp::Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return std::cmp::Ordering::Equal,
            (true, false) => return std::cmp::Ordering::Less,
            (false, true) => return std::cmp::Ordering::Greater,
            (false, false) => {}
        }
        let top = |q: &Self| q.digits.len() as i64 + q.exp;
        top(self).cmp(&top(other)).then_with(|| {
            let len = self.digits.len().max(other.digits.len());
            let digit = |q: &Self, i: usize| q.digits.get(i).copied().unwrap_or(0);
            (0..len)
                .map(|i| digit(self, i).cmp(&digit(other, i)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }

    /// Whether the quantity is below zero (`-0` is not).
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value in thousandths, rounded up (towards +∞), as kube-scheduler counts cpu
    /// (`MilliValue`); None past an `i128`.
    #[must_use]
    pub fn milli_value(&self) -> Option<i128> {
        self.scaled_up(3)
    }

    /// The value in whole units (bytes, pods, devices), rounded up (towards +∞), as
    /// kube-scheduler counts every resource but cpu (`Value`); None past an `i128`.
    #[must_use]
    pub fn value(&self) -> Option<i128> {
        self.scaled_up(0)
    }

    /// `self × 10^shift`, rounded towards +∞.
    fn scaled_up(&self, shift: i64) -> Option<i128> {
        if self.digits.is_empty() {
            return Some(0);
        }
        let exp = self.exp + shift;
        let dropped = if exp < 0 {
            usize::try_from(exp.unsigned_abs()).unwrap_or(usize::MAX)
        } else {
            0
        };
        let kept = self.digits.len().saturating_sub(dropped);
        let mut magnitude: i128 = 0;
        for d in &self.digits[..kept] {
            magnitude = magnitude.checked_mul(10)?.checked_add(i128::from(*d))?;
        }
        if exp > 0 {
            magnitude = magnitude.checked_mul(10i128.checked_pow(u32::try_from(exp).ok()?)?)?;
        }
        // Normalized digits end in a non-zero one, so dropping any leaves a fraction.
        let fraction = kept < self.digits.len();
        if self.negative {
            Some(-magnitude)
        } else {
            magnitude.checked_add(i128::from(fraction))
        }
    }

    /// `Quantity.Cmp`.
    #[must_use]
    pub fn compare(&self, other: &Self) -> std::cmp::Ordering {
        let sign = |q: &Self| match (q.digits.is_empty(), q.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        sign(self).cmp(&sign(other)).then_with(|| {
            let magnitude = self.compare_magnitude(other);
            if sign(self) < 0 {
                magnitude.reverse()
            } else {
                magnitude
            }
        })
    }

    /// `Quantity.String()`: the kept text, or the canonical form (largest suffix of the
    /// quantity's own kind that leaves a whole mantissa).
    #[must_use]
    pub fn canonical(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        if self.digits.is_empty() {
            return "0".to_string();
        }
        let sign = if self.negative { "-" } else { "" };
        let mut format = self.format;
        if format == QuantityFormat::BinarySi {
            if self
                .compare_magnitude(&ExactQuantity::integer(1024))
                .is_lt()
                || self.exp < 0
            {
                format = QuantityFormat::DecimalSi;
            } else {
                let mut n = self.digits.iter().fold(0u64, |n, d| {
                    n.saturating_mul(10).saturating_add(u64::from(*d))
                });
                for _ in 0..self.exp {
                    n = n.saturating_mul(10);
                }
                let mut power = 0;
                while n >= 1024 && n % 1024 == 0 {
                    n /= 1024;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .get(power)
                    .copied()
                    .unwrap_or_default();
                return format!("{sign}{n}{suffix}");
            }
        }
        let exponent = self.exp.div_euclid(3) * 3;
        let mut mantissa: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        mantissa.push_str(&"0".repeat((self.exp - exponent) as usize));
        let suffix = match (format, exponent) {
            (QuantityFormat::DecimalExponent, 0) => String::new(),
            (QuantityFormat::DecimalExponent, e) => format!("e{e}"),
            // apimachinery's decimal suffixes end at E; past them it prints none at all.
            (_, e) => match e {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => "",
            }
            .to_string(),
        };
        format!("{sign}{mantissa}{suffix}")
    }
}

/// A resource's amount in kube-scheduler's integer units: millicores for `cpu`
/// (`MilliValue`), whole units (bytes, pods, devices) for the rest (`Value`); None if it
/// does not parse or does not fit an `i128`.
#[must_use]
pub fn scheduler_units(resource: &str, quantity: &Quantity) -> Option<i128> {
    let q = ExactQuantity::from_api(quantity).ok()?;
    if resource == "cpu" {
        q.milli_value()
    } else {
        q.value()
    }
}

/// A quantity suffix: its format and power (of 10, or of 2 for binary suffixes).
fn quantity_suffix(suffix: &str) -> Option<(QuantityFormat, i32)> {
    let decimal = |e| Some((QuantityFormat::DecimalSi, e));
    let binary = |e| Some((QuantityFormat::BinarySi, e));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        // Go parses the exponent as an int64 and keeps its low 32 bits.
        s if s.len() > 1 && s.starts_with(['e', 'E']) => s[1..]
            .parse::<i64>()
            .ok()
            .map(|e| (QuantityFormat::DecimalExponent, e as i32)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("100m", "100m")]
    #[case("1000m", "1")]
    #[case("1.5", "1500m")]
    #[case("0.5", "500m")]
    #[case(".5", "500m")]
    #[case("1000", "1k")]
    #[case("2", "2")]
    #[case("+2", "+2")]
    #[case("-1", "-1")]
    #[case("0", "0")]
    #[case("-0", "0")]
    #[case("1e3", "1e3")]
    #[case("1.5e3", "1500")]
    #[case("12e6", "12e6")]
    #[case("1E", "1E")]
    #[case("1Ki", "1Ki")]
    #[case("8Gi", "8Gi")]
    #[case("1024Ki", "1Mi")]
    #[case("1.5Gi", "1536Mi")]
    #[case("1.5Ki", "1536")]
    #[case("0.5Ki", "512")]
    #[case("0.1n", "1n")]
    #[case("1.0000000001", "1000000001n")]
    #[case("16Ei", "9223372036854775807")]
    fn quantities_print_as_kubernetes_prints_them(#[case] text: &str, #[case] canonical: &str) {
        assert_eq!(
            ExactQuantity::parse(text).expect("parses").canonical(),
            canonical
        );
    }

    #[test]
    fn quantities_from_json_are_trimmed_as_unmarshal_json_trims() {
        let q = Quantity(" 64Mi ".into());
        assert_eq!(ExactQuantity::from_api(&q).unwrap().canonical(), "64Mi");
        assert_eq!(
            ExactQuantity::parse(" 64Mi ").err(),
            Some(QuantityError::Format)
        );
    }

    /// Boundary values as `ParseQuantity`, then `MilliValue` and `Value`, give them; None
    /// where `ParseQuantity` refuses the text. A bare suffix, `.` and `1.` are zero and one
    /// upstream (its scanner takes an empty numerator as 0), whatever the regex says.
    #[rstest]
    #[case("1", Some((1000, 1)))]
    #[case("0", Some((0, 0)))]
    #[case("100m", Some((100, 1)))]
    #[case("0.1", Some((100, 1)))]
    #[case("1Ki", Some((1_024_000, 1024)))]
    #[case("1024", Some((1_024_000, 1024)))]
    #[case("1e3", Some((1_000_000, 1000)))]
    #[case("1k", Some((1_000_000, 1000)))]
    #[case("0.5Gi", Some((536_870_912_000, 536_870_912)))]
    #[case("1.5", Some((1500, 2)))]
    #[case("-1", Some((-1000, -1)))]
    #[case("-1.5", Some((-1500, -1)))]
    #[case("1500m", Some((1500, 2)))]
    #[case(".5", Some((500, 1)))]
    #[case("5.", Some((5000, 5)))]
    #[case("2", Some((2000, 2)))]
    #[case("+2", Some((2000, 2)))]
    #[case("-2", Some((-2000, -2)))]
    #[case("250n", Some((1, 1)))]
    #[case("3u", Some((1, 1)))]
    #[case("0.1n", Some((1, 1)))]
    #[case("1M", Some((1_000_000_000, 1_000_000)))]
    #[case("1G", Some((1_000_000_000_000, 1_000_000_000)))]
    #[case("2T", Some((2_000_000_000_000_000, 2_000_000_000_000)))]
    #[case("1P", Some((1_000_000_000_000_000_000, 1_000_000_000_000_000)))]
    #[case("1E", Some((1_000_000_000_000_000_000_000, 1_000_000_000_000_000_000)))]
    #[case("128Mi", Some((134_217_728_000, 134_217_728)))]
    #[case("1.5Gi", Some((1_610_612_736_000, 1_610_612_736)))]
    #[case("1Ti", Some((1_099_511_627_776_000, 1_099_511_627_776)))]
    #[case("1Ei", Some((1_152_921_504_606_846_976_000, 1_152_921_504_606_846_976)))]
    #[case("16Ei", Some((9_223_372_036_854_775_807_000, 9_223_372_036_854_775_807)))]
    #[case("2e3", Some((2_000_000, 2000)))]
    #[case("2E3", Some((2_000_000, 2000)))]
    #[case("1e-3", Some((1, 1)))]
    #[case("1.5e+2", Some((150_000, 150)))]
    #[case("Mi", Some((0, 0)))]
    #[case("Gi", Some((0, 0)))]
    #[case("m", Some((0, 0)))]
    #[case(".", Some((0, 0)))]
    #[case("-0", Some((0, 0)))]
    #[case("1.2.3", None)]
    #[case("1Kb", None)]
    #[case("1KI", None)]
    #[case("1x", None)]
    #[case("12xb", None)]
    #[case("1e", None)]
    #[case("1 Gi", None)]
    #[case("", None)]
    #[case(" 1", None)]
    #[case("1 ", None)]
    fn quantities_have_exact_values(#[case] text: &str, #[case] expected: Option<(i128, i128)>) {
        let parsed = ExactQuantity::parse(text).ok();
        let values = parsed.map(|q| (q.milli_value().unwrap(), q.value().unwrap()));
        assert_eq!(values, expected, "{text}");
    }

    #[rstest]
    #[case("cpu", "500m", Some(500))]
    #[case("cpu", "0.5", Some(500))]
    #[case("cpu", " 1 ", Some(1000))]
    #[case("memory", "0.5Gi", Some(536_870_912))]
    #[case("memory", "1.5", Some(2))]
    #[case("pods", "110", Some(110))]
    #[case("memory", "1Kb", None)]
    fn schedulers_count_cpu_in_millis_and_the_rest_in_units(
        #[case] resource: &str,
        #[case] text: &str,
        #[case] units: Option<i128>,
    ) {
        assert_eq!(scheduler_units(resource, &Quantity(text.into())), units);
    }

    #[test]
    fn quantities_past_an_i128_parse_but_have_no_integer_value() {
        let q = ExactQuantity::parse("1e99").unwrap();
        assert_eq!((q.milli_value(), q.value()), (None, None));
        assert_eq!(q.canonical(), "1e99");
    }

    #[rstest]
    #[case("")]
    #[case("abc")]
    #[case("1 Gi")]
    #[case("1.5.5")]
    #[case("1e3.5")]
    #[case("1e")]
    #[case("1KM")]
    #[case("1Gb")]
    fn malformed_quantities_are_refused(#[case] text: &str) {
        assert!(ExactQuantity::parse(text).is_err(), "{text}");
    }

    #[rstest]
    #[case("100m", "0.2", std::cmp::Ordering::Less)]
    #[case("1Gi", "1G", std::cmp::Ordering::Greater)]
    #[case("1000m", "1", std::cmp::Ordering::Equal)]
    #[case("1e3", "1k", std::cmp::Ordering::Equal)]
    #[case("-2", "-1", std::cmp::Ordering::Less)]
    #[case("-1", "0", std::cmp::Ordering::Less)]
    #[case("128974848", "129e6", std::cmp::Ordering::Less)]
    #[case("123Mi", "128974848", std::cmp::Ordering::Equal)]
    fn quantities_compare_exactly(
        #[case] a: &str,
        #[case] b: &str,
        #[case] order: std::cmp::Ordering,
    ) {
        let (a, b) = (
            ExactQuantity::parse(a).unwrap(),
            ExactQuantity::parse(b).unwrap(),
        );
        assert_eq!(a.compare(&b), order);
    }
}
