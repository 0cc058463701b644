//! The sound card's paths, on a real sound server: what `it::voice_audio`
//! cannot reach, since it pushes samples in and records the mix out.
//!
//! PulseAudio (what a Debian or Ubuntu desktop runs, or PipeWire's pulse
//! server) stands up with two null sinks in place of the hardware: `mic`,
//! whose monitor is the default source, so what the test plays into it is
//! what the microphone hears; and `speakers`, the default sink, whose
//! monitor the test records. The speaker's voice goes through
//! `autoaudiosrc` (picking `pulsesrc`), `webrtcdsp`, Opus, the server, the
//! listener's jitter buffer and mixer, and `autoaudiosink` (picking
//! `pulsesink`).
//!
//! A binary of its own with its own `main` (`harness = false`): clients
//! find the sound server through `PULSE_SERVER`, which is set here before
//! any thread starts (setting the environment is sound only then).

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vitrine_client::voice::{Hearing, Source, Talk, Voice, level_of};
use vitrine_tests::{TestServer, joined_client, pump, step_until, teleport_to};

const WAIT: Duration = Duration::from_secs(30);
/// 20 ms of the recorded interleaved stereo, 48 kHz.
const FRAME: usize = 1920;
/// A 20 ms frame at or above this level (about -60 dBFS) is sound.
const AUDIBLE: u8 = 60;
/// What the shopper says into the microphone (espeak-ng, as the demo's bots).
const LINE: &str =
    "Hello! Does this jacket come in blue? The amber perfume smells lovely, come and try it.";

/// A PulseAudio server of the test's own, on a socket in a temporary
/// directory; killed when dropped.
struct SoundServer {
    child: Child,
    socket: String,
    dir: tempfile::TempDir,
}

impl SoundServer {
    fn start() -> SoundServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = format!("unix:{}", dir.path().join("native").display());
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                // Blocks copied over the socket: shared memory buys nothing
                // here, and its memfd path logs an error per client.
                "--disable-shm=yes",
                "--log-target=stderr",
                "--log-level=error",
                "-L",
            ])
            .arg(format!(
                "module-native-protocol-unix socket={} auth-anonymous=1",
                dir.path().join("native").display()
            ))
            .args([
                "-L",
                "module-null-sink sink_name=mic",
                "-L",
                "module-null-sink sink_name=speakers",
            ])
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("PULSE_RUNTIME_PATH", dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start pulseaudio ({e}): `cargo xtask test` installs it")
            });
        let server = SoundServer { child, socket, dir };
        let ready = step_until(WAIT, || server.pactl(&["info"]));
        assert!(ready, "pulseaudio did not answer within {WAIT:?}");
        assert!(server.pactl(&["set-default-source", "mic.monitor"]));
        assert!(server.pactl(&["set-default-sink", "speakers"]));
        server
    }

    fn pactl(&self, args: &[&str]) -> bool {
        Command::new("pactl")
            .args(args)
            .env("PULSE_SERVER", &self.socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run pactl ({e}): `cargo xtask test` installs it"))
            .success()
    }
}

impl Drop for SoundServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `parec` on the speakers' monitor: everything played, as 48 kHz stereo,
/// counted in 20 ms frames as it comes.
struct Recorder {
    child: Child,
    /// (audible frames, frames) so far.
    counts: Arc<Mutex<(usize, usize)>>,
}

impl Recorder {
    fn start(socket: &str) -> Recorder {
        let mut child = Command::new("parec")
            .args([
                "--device=speakers.monitor",
                "--rate=48000",
                "--channels=2",
                "--format=s16le",
                "--latency-msec=20",
                "--raw",
            ])
            .env("PULSE_SERVER", socket)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run parec ({e}): `cargo xtask test` installs it"));
        let mut out = child.stdout.take().expect("piped");
        let counts = Arc::new(Mutex::new((0, 0)));
        let into = counts.clone();
        std::thread::spawn(move || {
            // One 20 ms frame of bytes at a time; its level, then gone.
            let mut frame = vec![0u8; FRAME * 2];
            while out.read_exact(&mut frame).is_ok() {
                let samples: Vec<i16> = frame
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                let mut counts = into.lock().unwrap();
                counts.0 += usize::from(level_of(&samples) >= AUDIBLE);
                counts.1 += 1;
            }
        });
        Recorder { child, counts }
    }

