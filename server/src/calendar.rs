//! A show as an iCalendar file (RFC 5545), for "remind me": calendar apps
//! import it with the show's title, start time and line-up, and an alarm
//! ten minutes before. Written by hand: a single event needs no library.

use crate::engagement::Show;

/// Shows are planned as this long; the file needs an end.
pub const SHOW_LENGTH: &str = "PT1H";
/// The alarm, before the show starts.
pub const ALARM_BEFORE: &str = "-PT10M";

/// `YYYYMMDDTHHMMSSZ` for Unix milliseconds (UTC); times before 1970
/// are clamped to it.
pub fn utc_stamp(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// TEXT as RFC 5545 wants it: backslash, semicolon and comma escaped, a
/// line break as `\n`, other control characters dropped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line, folded at 75 octets (never inside a character), with
/// its CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The show as a calendar with one event; `lineup` names its products in
/// order; `host` is the server's host name, for the event's UID.
pub fn show_ics(show: &Show, lineup: &[String], host: &str, now_ms: i64) -> String {
    let mut out = String::new();
    let title = text(&show.title);
    let mut description = "Live shopping on Vitrine.".to_owned();
    if !lineup.is_empty() {
        description.push_str("\nOn the line-up: ");
        description.push_str(&lineup.join(", "));
    }
    for content in [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Vitrine//Live shows//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:show-{}@{}", show.id, text(host)),
        format!("DTSTAMP:{}", utc_stamp(now_ms)),
        format!("DTSTART:{}", utc_stamp(show.scheduled_at_ms)),
        format!("DURATION:{SHOW_LENGTH}"),
        format!("SUMMARY:{title}"),
        format!("DESCRIPTION:{}", text(&description)),
        "BEGIN:VALARM".to_owned(),
        "ACTION:DISPLAY".to_owned(),
        format!("TRIGGER:{ALARM_BEFORE}"),
        format!("DESCRIPTION:{title} starts in 10 minutes"),
        "END:VALARM".to_owned(),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ] {
        line(&mut out, &content);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::ShowId;

    #[test]
    fn times_are_utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        // 2026-12-07 19:30:05 UTC.
        assert_eq!(utc_stamp(1_796_671_805_000), "20261207T193005Z");
        // A leap day.
        assert_eq!(utc_stamp(1_709_164_800_000), "20240229T000000Z");
        assert_eq!(utc_stamp(-5), "19700101T000000Z");
    }

    #[test]
    fn text_is_escaped_and_long_lines_fold_between_characters() {
        let show = Show {
            id: ShowId(7),
            title: "Spring; drop, \\ live\r\nnow ".to_owned() + &"é".repeat(60),
            scheduled_at_ms: 1_796_671_805_000,
            live_at_ms: None,
            ended_at_ms: None,
            lineup: Vec::new(),
            featured: Vec::new(),
        };
        let ics = show_ics(&show, &["Tote, Navy".into()], "shop.example", 0);
        assert!(
            ics.contains("SUMMARY:Spring\\; drop\\, \\\\ live\\nnow "),
            "{ics}"
        );
        assert!(ics.contains("On the line-up: Tote\\, Navy"), "{ics}");
        assert!(ics.contains("\r\nDTSTART:20261207T193005Z\r\n"));
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        // Unfolded, the title is whole again.
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&"é".repeat(60)));
    }
}
