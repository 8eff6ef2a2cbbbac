//! The e-commerce engines a store can run.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The engine behind a store; each maps to a Helm chart in `charts/<engine>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Woocommerce,
    Medusa,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::Woocommerce, Engine::Medusa];

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Woocommerce => "woocommerce",
            Engine::Medusa => "medusa",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown engine {0:?}; allowed: woocommerce, medusa")]
pub struct UnknownEngine(pub String);

impl FromStr for Engine {
    type Err = UnknownEngine;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEngine(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_round_trip_through_their_names() {
        for engine in Engine::ALL {
            assert_eq!(engine.as_str().parse::<Engine>(), Ok(engine));
        }
        assert!("shopify".parse::<Engine>().is_err());
    }
}
