//! The shopper's voice choices, kept across restarts: the talk mode, who
//! they talk to (nearby or party), and each person's volume and mute. One
//! small TOML file in the user's config directory (`voice.toml`), written
//! whole to a temporary file and renamed over, so a crash mid-write leaves
//! the old choices rather than half a file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vitrine_shared::AccountId;
use vitrine_shared::protocol::VoiceTarget;

/// The file's name in the config directory.
pub const FILE: &str = "voice.toml";
/// A person's volume: 0 (silent) to 200 percent, in steps of this.
pub const MAX_VOLUME: u16 = 200;
pub const VOLUME_STEP: u16 = 25;
/// People remembered at most (volumes and mutes); the file stays small
/// whatever it was edited to hold.
pub const MAX_PEOPLE: usize = 500;

/// How the microphone is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TalkMode {
    /// Only while V (or the controller's talk button) is held.
    #[default]
    PushToTalk,
    /// Whenever the engine hears a voice (voice activity detection).
    OpenMic,
    /// Never.
    Muted,
}

impl TalkMode {
    /// The next mode on the switch: push-to-talk, open mic, muted.
    pub fn next(self) -> Self {
        match self {
            TalkMode::PushToTalk => TalkMode::OpenMic,
            TalkMode::OpenMic => TalkMode::Muted,
            TalkMode::Muted => TalkMode::PushToTalk,
        }
    }
}

/// One person's volume and mute, by account (slots change between rooms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonVoice {
    /// Percent: 100 is as heard.
    pub volume: u16,
    pub muted: bool,
}

impl Default for PersonVoice {
    fn default() -> Self {
        PersonVoice {
            volume: 100,
            muted: false,
        }
    }
}

impl PersonVoice {
    /// The gain the mixer applies: 0 when muted.
    pub fn gain(&self) -> f32 {
        if self.muted {
            0.0
        } else {
            f32::from(self.volume.min(MAX_VOLUME)) / 100.0
        }
    }
}

/// Everything kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoiceSettings {
    pub mode: TalkMode,
    pub target: VoiceTarget,
    /// Only people whose volume or mute differs from the default.
    pub people: BTreeMap<AccountId, PersonVoice>,
}

/// The file's shape: a list of people, since TOML's keys are strings.
#[derive(Serialize, Deserialize, Default)]
struct File {
    #[serde(default)]
    mode: TalkMode,
    #[serde(default)]
    target: VoiceTarget,
    #[serde(default)]
    people: Vec<PersonLine>,
}

#[derive(Serialize, Deserialize)]
struct PersonLine {
    account: u64,
    #[serde(default = "hundred")]
    volume: u16,
    #[serde(default)]
    muted: bool,
}

fn hundred() -> u16 {
    100
}

impl VoiceSettings {
    /// A person's choices (the default when none were made).
    pub fn person(&self, account: AccountId) -> PersonVoice {
        self.people.get(&account).copied().unwrap_or_default()
    }

    /// Sets a person's choices; the default forgets them. False when
    /// nothing changed.
    pub fn set_person(&mut self, account: AccountId, voice: PersonVoice) -> bool {
        let voice = PersonVoice {
            volume: voice.volume.min(MAX_VOLUME),
            ..voice
        };
        if self.person(account) == voice {
            return false;
        }
        if voice == PersonVoice::default() {
            self.people.remove(&account);
        } else {
            if self.people.len() >= MAX_PEOPLE && !self.people.contains_key(&account) {
                // Full: the oldest-numbered default-ish entry makes room.
                let first = *self.people.keys().next().expect("full, so not empty");
                self.people.remove(&first);
            }
            self.people.insert(account, voice);
        }
        true
    }

    pub fn to_toml(&self) -> String {
        let file = File {
            mode: self.mode,
            target: self.target,
            people: self
                .people
                .iter()
                .map(|(a, p)| PersonLine {
                    account: a.0,
                    volume: p.volume,
                    muted: p.muted,
                })
                .collect(),
        };
        toml::to_string(&file).unwrap_or_default()
    }

