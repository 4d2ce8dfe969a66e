//! `parley keygen`: a new key's user id. Randomness comes from the OS here, in the
//! client; the protocol crate only ever receives a seed.

use anyhow::Context as _;
use parley_protocol::SecretKey;
use serde_json::json;

use super::Outcome;

/// Makes a key from `seed`, or from fresh OS randomness, and reports its user id (and
/// its seed when `show_seed`).
pub(crate) fn run(seed: Option<[u8; 32]>, show_seed: bool) -> anyhow::Result<Outcome> {
    let seed = match seed {
        Some(seed) => seed,
        None => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).context("reading randomness from the operating system")?;
            seed
        }
    };
    let key = SecretKey::from_seed(&seed);
    let user_id = key.user_id().to_string();
    let mut text = format!("{user_id}\n");
    let mut json = json!({ "user_id": user_id });
    if show_seed {
        let seed_hex = hex::encode(key.to_seed());
        text.push_str(&format!("seed: {seed_hex}\n"));
        json["seed_hex"] = json!(seed_hex);
    }
    Ok(Outcome {
        success: true,
        text,
        json,
    })
}

/// Parses `--seed-hex`: exactly 64 hex digits.
pub(crate) fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|error| match error {
        hex::FromHexError::InvalidStringLength | hex::FromHexError::OddLength => {
            format!(
                "a seed is 64 hex digits (32 bytes), not {}",
                text.trim().len()
            )
        }
        other => format!("not hexadecimal: {other}"),
    })?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_key_is_deterministic() {
        let seed = parse_seed(&"07".repeat(32)).unwrap();
        let a = run(Some(seed), false).unwrap();
        let b = run(Some(seed), false).unwrap();
        assert_eq!(a.text, b.text);
        assert_eq!(
            a.text.trim(),
            SecretKey::from_seed(&[7; 32]).user_id().to_string()
        );
        assert!(a.json.get("seed_hex").is_none());
    }

    #[test]
    fn fresh_keys_differ() {
        let a = run(None, false).unwrap();
        let b = run(None, false).unwrap();
        assert_ne!(a.text, b.text);
        assert!(a.text.starts_with("user1"));
    }

    #[test]
    fn seed_is_shown_only_when_asked() {
        let outcome = run(Some([9; 32]), true).unwrap();
        assert_eq!(outcome.json["seed_hex"], json!("09".repeat(32)));
        assert!(outcome.text.contains(&"09".repeat(32)));
    }

    #[test]
    fn bad_seeds_are_explained() {
        assert!(parse_seed("abc").unwrap_err().contains("64 hex digits"));
        assert!(
            parse_seed(&"zz".repeat(32))
                .unwrap_err()
                .contains("not hexadecimal")
        );
    }
}
