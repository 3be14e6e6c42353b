//! The `vectorizer` binary.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("the vectorizer server is not built yet")
}
