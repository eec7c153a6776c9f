//! Resource quantities held exactly, as apimachinery's `resource.Quantity` holds, compares
//! and prints them: what pod validation needs to compare requests with limits and to
//! quote them as kube-apiserver does.

/// How a quantity was written, which is how apimachinery writes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QuantityFormat {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// A resource quantity held exactly, as apimachinery's `resource.Quantity` holds it.
#[derive(Clone, Debug)]
pub(super) struct Quantity {
    pub(super) negative: bool,
    /// The magnitude's decimal digits (0-9), no leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The magnitude is `digits × 10^exp`.
    exp: i64,
    format: QuantityFormat,
    /// The text as written, which apimachinery prints back when it was already canonical.
    text: Option<String>,
}

const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

impl Quantity {
    pub(super) fn zero() -> Self {
        Quantity {
            negative: false,
            digits: Vec::new(),
            exp: 0,
            format: QuantityFormat::DecimalSi,
            text: None,
        }
    }

    /// apimachinery's `ParseQuantity` (after the JSON decoder's trimming of spaces): the
    /// grammar, the suffixes, rounding up to nano units and the 2^63-1 cap on binary ones.
    pub(super) fn parse(text: &str) -> Result<Self, &'static str> {
        let s = text.trim();
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(QUANTITY_FORMAT_ERROR);
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
            return Err(QUANTITY_FORMAT_ERROR);
        }
        let (format, exponent) =
            quantity_suffix(&s[suffix_start..]).ok_or(QUANTITY_SUFFIX_ERROR)?;

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

        let mut q = Quantity {
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
            let max = Quantity::integer(i64::MAX.unsigned_abs());
            if q.compare_magnitude(&max).is_gt() {
                q.digits = max.digits;
                q.exp = 0;
            }
            if !q.digits.is_empty() && q.compare_magnitude(&Quantity::integer(1)).is_lt() {
                q.format = QuantityFormat::DecimalSi;
            }
        }
        q.negative &= !q.digits.is_empty();
        Ok(q)
    }

    fn integer(n: u64) -> Self {
        let mut q = Quantity {
            digits: n.to_string().bytes().map(|c| c - b'0').collect(),
            ..Quantity::zero()
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

    /// `Quantity.Cmp`.
    pub(super) fn compare(&self, other: &Self) -> std::cmp::Ordering {
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
    pub(super) fn canonical(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        if self.digits.is_empty() {
            return "0".to_string();
        }
        let sign = if self.negative { "-" } else { "" };
        let mut format = self.format;
        if format == QuantityFormat::BinarySi {
            if self.compare_magnitude(&Quantity::integer(1024)).is_lt() || self.exp < 0 {
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
    #[case(" 64Mi ", "64Mi")]
    fn quantities_print_as_kubernetes_prints_them(#[case] text: &str, #[case] canonical: &str) {
        assert_eq!(
            Quantity::parse(text).expect("parses").canonical(),
            canonical
        );
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
        assert!(Quantity::parse(text).is_err(), "{text}");
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
        let (a, b) = (Quantity::parse(a).unwrap(), Quantity::parse(b).unwrap());
        assert_eq!(a.compare(&b), order);
    }
}
