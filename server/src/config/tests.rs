//! Layering order and every class of configuration error.

use std::io::Write;

use vectorizer_core::storage::FsyncPolicy;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

fn load(toml: Option<&str>, vars: &[(&str, &str)], overrides: &Overrides) -> Result<Config, ConfigError> {
    let f = toml.map(file);
    Config::load(f.as_ref().map(|f| f.path()), env(vars), overrides)
}

fn error(toml: Option<&str>, vars: &[(&str, &str)], overrides: &Overrides) -> String {
    load(toml, vars, overrides).expect_err("must be rejected").to_string()
}

#[test]
fn defaults_without_any_source() {
    let c = load(None, &[], &Overrides::default()).expect("defaults");
    assert_eq!(c.http.addr.0.to_string(), "127.0.0.1:15002");
    assert_eq!(c.http.max_body_bytes, 64 * 1024 * 1024);
    assert_eq!(c.storage.data_dir, PathBuf::from("./data"));
    assert_eq!(c.storage.fsync.0, FsyncPolicy::Always);
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.log.level, "info");
    assert!(c.index.threads >= 1);
    assert_eq!(c.runtime.time_slice_us, 100);
    let e = c.engine_config();
    assert_eq!(e.limits, Limits::default());
    assert_eq!(e.snapshots_to_keep, 2);
}