    /// 20 ms frames recorded so far at or above [`AUDIBLE`].
    fn audible_frames(&self) -> usize {
        self.counts.lock().unwrap().0
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn speak_into_the_microphone(dir: &Path, socket: &str) -> Child {
    let wav = dir.join("line.wav");
    let made = Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg(LINE)
        .status()
        .unwrap_or_else(|e| panic!("cannot run espeak-ng ({e}): `cargo xtask test` installs it"));
    assert!(made.success(), "espeak-ng: {made}");
    Command::new("paplay")
        .arg("--device=mic")
        .arg(&wav)
        .env("PULSE_SERVER", socket)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run paplay ({e}): `cargo xtask test` installs it"))
}

fn main() {
    let sound = SoundServer::start();
    // SAFETY: no thread has started yet (the server above is a child
    // process); every later reader of the environment comes after this.
    unsafe { std::env::set_var("PULSE_SERVER", &sound.socket) };

    a_voice_spoken_into_the_microphone_comes_out_of_the_listeners_speakers(&sound);
    println!("sound: 1 passed");
}

fn a_voice_spoken_into_the_microphone_comes_out_of_the_listeners_speakers(sound: &SoundServer) {
    let server = TestServer::start();
    let mut ada = joined_client(&server, "Ada", "hall");
    let mut bob = joined_client(&server, "Bob", "hall");
    assert!(step_until(WAIT, || {
        pump(&mut [&mut ada, &mut bob]);
        [&ada, &bob].iter().all(|c| c.mirror().avatars.len() == 2)
    }));
    teleport_to(&mut ada, &mut [&mut bob], [0.0, 0.0], 0.0, WAIT);
    teleport_to(
        &mut bob,
        &mut [&mut ada],
        [0.0, 2.0],
        std::f32::consts::PI,
        WAIT,
    );

    // Ada talks on open mic; Bob hears on his speakers. (Ada's microphone
    // opens before any output, so it runs without echo cancellation, as
    // on a machine that only talks.)
    let mut mouth = Voice::new(&Source::Microphone, Hearing::Off).expect("the microphone opens");
    mouth.set_talk(Talk::OpenMic);
    let mut ear = Voice::new(&Source::Pushed, Hearing::Device).expect("the speakers open");
    let recording = Recorder::start(&sound.socket);

    // A second of a silent room first (25 packets' worth heard by the
    // microphone): open mic sends none of it.
    let mut step = |mouth: &mut Voice, ear: &mut Voice| {
        let now = Instant::now();
        mouth.send(&mut ada, now);
        pump(&mut [&mut ada, &mut bob]);
        ear.receive(&mut bob);
        ear.render_due(now);
    };
    let quiet = step_until(WAIT, || {
        step(&mut mouth, &mut ear);
        mouth.sender().stats().gated >= 25
    });
    assert!(quiet, "the microphone heard {:?}", mouth.sender().stats());
    assert_eq!(
        mouth.sender().stats().sent,
        0,
        "open mic sent a silent room: {:?}",
        mouth.sender().stats()
    );

    // Then Ada speaks: her words reach Bob's speakers.
    let mut player = speak_into_the_microphone(sound.dir.path(), &sound.socket);
    let heard = step_until(WAIT, || {
        step(&mut mouth, &mut ear);
        ear.stats().played >= 25 && recording.audible_frames() >= 25
    });
    let _ = player.kill();
    let _ = player.wait();
    assert!(
        heard,
        "sent {:?}; heard {:?}; {} audible 20 ms frames on the speakers",
        mouth.sender().stats(),
        ear.stats(),
        recording.audible_frames()
    );
    // A second of speech or more went through the microphone as speech.
    assert!(
        mouth.sender().stats().sent >= 25,
        "{:?}",
        mouth.sender().stats()
    );
    println!(
        "sound: the microphone sent {:?}; the listener {:?}; {} audible 20 ms frames on the speakers",
        mouth.sender().stats(),
        ear.stats(),
        recording.audible_frames()
    );
}
