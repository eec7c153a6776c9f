//! Who owns a thing podcheck left on the host, and whether that process still runs. An
//! owner is a pid *and* its start time (field 22 of `/proc/PID/stat`, clock ticks since
//! boot): a pid alone may have been reused by another process since. This is the only test
//! of liveness podcheck uses.

/// A process, named for good: its pid and, where it was known, its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// `None` only in records that lacked it; then only the pid is compared.
    pub start_time: Option<u64>,
}

impl Owner {
    /// This process.
    pub fn this() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start_time: start_time(pid),
        }
    }

    /// Whether the process still runs: the same pid, started at the same time.
    pub fn alive(&self) -> bool {
        match (self.start_time, start_time(self.pid)) {
            (_, None) => false,
            (Some(recorded), Some(now)) => recorded == now,
            (None, Some(_)) => true,
        }
    }

    /// What an owner file holds: `PID STARTTIME\n`.
    pub fn stamp(&self) -> String {
        match self.start_time {
            Some(t) => format!("{} {t}\n", self.pid),
            None => format!("{}\n", self.pid),
        }
    }

    /// Reads an owner file's contents (`PID [STARTTIME]`).
    pub fn parse(contents: &str) -> Option<Owner> {
        let mut words = contents.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        let start_time = match words.next() {
            Some(w) => Some(w.parse().ok()?),
            None => None,
        };
        Some(Owner { pid, start_time })
    }

    /// The owner as a part of a name: `PID-STARTTIME` (`PID-0` where it is unknown).
    pub fn tag(&self) -> String {
        format!("{}-{}", self.pid, self.start_time.unwrap_or(0))
    }

    /// The owner a name `PREFIX` + [`tag`](Owner::tag) + `-…` carries.
    pub fn from_name(name: &str, prefix: &str) -> Option<Owner> {
        let mut parts = name.strip_prefix(prefix)?.split('-');
        let pid = parts.next()?.parse().ok()?;
        let start_time = parts.next()?.parse().ok().filter(|t| *t != 0);
        Some(Owner { pid, start_time })
    }
}

/// Field 22 (`starttime`) of a `/proc/PID/stat` line.
pub fn stat_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn start_time(pid: u32) -> Option<u64> {
    stat_start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_old_records_parse() {
        let me = Owner::this();
        assert!(me.start_time.is_some());
        assert_eq!(Owner::parse(&me.stamp()), Some(me));
        assert_eq!(
            Owner::parse("42\n"),
            Some(Owner {
                pid: 42,
                start_time: None
            })
        );
        assert_eq!(Owner::parse("x 1"), None);
        assert_eq!(Owner::parse("42 x"), None);
        assert_eq!(Owner::parse(""), None);
    }

    #[test]
    fn this_process_lives_and_a_reused_pid_does_not() {
        let me = Owner::this();
        assert!(me.alive());
        let reused = Owner {
            start_time: me.start_time.map(|t| t + 1),
            ..me
        };
        assert!(!reused.alive());
        let gone = Owner {
            pid: u32::MAX - 1,
            start_time: None,
        };
        assert!(!gone.alive());
    }

    #[test]
    fn names_carry_their_owner() {
        let me = Owner::this();
        let name = format!("pccni-{}-7", me.tag());
        assert_eq!(Owner::from_name(&name, "pccni-"), Some(me));
        assert_eq!(
            Owner::from_name("cp-77-0-ab12cd34", "cp-"),
            Some(Owner {
                pid: 77,
                start_time: None
            })
        );
        assert_eq!(Owner::from_name("pccni-x-4", "pccni-"), None);
        assert_eq!(Owner::from_name("other", "pccni-"), None);
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "123 (a b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20";
        assert_eq!(stat_start_time(stat), Some(4242));
        assert_eq!(stat_start_time("garbage"), None);
    }

    #[test]
    fn owners_round_trip_and_start_times_are_field_22() {
        let owner = |pid, start_time| Owner { pid, start_time };
        assert_eq!(
            Owner::parse(&owner(42, Some(7)).stamp()),
            Some(owner(42, Some(7)))
        );
        assert_eq!(
            Owner::parse(&owner(42, None).stamp()),
            Some(owner(42, None))
        );
        let stat = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    5 3 0 0 20 0 1 0 987654 1000000 200 18446744073709551615";
        assert_eq!(stat_start_time(stat), Some(987654));
        assert_eq!(stat_start_time("1234 (short) S 1"), None);
    }

    #[test]
    fn owner_records_without_a_start_time_compare_the_pid() {
        let me = std::process::id();
        assert!(Owner::parse(&format!("{me}")).is_some_and(|o| o.alive()));
        assert!(!Owner::parse(&format!("{me} 1")).is_some_and(|o| o.alive()));
    }
}
