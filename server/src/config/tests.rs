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
