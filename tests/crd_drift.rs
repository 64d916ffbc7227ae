//! The committed CRD under crds/ must be exactly what the Rust types generate.

#[test]
fn committed_crd_matches_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crds/edasappmemberships.edas.operators.dev.yaml");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = edas_operator::crd::crd_yaml().expect("CRD serializes");
    assert!(
        committed == generated,
        "{} drifted from src/crd.rs: regenerate with `cargo run -- crd > {}`",
        path.display(),
        path.display()
    );
}