#[test]
fn every_key_maps_to_the_engine_config() {
    let c = load(
        Some(
            r#"
            [http]
            addr = "127.0.0.1:0"
            max_body_bytes = 1000
            [storage]
            data_dir = "/tmp/x"
            fsync = "every_ms:5"
            segment_bytes = 8192
            snapshot_every_ops = 7
            snapshot_every_secs = 8
            snapshots_to_keep = 3
            retention_bytes = 9
            retention_secs = 10
            [limits]
            max_payload_bytes = 11
            max_batch = 12
            max_search_limit = 13
            [index]
            threads = 2
            [log]
            format = "json"
            level = "debug"
            "#,
        ),
        &[],
        &Overrides::default(),
    )
    .expect("valid");
    assert_eq!(c.http.max_body_bytes, 1000);
    assert_eq!(c.log.format, LogFormat::Json);
    let e = c.engine_config();
    assert_eq!(e.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(e.fsync, FsyncPolicy::EveryMs(5));
    assert_eq!(e.segment_bytes, 8192);
    assert_eq!((e.snapshot_every_ops, e.snapshot_every_secs, e.snapshots_to_keep), (7, 8, 3));
    assert_eq!(e.retention, Retention { max_bytes: 9, max_age: Duration::from_secs(10) });
    assert_eq!(e.limits, Limits { max_payload_bytes: 11, max_batch: 12, max_search_limit: 13 });
    assert_eq!(e.index_threads, 2);
}

#[test]
fn file_then_env_then_flags() {
    let toml = r#"
        [storage]
        fsync = "os"
        data_dir = "/from/file"
        segment_bytes = 10000
        [http]
        addr = "127.0.0.1:1111"
    "#;
    // File only.
    let c = load(Some(toml), &[], &Overrides::default()).expect("file");
    assert_eq!(c.storage.fsync.0, FsyncPolicy::Os);
    assert_eq!(c.storage.data_dir, PathBuf::from("/from/file"));
    assert_eq!(c.storage.segment_bytes, 10000);
    // Environment beats the file; numbers arrive as strings.
    let vars = [
        ("VECTORIZER__STORAGE__FSYNC", "every_ms:20"),
        ("VECTORIZER__STORAGE__SEGMENT_BYTES", "20000"),
        ("VECTORIZER__HTTP__ADDR", "127.0.0.1:2222"),
        ("VECTORIZER_BIN", "/ignored/single/underscore"),
        ("PATH", "/usr/bin"),
    ];
    let c = load(Some(toml), &vars, &Overrides::default()).expect("env");
    assert_eq!(c.storage.fsync.0, FsyncPolicy::EveryMs(20));
    assert_eq!(c.storage.segment_bytes, 20000);
    assert_eq!(c.http.addr.0.port(), 2222);
    assert_eq!(c.storage.data_dir, PathBuf::from("/from/file"));
    // Flags beat both.
    let flags = Overrides {
        data_dir: Some("/from/flag".into()),
        http_addr: Some("127.0.0.1:0".into()),
        log_format: Some("json".into()),
        fsync: Some("always".into()),
        ..Overrides::default()
    };
    let c = load(Some(toml), &vars, &flags).expect("flags");
    assert_eq!(c.storage.fsync.0, FsyncPolicy::Always);
    assert_eq!(c.storage.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(c.http.addr.0.port(), 0);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.storage.segment_bytes, 20000, "untouched by flags");
}

#[test]
fn invalid_values_name_key_expectation_value_and_source() {
    let e = error(Some("[storage]\nfsync = \"sometimes\"\n"), &[], &Overrides::default());
    assert!(
        e.starts_with(
            r#"storage.fsync: expected "always", "os" or "every_ms:N" (N >= 1), got "sometimes" (set by config file "#
        ),
        "{e}"
    );
    let e = error(None, &[("VECTORIZER__STORAGE__FSYNC", "every_ms:0")], &Overrides::default());
    assert!(
        e.starts_with("storage.fsync: expected")
            && e.ends_with("(set by environment variable VECTORIZER__STORAGE__FSYNC)"),
        "{e}"
    );
    let e = error(None, &[], &Overrides { fsync: Some("never".into()), ..Overrides::default() });
    assert!(e.starts_with("storage.fsync: ") && e.ends_with("(set by command-line flag --fsync)"), "{e}");
    let e = error(None, &[], &Overrides { http_addr: Some("nowhere".into()), ..Overrides::default() });
    assert!(e.starts_with("http.addr: expected an address like \"127.0.0.1:15002\""), "{e}");
    let e = error(None, &[], &Overrides { log_format: Some("xml".into()), ..Overrides::default() });
    assert!(e.starts_with(r#"log.format: expected "text" or "json", got "xml""#), "{e}");
    let e = error(None, &[("VECTORIZER__STORAGE__SEGMENT_BYTES", "lots")], &Overrides::default());
    assert!(e.starts_with(r#"storage.segment_bytes: expected a non-negative integer, got "lots""#), "{e}");
    let e = error(Some("[limits]\nmax_batch = -1\n"), &[], &Overrides::default());
    assert!(e.starts_with("limits.max_batch: expected a non-negative integer, got -1"), "{e}");
    let e = error(Some("[limits]\nmax_batch = 1.5\n"), &[], &Overrides::default());
    assert!(e.starts_with("limits.max_batch: expected a non-negative integer, got 1.5"), "{e}");
    let e = error(Some("[storage]\ndata_dir = 5\n"), &[], &Overrides::default());
    assert!(e.starts_with("storage.data_dir: expected a string, got the number 5"), "{e}");
    let e = error(Some("[log]\nlevel = \"[[[\"\n"), &[], &Overrides::default());
    assert!(e.starts_with("log.level: expected a log filter"), "{e}");
}

#[test]
fn out_of_range_values_are_rejected() {
    let cases = [
        ("VECTORIZER__STORAGE__SEGMENT_BYTES", "100", "storage.segment_bytes: must be at least 4096, got 100"),
        ("VECTORIZER__STORAGE__SNAPSHOTS_TO_KEEP", "0", "storage.snapshots_to_keep: must be at least 1, got 0"),
        ("VECTORIZER__HTTP__MAX_BODY_BYTES", "0", "http.max_body_bytes: must be at least 1, got 0"),
        ("VECTORIZER__LIMITS__MAX_PAYLOAD_BYTES", "0", "limits.max_payload_bytes: must be at least 1, got 0"),
        ("VECTORIZER__LIMITS__MAX_BATCH", "0", "limits.max_batch: must be at least 1, got 0"),
        ("VECTORIZER__LIMITS__MAX_SEARCH_LIMIT", "0", "limits.max_search_limit: must be at least 1, got 0"),
        ("VECTORIZER__INDEX__THREADS", "0", "index.threads: must be at least 1, got 0"),
        ("VECTORIZER__STORAGE__DATA_DIR", "", "storage.data_dir: must not be empty"),
        (
            "VECTORIZER__RUNTIME__TIME_SLICE_US",
            "99",
            "runtime.time_slice_us: must be 0 (the OS default) or between 100 and 100000 microseconds, got 99",
        ),
        (
            "VECTORIZER__RUNTIME__TIME_SLICE_US",
            "100001",
            "runtime.time_slice_us: must be 0 (the OS default) or between 100 and 100000 microseconds, got 100001",
        ),
    ];
    for (var, value, expected) in cases {
        let e = error(None, &[(var, value)], &Overrides::default());
        assert!(e.starts_with(expected) && e.contains(var), "{var}={value}: {e}");
    }
}

#[test]
fn unknown_keys_and_sections_are_errors() {
    let e = error(Some("[http]\nadr = \"127.0.0.1:1\"\n"), &[], &Overrides::default());
    assert!(e.contains("unknown field `adr`") && e.contains("addr"), "{e}");
    let e = error(Some("[htp]\naddr = \"x\"\n"), &[], &Overrides::default());
    assert!(e.contains("unknown field `htp`"), "{e}");
    let e = error(None, &[("VECTORIZER__STORAGE__FSYNCC", "os")], &Overrides::default());
    assert!(e.contains("unknown field `fsyncc`") && e.contains("VECTORIZER__STORAGE__FSYNCC"), "{e}");
    let e = error(None, &[("VECTORIZER__STORAGE", "os")], &Overrides::default());
    assert!(e.starts_with("VECTORIZER__STORAGE: configuration variables are named VECTORIZER__SECTION__KEY"), "{e}");
    let e = error(None, &[("VECTORIZER__A__B__C", "1")], &Overrides::default());
    assert!(e.starts_with("VECTORIZER__A__B__C: "), "{e}");
    let e = error(Some("http = 5\n"), &[("VECTORIZER__HTTP__ADDR", "127.0.0.1:0")], &Overrides::default());
    assert!(e.starts_with("http: expected a table [http], got a integer"), "{e}");
}

#[test]
fn file_problems_are_reported() {
    let e = Config::load(Some(Path::new("/nonexistent/vectorizer.toml")), env(&[]), &Overrides::default())
        .expect_err("missing file")
        .to_string();
    assert!(e.starts_with("cannot read config file /nonexistent/vectorizer.toml"), "{e}");
    let e = error(Some("[http\naddr = 1"), &[], &Overrides::default());
    assert!(e.contains("is not valid TOML"), "{e}");
}

fn repl_flags(addr: Option<&str>, replica_of: Option<&str>) -> Overrides {
    Overrides { repl_addr: addr.map(str::to_owned), replica_of: replica_of.map(str::to_owned), ..Overrides::default() }
}

#[test]
fn replication_is_off_by_default_and_flags_turn_it_on() {
    let c = load(None, &[], &Overrides::default()).expect("defaults");
    let r = &c.replication;
    assert!(!r.is_enabled());
    assert_eq!(r.listen_addr().to_string(), "127.0.0.1:7001");
    assert_eq!(
        (r.heartbeat_interval_ms, r.lagging_threshold_ms, r.disconnect_timeout_ms),
        (10_000, 1000, 60_000),
        "the spec's thresholds"
    );
    assert_eq!((r.replica_buffer_bytes, r.max_replicas, r.stats_enabled), (256 * 1024 * 1024, 16, true));
    assert_eq!((r.backlog_bytes, r.backlog_secs), (None, None));

    let c = load(None, &[], &repl_flags(Some("127.0.0.1:0"), None)).expect("--repl-addr");
    assert!(c.replication.is_enabled());
    assert_eq!(c.replication.listen_addr().port(), 0);
    let c = load(None, &[], &repl_flags(None, Some("127.0.0.1:7001"))).expect("--replica-of");
    assert!(c.replication.is_enabled());
    assert_eq!(c.replication.replica_of, Some(HostPort("127.0.0.1:7001".into())));
    // Explicitly disabled wins over the implication.
    let c = load(None, &[("VECTORIZER__REPLICATION__ENABLED", "false")], &repl_flags(Some("127.0.0.1:0"), None))
        .expect("disabled");
    assert!(!c.replication.is_enabled());
    let c = load(Some("[replication]\nenabled = true\n"), &[], &Overrides::default()).expect("enabled");
    assert!(c.replication.is_enabled());
    // Setting the address in the file or environment implies it too.
    let c = load(None, &[("VECTORIZER__REPLICATION__REPLICA_OF", "m.internal:7001")], &Overrides::default())
        .expect("env replica_of");
    assert!(c.replication.is_enabled());
}

#[test]
fn every_replication_key_reaches_the_runtime_config() {
    let c = load(
        Some(
            r#"
            [replication]
            enabled = true
            addr = "0.0.0.0:7100"
            replica_of = "10.0.0.1:7001"
            auth_secret = "s3cret"
            heartbeat_interval_ms = 200
            lagging_threshold_ms = 300
            disconnect_timeout_ms = 2000
            replica_buffer_bytes = 4096
            max_replicas = 3
            stats_enabled = false
            node_id = "node-a"
            announce_http = "public.example:15002"
            announce_repl = "public.example:7100"
            backlog_bytes = 1000
            backlog_secs = 20
            reconnect_min_ms = 10
            reconnect_max_ms = 500
            "#,
        ),
        &[],
        &Overrides::default(),
    )
    .expect("valid");
    assert!(!format!("{c:?}").contains("s3cret"), "the secret never appears in Debug output");
    let r = c.replication.runtime_config("127.0.0.1:15002".parse().expect("addr"));
    assert_eq!(r.listen_addr, "0.0.0.0:7100");
    assert_eq!(r.replica_of.as_deref(), Some("10.0.0.1:7001"));
    assert_eq!(r.auth_secret.as_deref(), Some("s3cret"));
    assert_eq!(r.heartbeat_interval, Duration::from_millis(200));
    assert_eq!(r.health.lagging_threshold, Duration::from_millis(300));
    assert_eq!(r.health.disconnect_timeout, Duration::from_millis(2000));
    assert_eq!((r.replica_buffer_bytes, r.max_replicas, r.stats_enabled), (4096, 3, false));
    assert_eq!(r.node_id.as_deref(), Some("node-a"));
    assert_eq!(r.announce_http, "public.example:15002");
    assert_eq!(r.announce_repl.as_deref(), Some("public.example:7100"));
    assert_eq!((r.reconnect_min, r.reconnect_max), (Duration::from_millis(10), Duration::from_millis(500)));
    // The backlog feeds the log's retention and wins over storage.retention_*.
    assert_eq!(c.engine_config().retention, Retention { max_bytes: 1000, max_age: Duration::from_secs(20) });
}

#[test]
fn announce_http_defaults_to_the_bound_address_and_backlog_to_storage_retention() {
    let vars = [("VECTORIZER__STORAGE__RETENTION_BYTES", "77"), ("VECTORIZER__STORAGE__RETENTION_SECS", "88")];
    let c = load(None, &vars, &repl_flags(Some("127.0.0.1:0"), None)).expect("valid");
    let r = c.replication.runtime_config("127.0.0.1:4321".parse().expect("addr"));
    assert_eq!(r.announce_http, "127.0.0.1:4321");
    assert_eq!(r.announce_repl, None, "the runtime announces its bound address");
    assert_eq!(r.auth_secret, None);
    assert_eq!(c.engine_config().retention, Retention { max_bytes: 77, max_age: Duration::from_secs(88) });
    // Only one of the two backlog keys set: each falls back on its own.
    let c =
        load(None, &[("VECTORIZER__REPLICATION__BACKLOG_SECS", "5"), vars[0]], &Overrides::default()).expect("valid");
    assert_eq!(c.engine_config().retention, Retention { max_bytes: 77, max_age: Duration::from_secs(5) });
}

#[test]
fn replication_rules_name_the_key() {
    /// Environment, flags, and the start of the expected error.
    type Case<'a> = (&'a [(&'a str, &'a str)], Overrides, &'a str);
    let cases: &[Case<'_>] = &[
        (
            &[],
            repl_flags(Some("0.0.0.0:7001"), None),
            "replication.auth_secret: required because replication.addr (0.0.0.0:7001) is not a loopback address",
        ),
        (
            &[("VECTORIZER__REPLICATION__HEARTBEAT_INTERVAL_MS", "0")],
            Overrides::default(),
            "replication.heartbeat_interval_ms: must be greater than 0, got 0",
        ),
        (
            &[("VECTORIZER__REPLICATION__LAGGING_THRESHOLD_MS", "0")],
            Overrides::default(),
            "replication.lagging_threshold_ms: must be greater than 0",
        ),
        (
            &[("VECTORIZER__REPLICATION__DISCONNECT_TIMEOUT_MS", "0")],
            Overrides::default(),
            "replication.disconnect_timeout_ms: must be greater than 0",
        ),
        (
            &[("VECTORIZER__REPLICATION__REPLICA_BUFFER_BYTES", "0")],
            Overrides::default(),
            "replication.replica_buffer_bytes: must be greater than 0",
        ),
        (
            &[("VECTORIZER__REPLICATION__MAX_REPLICAS", "0")],
            Overrides::default(),
            "replication.max_replicas: must be greater than 0",
        ),
        (
            &[("VECTORIZER__REPLICATION__RECONNECT_MIN_MS", "0")],
            Overrides::default(),
            "replication.reconnect_min_ms: must be greater than 0",
        ),
        (
            &[
                ("VECTORIZER__REPLICATION__RECONNECT_MIN_MS", "600"),
                ("VECTORIZER__REPLICATION__RECONNECT_MAX_MS", "500"),
            ],
            Overrides::default(),
            "replication.reconnect_min_ms: must be at most replication.reconnect_max_ms (500), got 600",
        ),
        (
            &[
                ("VECTORIZER__REPLICATION__LAGGING_THRESHOLD_MS", "2000"),
                ("VECTORIZER__REPLICATION__DISCONNECT_TIMEOUT_MS", "2000"),
            ],
            Overrides::default(),
            "replication.lagging_threshold_ms: must be less than replication.disconnect_timeout_ms (2000), got 2000",
        ),
        (
            &[("VECTORIZER__REPLICATION__HEARTBEAT_INTERVAL_MS", "60000")],
            Overrides::default(),
            "replication.heartbeat_interval_ms: must be less than replication.disconnect_timeout_ms (60000)",
        ),
        (&[("VECTORIZER__REPLICATION__NODE_ID", " ")], Overrides::default(), "replication.node_id: must not be empty"),
        (
            &[],
            repl_flags(Some("not-an-address"), None),
            "replication.addr: expected an address like \"127.0.0.1:15002\"",
        ),
        (
            &[],
            repl_flags(None, Some("10.0.0.1")),
            "replication.replica_of: expected host:port with a port in 1..=65535",
        ),
        (
            &[("VECTORIZER__REPLICATION__ANNOUNCE_HTTP", "h:0")],
            Overrides::default(),
            "replication.announce_http: expected host:port",
        ),
        (
            &[("VECTORIZER__REPLICATION__ANNOUNCE_REPL", "nohost")],
            Overrides::default(),
            "replication.announce_repl: expected host:port",
        ),
        (
            &[("VECTORIZER__REPLICATION__AUTH_SECRET", "")],
            Overrides::default(),
            "replication.auth_secret: expected a non-empty secret",
        ),
        (
            &[("VECTORIZER__REPLICATION__ENABLED", "yes")],
            Overrides::default(),
            "replication.enabled: expected true or false, got \"yes\"",
        ),
        (
            &[("VECTORIZER__REPLICATION__STATS_ENABLED", "1")],
            Overrides::default(),
            "replication.stats_enabled: expected true or false, got \"1\"",
        ),
    ];
    for (vars, flags, expected) in cases {
        let e = error(None, vars, flags);
        assert!(e.starts_with(expected), "expected {expected:?}, got {e:?}");
    }
    // The origin is named for single-key errors.
    let e = error(None, &[], &repl_flags(None, Some("nowhere")));
    assert!(e.ends_with("(set by command-line flag --replica-of)"), "{e}");
    let e = error(Some("[replication]\nmax_replicas = 0\n"), &[], &Overrides::default());
    assert!(e.contains("(set by config file "), "{e}");
    // With a secret, a non-loopback bind is fine.
    let ok = load(None, &[("VECTORIZER__REPLICATION__AUTH_SECRET", "x")], &repl_flags(Some("0.0.0.0:0"), None));
    assert!(ok.is_ok_and(|c| c.replication.is_enabled()));
    let e = error(Some("[replication]\nsecret = \"x\"\n"), &[], &Overrides::default());
    assert!(e.contains("unknown field `secret`") && e.contains("auth_secret"), "{e}");
}

fn cluster_toml(node_id: u64, nodes: usize, failover: &str) -> String {
    let mut t = format!("[cluster]\nnode_id = {node_id}\nfailover = \"{failover}\"\n");
    for i in 1..=nodes {
        t.push_str(&format!(
            "[[cluster.nodes]]\nid = {i}\nhttp = \"127.0.0.1:{}\"\nrepl = \"127.0.0.1:{}\"\nraft = \"127.0.0.1:{}\"\n",
            15000 + i,
            7000 + i,
            7100 + i
        ));
    }
    t
}

#[test]
fn cluster_mode_takes_addresses_and_id_from_its_node_entry() {
    let c = load(Some(&cluster_toml(2, 3, "auto")), &[], &Overrides::default()).expect("cluster");
    assert!(c.cluster.is_enabled());
    assert_eq!(c.http.addr.0.to_string(), "127.0.0.1:15002");
    assert_eq!(c.replication.listen_addr().to_string(), "127.0.0.1:7002");
    assert!(c.replication.is_enabled());
    assert_eq!(c.replication.node_id.as_deref(), Some("2"));
    assert_eq!(c.replication.announce_repl.as_ref().map(|a| a.0.as_str()), Some("127.0.0.1:7002"));
    let rc = c.cluster.runtime_config(None).expect("runtime");
    assert_eq!(rc.nodes.len(), 3);
    assert_eq!(rc.nodes[0].priority, cluster::DEFAULT_PRIORITY);
    // An explicit http.addr wins for binding; the entry stays the announced address.
    let flags = Overrides { http_addr: Some("127.0.0.1:0".into()), ..Overrides::default() };
    let c = load(Some(&cluster_toml(2, 3, "manual")), &[], &flags).expect("explicit http");
    assert_eq!(c.http.addr.0.to_string(), "127.0.0.1:0");
    assert_eq!(c.replication.announce_http.as_ref().map(|a| a.0.as_str()), Some("127.0.0.1:15002"));
}

#[test]
fn cluster_mode_errors_name_the_key_and_say_why() {
    let e = error(Some(&cluster_toml(1, 2, "auto")), &[], &Overrides::default());
    assert!(e.starts_with("cluster.nodes: "), "{e}");
    assert!(e.contains("at least 3 nodes"), "{e}");
    let e = error(Some(&cluster_toml(9, 3, "auto")), &[], &Overrides::default());
    assert!(e.starts_with("cluster.node_id"), "{e}");
    let e = error(Some(&cluster_toml(1, 3, "sometimes")), &[], &Overrides::default());
    assert!(e.starts_with("cluster.failover: "), "{e}");
    let flags = repl_flags(None, Some("127.0.0.1:7009"));
    let e = error(Some(&cluster_toml(1, 3, "auto")), &[], &flags);
    assert!(e.starts_with("replication.replica_of: "), "{e}");
    let e =
        error(Some(&cluster_toml(1, 3, "auto")), &[("VECTORIZER__REPLICATION__NODE_ID", "abc")], &Overrides::default());
    assert!(e.starts_with("replication.node_id: "), "{e}");
    let e =
        error(Some(&cluster_toml(1, 3, "auto")), &[("VECTORIZER__REPLICATION__DEFAULT_W", "2")], &Overrides::default());
    assert!(e.starts_with("replication.default_w: "), "{e}");
    // Manual failover with two nodes is allowed (no automatic decision needs a surviving majority).
    load(Some(&cluster_toml(1, 2, "manual")), &[], &Overrides::default()).expect("manual, 2 nodes");
}
