//! kmalloc-test on a machine without the module: usage errors and the message
//! that says how to load it. The module itself is tested in a VM
//! (scripts/kernel/vm-test.sh), where this binary drives it.

use std::io::Write;
use std::path::Path;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_kmalloc-test");

#[test]
fn it_is_laid_out_like_the_c_program() {
    assert_laid_out_like_c(BIN, &["--help"]);
}

#[test]
fn start_up_binds_the_c_functions_it_calls_on_first_call() {
    assert_bound_lazily(BIN, &["open", "write", "read", "close"]);
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "kmalloc-test");
}

#[test]
fn cow_is_refused_for_kernel_memory() {
    // Before anything is opened, module or not.
    let r = run(BIN, &["--cow", "4096"]);
    assert_fails(
        &r,
        "kmalloc-test",
        2,
        "'--cow' needs memory the process can write",
    );
}

#[test]
fn module_not_loaded_is_exit_4_with_how_to_load_it() {
    if Path::new("/proc/kmalloc_lkm").exists() {
        // Straight to the stream, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the module is loaded here; this case is for machines without it"
        );
        return;
    }
    let r = run(BIN, &["4096"]);
    assert_fails(
        &r,
        "kmalloc-test",
        4,
        "/proc/kmalloc_lkm does not exist: the kmalloc_lkm module is not loaded",
    );
    assert!(r.stderr.contains("insmod"), "{}", r.stderr);
    // The same code when the message cannot even be written.
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let st = std::process::Command::new(BIN)
        .arg("4096")
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(4));
}

#[test]
fn no_malloc_family_call_at_all() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for args in [
        &["4096"][..],
        &["--json", "-v", "--repeat", "3", "4096"][..],
        &["0"][..],
    ] {
        let (pid, _) = run_released(BIN, args);
        assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
    }
}

/// `--path`/`--from` misuse is a usage error, found before the module's file is
/// opened (here it does not even exist): one line, exit 2.
#[test]
fn bad_path_options_are_one_line_and_exit_2() {
    for (args, words) in [
        (
            &["--path", "slab", "4096"][..],
            "invalid value 'slab' for '--path <PATH>': one of kmalloc,",
        ),
        (
            &["--path", "", "4096"][..],
            "invalid value '' for '--path <PATH>'",
        ),
        (
            &["--path", "KMALLOC", "4096"][..],
            "invalid value 'KMALLOC'",
        ),
        (&["--path"][..], "--path"),
        (
            &["--path", "krealloc", "4096"][..],
            "--path krealloc needs --from SIZE0",
        ),
        (
            &["--from", "64", "4096"][..],
            "--from is for --path krealloc only",
        ),
        (
            &["--path", "vmalloc", "--from", "64", "4096"][..],
            "--from is for --path krealloc only",
        ),
        (
            &["--path", "krealloc", "--from", "0", "4096"][..],
            "invalid value '0' for '--from <SIZE0>'",
        ),
        (
            &["--path", "krealloc", "--from", "1.5KiB", "4096"][..],
            "invalid value '1.5KiB' for '--from <SIZE0>'",
        ),
        (
            &["--path", "krealloc", "--from", "-1", "4096"][..],
            "'--from <SIZE0>'",
        ),
        (&["--path", "krealloc", "--from", "64"][..], "SIZE"),
        (
            &["--force-vmalloc", "65536"][..],
            "--force-vmalloc is for --path kvmalloc only",
        ),
        (
            &["--path", "vmalloc", "--force-vmalloc", "65536"][..],
            "--force-vmalloc is for --path kvmalloc only",
        ),
        (&["--path", "pages", "0"][..], "'<SIZE>'"),
        (
            &["--free-by", "softirq", "4096"][..],
            "invalid value 'softirq' for '--free-by <CONTEXT>': kworker or rcu",
        ),
        (&["--free-by"][..], "--free-by"),
        (
            &["--free-by", "rcu", "--expect", "4096"][..],
            "--expect predicts the allocation only: not with --free-by",
        ),
    ] {
        assert_fails(&run(BIN, args), "kmalloc-test", 2, words);
    }
}

/// The rate mode's bad input: refused before the module is opened (so
/// without it here), one line, exit 2.
#[test]
fn bad_rate_options_are_one_line_and_exit_2() {
    for (args, words) in [
        (
            &["--rate", "10k", "64"][..],
            "--rate needs --duration D or --calls N",
        ),
        (
            &["--rate", "max", "--duration", "1s", "64"][..],
            "give --calls N, not --duration",
        ),
        (
            &["--rate", "10k", "--duration", "1s", "--calls", "5", "64"][..],
            "'--duration' cannot be used with '--calls'",
        ),
        (
            &["--rate", "1MB/s", "--calls", "5", "64"][..],
            "calls a second or max",
        ),
        (
            &["--rate", "0", "--calls", "5", "64"][..],
            "'--rate <RATE>'",
        ),
        (
            &["--rate", "10k", "--calls", "0", "64"][..],
            "'--calls <N>'",
        ),
        (
            &["--rate", "10k", "--duration", "0s", "64"][..],
            "'--duration <D>'",
        ),
        (
            &["--rate", "1", "--duration", "100ms", "64"][..],
            "this one makes 0",
        ),
        (
            &["--duration", "1s", "64"][..],
            "--duration, --calls and --writers are for --rate only",
        ),
        (
            &["--rate", "10k", "--calls", "5", "--path", "vmalloc", "64"][..],
            "--rate makes plain kmallocs",
        ),
        (
            &["--rate", "10k", "--calls", "5", "--expect", "64"][..],
            "--rate makes plain kmallocs",
        ),
        (
            &["--rate", "10k", "--calls", "5", "65537"][..],
            "at most 65536 bytes",
        ),
        (
            &["--rate", "max", "--calls", "262145", "--hold", "1s", "64"][..],
            "--rate with --hold keeps every object: at most 262144 calls, not 262145",
        ),
        (
            &["--rate", "100k", "--duration", "3s", "--hold", "inf", "64"][..],
            "at most 262144 calls, not 300000",
        ),
        (
            &[
                "--rate",
                "max",
                "--calls",
                "200000",
                "--writers",
                "2",
                "--hold",
                "inf",
                "64",
            ][..],
            "at most 262144 calls, not 400000",
        ),
        (
            &["--rate", "10k", "--calls", "5", "--writers", "0", "64"][..],
            "'--writers <N>'",
        ),
        (
            &["--rate", "10k", "--calls", "5", "--writers", "17", "64"][..],
            "a whole number from 1 to 16",
        ),
        (
            &["--writers", "2", "64"][..],
            "--duration, --calls and --writers are for --rate only",
        ),
    ] {
        assert_fails(&run(BIN, args), "kmalloc-test", 2, words);
    }
}

