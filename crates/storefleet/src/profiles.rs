//! Where the client commands get their API address and token: flags and environment first, then
//! the profile `storefleet login` saved (one per platform), then the token file `just admin`
//! writes. A profile's token is only ever sent to that profile's own address, and the token
//! file's only to the addresses `serve` and `just up` use by default.

use crate::exit_code::{fail, Failure};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The address used when nothing names one: `storefleet serve`'s default.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080";

/// The addresses the token file's token may be sent to: `serve`'s default (also by name) and
/// the dashboard `just up` installs. The file carries no address of its own, so any other
/// server named by `--api-url` could be a stranger's and must not receive it.
pub const TOKEN_FILE_URLS: [&str; 3] = [
    DEFAULT_API_URL,
    "http://localhost:8080",
    "http://storefleet.127.0.0.1.nip.io",
];

/// The client's config file: profiles by name, and which one is current.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One platform: its API address and the token to use there.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub api_url: String,
    pub token: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// `$STOREFLEET_CONFIG`, else `$XDG_CONFIG_HOME/storefleet/config.toml`, else
/// `~/.config/storefleet/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STOREFLEET_CONFIG") {
        return Some(PathBuf::from(path));
    }
    config_dir().map(|d| d.join("config.toml"))
}

fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("storefleet"))
}

/// The token file `just admin` writes (`$STOREFLEET_TOKEN_FILE`, else `~/.config/storefleet/token`).
fn token_file() -> Option<PathBuf> {
    std::env::var_os("STOREFLEET_TOKEN_FILE")
        .map(PathBuf::from)
        .or_else(|| config_dir().map(|d| d.join("token")))
}

/// The config file's contents; an absent file is an empty config.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("{} is not a valid storefleet config", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Write the config readable by its owner only (it holds tokens), replacing it atomically.
pub fn save(path: &Path, config: &Config) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("could not create {}", dir.display()))?;
    let text = toml::to_string(config).context("could not write the config")?;
    let temporary = path.with_extension("toml.new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("could not write {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("could not write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("could not replace {}", path.display()))
}

/// The address and token a client command uses.
#[derive(Debug)]
pub struct Target {
    pub api_url: String,
    pub token: Option<String>,
}

/// Resolve the address and token from the flags/environment (`api_url`, `token`, `profile`)
/// and the config. A named profile that does not exist is an error; with no profile named,
/// the current one is used if there is one.
pub fn resolve(
    api_url: Option<&str>,
    token: Option<&str>,
    profile: Option<&str>,
    config: &Config,
) -> anyhow::Result<Target> {
    let chosen = match profile {
        Some(name) => match config.profiles.get(name) {
            Some(p) => Some(p),
            None => {
                return fail(
                    Failure::Usage,
                    format!(
                        "no profile {name} (profiles: {}); make it with storefleet login --profile {name}",
                        if config.profiles.is_empty() {
                            "none".to_owned()
                        } else {
                            config.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ),
                )
            }
        },
        None => config
            .current
            .as_deref()
            .and_then(|name| config.profiles.get(name)),
    };
    let api_url = api_url
        .map(str::to_owned)
        .or_else(|| chosen.map(|p| p.api_url.clone()))
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let token = token.map(str::to_owned).or_else(|| {
        // A profile's token goes only to its own address.
        chosen
            .filter(|p| same_url(&p.api_url, &api_url))
            .map(|p| p.token.clone())
    });
    Ok(Target { api_url, token })
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether the token file's token may be sent to `api_url` (see [`TOKEN_FILE_URLS`]).
pub fn token_file_serves(api_url: &str) -> bool {
    TOKEN_FILE_URLS.iter().any(|url| same_url(url, api_url))
}

/// The token `just admin` left in its token file, if any and if `api_url` is one of the
/// addresses it is meant for (used when nothing else gives a token).
pub fn token_from_file(api_url: &str) -> Option<String> {
    if !token_file_serves(api_url) {
        return None;
    }
    let text = std::fs::read_to_string(token_file()?).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut profiles = BTreeMap::new();
        profiles.insert(
            "laptop".to_owned(),
            Profile {
                api_url: "http://127.0.0.1:8080".to_owned(),
                token: "sf_laptop".to_owned(),
            },
        );
        profiles.insert(
            "vps".to_owned(),
            Profile {
                api_url: "https://fleet.example.com".to_owned(),
                token: "sf_vps".to_owned(),
            },
        );
        Config {
            current: Some("vps".to_owned()),
            profiles,
        }
    }

    #[test]
    fn the_current_profile_gives_address_and_token_and_flags_override_it() {
        let t = resolve(None, None, None, &config()).ok();
        let t = t.as_ref();
        assert_eq!(
            t.map(|t| t.api_url.as_str()),
            Some("https://fleet.example.com")
        );
        assert_eq!(t.and_then(|t| t.token.as_deref()), Some("sf_vps"));

        let t = resolve(None, Some("sf_flag"), Some("laptop"), &config()).ok();
        assert_eq!(
            t.as_ref().map(|t| t.api_url.as_str()),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(t.as_ref().and_then(|t| t.token.as_deref()), Some("sf_flag"));
    }

    #[test]
    fn a_profiles_token_is_never_sent_to_another_address() {
        let t = resolve(Some("http://elsewhere:8080"), None, None, &config()).ok();
        assert_eq!(
            t.as_ref().map(|t| t.api_url.as_str()),
            Some("http://elsewhere:8080")
        );
        assert_eq!(t.and_then(|t| t.token), None);
    }

    #[test]
    fn the_token_file_serves_only_the_default_addresses() {
        assert!(token_file_serves("http://127.0.0.1:8080"));
        assert!(token_file_serves("http://127.0.0.1:8080/"));
        assert!(token_file_serves("http://localhost:8080"));
        assert!(token_file_serves("http://storefleet.127.0.0.1.nip.io"));
        assert!(!token_file_serves("http://127.0.0.1:8081"));
        assert!(!token_file_serves("https://fleet.example.com"));
        assert!(!token_file_serves("http://127.0.0.1:8080.evil.example"));
    }

    #[test]
    fn an_unknown_profile_is_an_error_naming_the_known_ones() {
        let error = resolve(None, None, Some("prod"), &config())
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(
            error.contains("no profile prod (profiles: laptop, vps)"),
            "{error}"
        );
    }

    #[test]
    fn the_config_round_trips_and_debug_hides_tokens() {
        let text = toml::to_string(&config()).unwrap_or_default();
        assert_eq!(toml::from_str::<Config>(&text).ok(), Some(config()));
        assert!(!format!("{:?}", config()).contains("sf_vps"));
    }
}
