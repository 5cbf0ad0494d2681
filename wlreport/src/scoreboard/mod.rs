//! The tracker scoreboard (`scripts/scoreboard.sh`): every workload path of
//! `scripts/scoreboard/paths.tsv` under every tracker, each cell classed against
//! what the workload did.
//!
//! The shell starts trackers and workloads and records what they printed, one
//! normalized file per run (`scripts/trackers/runner-lib.sh` describes it); this
//! module plans the runs, reads those files, works out each tracker's figure and
//! the truth, and classes the cells.

mod cells;
mod classes;
mod expected;
mod readers;
mod render;
mod trackers;
mod truth;

pub use cells::*;
pub use classes::*;
pub use expected::*;
pub use readers::*;
pub use render::*;
pub use trackers::*;
pub use truth::*;

#[cfg(test)]
mod testutil {
    use super::*;

    /// Trackers of every output format, named for the tests: this crate
    /// knows no tracker by name (scripts/trackers/trackers.tsv names them).
    pub const DEFS: &str = "\
exec-user\ttool-a\trun-a.sh\texec\tmapping\tprocess\tbpftrace-user-from-exec\tfrom exec, minus the null run
pid-user\ttool-a\trun-a.sh\tpid\tmapping\twhole\tbpftrace-user-line\tat the --wait line
peak\ttool-a\trun-a.sh\tpeak\tmapping\twhole\tbpftrace-peak-line\tpeak mapped
syscalls\ttool-b\trun-b.sh\texec\tmapping\twhole\tuser-line-minus-null\tfrom exec, minus the null run
uprobes\ttool-a\trun-a.sh\theap\tcalls\tprocess\tbpftrace-exit-lines\tuprobes
stacks-p\ttool-c\trun-c.sh\tpid\tlive\twhole\tbcc-outstanding-stacks\tby pid
stacks-c\ttool-c\trun-c.sh\tcmd\tlive\twhole\tbcc-outstanding-stacks\tfrom exec
preload\ttool-d\trun-d.sh\tpreload\tcalls\twhole\theaptrack-print\tLD_PRELOAD
snapshots\ttool-e\trun-e.sh\theap\tlive\twhole\tmassif-out\tpeak snapshot
pages\ttool-e\trun-e.sh\tpages\tmapping\twhole\tmassif-out-minus-null\tpeak pages
summary\ttool-e\trun-e.sh\tsummary\tcalls\tprocess\tmemcheck-log\ttotal heap usage
contract-calls\tcontract-calls\trun-contract.sh\t1\tcalls\tprocess\tcontract\tthe contract
";

    pub fn defs() -> Vec<Tracker> {
        read_trackers(DEFS).unwrap()
    }

    pub fn tracker(name: &str) -> Tracker {
        defs().into_iter().find(|t| t.name == name).unwrap()
    }

    pub fn truth(per_call: u64, mmap: u64, brk: u64) -> Truth {
        Truth {
            per_call,
            completed: 1,
            calls: 1,
            call_bytes: per_call,
            live_blocks: 1,
            live_bytes: per_call,
            held_bytes: mmap + brk,
            ..Default::default()
        }
    }

    /// A report of `entries`: `(call, args, ret, errno, mapped_bytes,
    /// sysv_bytes, start in ms)`, one process, the first repeat.
    pub fn report(entries: &[(&str, &str, &str, &str, i64, i64, u64)]) -> String {
        ledger_of(
            &entries
                .iter()
                .map(|&(c, a, r, e, m, v, t)| (7, 7, c, a, r, e, m, v, t))
                .collect::<Vec<_>>(),
        )
    }
    #[allow(clippy::type_complexity)]
    pub fn ledger_of(entries: &[(u64, u64, &str, &str, &str, &str, i64, i64, u64)]) -> String {
        let es: Vec<String> = entries
            .iter()
            .map(|&(pid, tid, call, args, ret, errno, mapped, sysv, ms)| {
                let kind = if ["malloc", "calloc", "realloc", "free", "memalign", "aligned_alloc", "fork"].contains(&call) {
                    "libc"
                } else {
                    "syscall"
                };
                format!(
                    r#"{{"repeat":1,"pid":{pid},"tid":{tid},"call":"{call}","kind":"{kind}","args":{{{args}}},"ret":{ret},"errno":{errno},"start_ns":{},"end_ns":{},"mapped_bytes":{mapped},"sysv_bytes":{sysv}}}"#,
                    ms * 1_000_000,
                    ms * 1_000_000 + 1000
                )
            })
            .collect();
        format!(
            r#"{{"ledger_version":1,"workload":"mmap-wl","path":"anon","pid":7,"requested_bytes":8192,"allocator_bytes":8192,"completed":1,"failed_repeat":null,"ledger":[{}]}}"#,
            es.join(",")
        )
    }
    pub fn class_of(kind: Kind, bytes: u64, json: &str) -> (Class, String) {
        classify(kind, &r(bytes, None), &Truth::from_json(json).unwrap())
    }

    pub fn r(bytes: u64, calls: Option<u64>) -> Reading {
        Reading {
            bytes,
            calls,
            ..Default::default()
        }
    }
}
