//! Kubernetes resource quantities (`100m`, `1.5`, `128Mi`, `1G`, `1e3`) as numbers.

/// The value of a quantity in base units (cores, bytes, pods), or None if it does not parse.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let n: f64 = number.parse().ok()?;
    n.is_finite().then_some(n * factor)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    #[rstest]
    #[case("100m", 0.1)]
    #[case("2", 2.0)]
    #[case("1.5", 1.5)]
    #[case("128Mi", 134217728.0)]
    #[case("1G", 1e9)]
    #[case("1e3", 1000.0)]
    fn quantities(#[case] q: &str, #[case] v: f64) {
        assert!((super::parse(q).unwrap() - v).abs() < 1e-9);
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(super::parse("12xb"), None);
        assert_eq!(super::parse(""), None);
    }
}