    /// Reads the file's text; what does not parse is an error, and values
    /// out of range are brought into it.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut settings = VoiceSettings {
            mode: file.mode,
            target: file.target,
            people: BTreeMap::new(),
        };
        for line in file.people.into_iter().take(MAX_PEOPLE) {
            settings.set_person(
                AccountId(line.account),
                PersonVoice {
                    volume: line.volume,
                    muted: line.muted,
                },
            );
        }
        Ok(settings)
    }

    /// The choices saved in `dir`; the defaults when there are none, or
    /// when the file cannot be read (said in the log, never fatal).
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text).unwrap_or_else(|e| {
                bevy::log::warn!("voice settings in {}: {e}; using defaults", path.display());
                Self::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => {
                bevy::log::warn!("voice settings in {}: {e}; using defaults", path.display());
                Self::default()
            }
        }
    }

    /// Writes the choices to `dir`, creating it.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE);
        let partial = dir.join(format!("{FILE}.partial"));
        std::fs::write(&partial, self.to_toml())?;
        std::fs::rename(&partial, &path)
    }
}

/// Where the showroom keeps its settings: `VITRINE_CONFIG_DIR` (via
/// `--config-dir`), else `$XDG_CONFIG_HOME/vitrine`, else
/// `~/.config/vitrine` (`%APPDATA%\vitrine` on Windows).
pub fn default_dir() -> Option<PathBuf> {
    let nonempty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(xdg) = nonempty("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(xdg).join("vitrine"));
    }
    if cfg!(windows)
        && let Some(app_data) = nonempty("APPDATA")
    {
        return Some(PathBuf::from(app_data).join("vitrine"));
    }
    nonempty("HOME").map(|home| PathBuf::from(home).join(".config").join("vitrine"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vitrine-voice-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_choices_survive_a_restart() {
        let dir = dir("round-trip");
        // Nothing saved yet: the defaults.
        assert_eq!(VoiceSettings::load(&dir), VoiceSettings::default());
        let mut settings = VoiceSettings {
            mode: TalkMode::OpenMic,
            target: VoiceTarget::Party,
            ..Default::default()
        };
        assert!(settings.set_person(
            AccountId(7),
            PersonVoice {
                volume: 150,
                muted: false
            }
        ));
        assert!(settings.set_person(
            AccountId(9),
            PersonVoice {
                volume: 100,
                muted: true
            }
        ));
        settings.save(&dir).unwrap();
        let back = VoiceSettings::load(&dir);
        assert_eq!(back, settings);
        assert_eq!(back.person(AccountId(7)).gain(), 1.5);
        assert_eq!(back.person(AccountId(9)).gain(), 0.0);
        assert_eq!(back.person(AccountId(1)), PersonVoice::default());
        // No partial file is left behind.
        assert!(!dir.join(format!("{FILE}.partial")).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_or_hostile_file_gives_the_defaults_or_is_clamped() {
        let dir = dir("broken");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE), "mode = [not toml").unwrap();
        assert_eq!(VoiceSettings::load(&dir), VoiceSettings::default());
        std::fs::write(dir.join(FILE), "mode = \"Shouting\"").unwrap();
        assert_eq!(VoiceSettings::load(&dir), VoiceSettings::default());
        let loud =
            VoiceSettings::from_toml("mode = \"Muted\"\n[[people]]\naccount = 3\nvolume = 60000\n")
                .unwrap();
        assert_eq!(loud.mode, TalkMode::Muted);
        assert_eq!(loud.person(AccountId(3)).volume, MAX_VOLUME);
        // Thousands of people: only MAX_PEOPLE are kept.
        let many: String = (0..MAX_PEOPLE + 50)
            .map(|i| format!("[[people]]\naccount = {i}\nmuted = true\n"))
            .collect();
        assert_eq!(
            VoiceSettings::from_toml(&many).unwrap().people.len(),
            MAX_PEOPLE
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn back_to_the_default_forgets_a_person() {
        let mut settings = VoiceSettings::default();
        let muted = PersonVoice {
            volume: 100,
            muted: true,
        };
        assert!(settings.set_person(AccountId(4), muted));
        assert!(!settings.set_person(AccountId(4), muted));
        assert!(settings.set_person(AccountId(4), PersonVoice::default()));
        assert!(settings.people.is_empty());
        assert_eq!(
            TalkMode::PushToTalk.next().next().next(),
            TalkMode::PushToTalk
        );
    }
}