/// `--expect` needs no module: it prints what a tracker should see and exits 0.
#[test]
fn expect_prints_the_tracepoints_of_each_path() {
    let expect = |args: &[&str]| -> serde_json::Value {
        let r = run(BIN, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{args:?}");
        assert_eq!(r.stdout.lines().count(), 1, "{args:?}: one line");
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", r.stdout))
    };
    let first = |j: &serde_json::Value| j["alloc_events"][0].clone();

    let j = expect(&["--expect", "4096"]);
    assert_eq!(j["write"], "4096");
    assert_eq!(first(&j)["event"], "kmem:kmalloc");
    assert_eq!(first(&j)["fields"]["bytes_req"], 4096);
    assert_eq!(first(&j)["count"], 1);
    assert_eq!(j["free_events"][0]["event"], "kmem:kfree");
    // Above 8 KiB this kernel traces a kmalloc twice.
    assert_eq!(first(&expect(&["--expect", "65536"]))["count"], 2);

    let j = expect(&["--path", "kzalloc", "--expect", "100"]);
    assert_eq!(j["write"], "kzalloc 100");
    assert_eq!(j["allocated_bytes"], 128);
    assert_eq!(first(&j)["fields"]["gfp_flags"], "GFP_KERNEL|__GFP_ZERO");

    let j = expect(&["--path", "krealloc", "--from", "100", "--expect", "300"]);
    assert_eq!(j["write"], "krealloc 100 300");
    let sizes: Vec<_> = j["alloc_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "kmem:kmalloc")
        .map(|e| e["fields"]["bytes_req"].clone())
        .collect();
    assert_eq!(sizes, [100, 300]);
    // Shrinking keeps the object: no second kmalloc.
    let j = expect(&["--path", "krealloc", "--from", "300", "--expect", "100"]);
    assert_eq!(j["alloc_events"][1]["count"], 0);
    assert_eq!(j["allocated_bytes"], 512);

    let j = expect(&["--path", "kmem_cache", "--expect", "100"]);
    assert_eq!(first(&j)["event"], "kmem:kmem_cache_alloc");
    assert_eq!(first(&j)["fields"]["name"], "kmalloc_lkm-100");

    let j = expect(&["--path", "vmalloc", "--expect", "10000"]);
    assert_eq!(first(&j)["event"], "vmalloc:alloc_vmap_area");
    assert_eq!(first(&j)["fields"]["size"], 16384);
    assert_eq!(j["allocated_bytes"], 12288);

    assert_eq!(
        expect(&["--path", "kvmalloc", "--expect", "4MiB"])["listed_path"],
        "kvmalloc:kmalloc"
    );
    let j = expect(&["--path", "kvmalloc", "--expect", "8MiB"]);
    assert_eq!(j["listed_path"], "kvmalloc:vmalloc");
    assert!(j["alloc_events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "vmalloc:alloc_vmap_area"));

    // Forced to vmalloc at a size kmalloc serves: the vmalloc events only.
    let j = expect(&["--path", "kvmalloc", "--force-vmalloc", "--expect", "64KiB"]);
    assert_eq!(j["write"], "kvmalloc 65536 vmalloc");
    assert_eq!(j["listed_path"], "kvmalloc:vmalloc");
    assert_eq!(j["allocated_bytes"], 65536);
    assert_eq!(first(&j)["event"], "vmalloc:alloc_vmap_area");
    assert_eq!(first(&j)["fields"]["size"], 69632);
    assert!(j["alloc_events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["event"] != "kmem:kmalloc" || e["count"] == 0));

    let j = expect(&["--path", "pages", "--expect", "10000"]);
    assert_eq!(first(&j)["event"], "kmem:mm_page_alloc");
    assert_eq!(first(&j)["fields"]["order"], 2);
    assert_eq!(j["allocated_bytes"], 16384);

    let j = expect(&["--path", "percpu", "--expect", "100"]);
    assert_eq!(first(&j)["event"], "percpu:percpu_alloc_percpu");
    assert_eq!(first(&j)["fields"]["size"], 100);
    assert_eq!(first(&j)["fields"]["align"], 8);
    // a copy per CPU, as the module's listing counts it
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(j["allocated_bytes"], 100 * cpus);
}

#[test]
fn json_says_which_tracepoints_to_expect_even_when_the_write_fails() {
    let r = run(BIN, &["--json", "--path", "kzalloc", "100"]);
    let j = r.json();
    assert_eq!(j["expect"]["path"], "kzalloc");
    assert_eq!(j["expect"]["alloc_events"][0]["event"], "kmem:kmalloc");
    if !Path::new("/proc/kmalloc_lkm").exists() {
        assert_eq!((r.code, field(&j, "failed_repeat")), (4, 1));
    }
}
