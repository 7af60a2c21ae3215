//! `sightline models list|show|promote|rollback`: the registry of a catalog's heads;
//! `sightline models import|inspect|check`: ONNX models of your own ([`crate::import`],
//! [`crate::check`]).

use anyhow::Result;
use clap::{Args, Subcommand};
use sightline_registry::{Alias, HeadManifest, Registry};

use sightline_core::Settings;

use crate::bucket::BucketArgs;
use crate::check::{self, CheckArgs};
use crate::import::{self, ImportArgs};
use crate::outcome::Outcome;

/// Arguments of `sightline models`.
#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: Action,
}

/// What `sightline models` does.
#[derive(Subcommand)]
enum Action {
    /// Add an ONNX model of your own to the models folder (SIGHTLINE_MODELS_DIR or
    /// models/): writes NAME.onnx, NAME_labels.txt and the manifest NAME.toml, drafted from
    /// the file (Ultralytics exports need only --name), then loads and checks it.
    Import(ImportArgs),
    /// Print an ONNX file's tensors and metadata, and the manifest `import` would write.
    Inspect(ImportArgs),
    /// Run a model of the models folder alone over a few images: its top predictions per
    /// image and its time per image.
    Check(CheckArgs),
    /// Every version of a catalog, its validation numbers and its role.
    List(Target),
    /// One version's manifest and model card (default: the champion).
    Show {
        #[command(flatten)]
        target: Target,
        /// Version to show.
        #[arg(long)]
        version: Option<String>,
    },
    /// Make a version the champion without the gate (an operator's decision).
    Promote {
        #[command(flatten)]
        target: Target,
        /// Version to promote.
        #[arg(long)]
        version: String,
        /// Why, for the alias history.
        #[arg(long, default_value = "promoted by an operator")]
        reason: String,
    },
    /// Return to the champion before the current one.
    Rollback {
        #[command(flatten)]
        target: Target,
        /// Why, for the alias history.
        #[arg(long, default_value = "rolled back by an operator")]
        reason: String,
    },
}

/// A catalog's registry.
#[derive(Args)]
struct Target {
    /// Catalog.
    #[arg(long)]
    catalog: String,
    #[command(flatten)]
    place: BucketArgs,
}

impl Target {
    async fn registry(&self) -> Result<Registry> {
        let (store, bucket) = self.place.open().await?;
        Ok(Registry::new(store, bucket))
    }
}

/// Runs `sightline models`.
pub async fn run(settings: Settings, a: ModelsArgs) -> Result<Outcome> {
    match a.action {
        Action::Import(i) => import::import(&settings, &i)?,
        Action::Inspect(i) => import::inspect(&settings, &i)?,
        Action::Check(c) => check::check(settings, &c).await?,
        Action::List(t) => list(&t).await?,
        Action::Show { target, version } => show(&target, version).await?,
        Action::Promote {
            target,
            version,
            reason,
        } => {
            let alias = target
                .registry()
                .await?
                .promote(&target.catalog, &version, &reason)
                .await?;
            print_alias(&alias);
        }
        Action::Rollback { target, reason } => {
            let alias = target
                .registry()
                .await?
                .rollback(&target.catalog, &reason)
                .await?;
            print_alias(&alias);
        }
    }
    Ok(Outcome::Done)
}

async fn list(t: &Target) -> Result<()> {
    let registry = t.registry().await?;
    let (alias, _) = registry.alias(&t.catalog).await?;
    println!(
        "{:<26} {:<11} {:>7} {:>6} {:>9} {:>9}",
        "version", "role", "classes", "rows", "accuracy", "macro-F1"
    );
    for v in registry.versions(&t.catalog).await? {
        match v {
            Ok(m) => println!(
                "{:<26} {:<11} {:>7} {:>6} {:>9.4} {:>9.4}",
                m.version,
                role(&alias, &m),
                m.classes.len(),
                m.training.rows,
                m.metrics.accuracy,
                m.metrics.macro_f1
            ),
            Err(e) => println!("unreadable: {e}"),
        }
    }
    if alias.champion.is_none() {
        println!("(no champion: the catalog serves its ImageNet classifier)");
    }
    Ok(())
}

fn role(alias: &Alias, m: &HeadManifest) -> &'static str {
    let v = Some(&m.version);
    if alias.champion.as_ref() == v {
        "champion"
    } else if alias.challenger.as_ref() == v {
        "challenger"
    } else if alias.previous.contains(&m.version) {
        "previous"
    } else {
        "-"
    }
}

async fn show(t: &Target, version: Option<String>) -> Result<()> {
    let registry = t.registry().await?;
    let version = match version {
        Some(v) => v,
        None => registry
            .alias(&t.catalog)
            .await?
            .0
            .champion
            .ok_or_else(|| {
                anyhow::anyhow!("catalog {} has no champion; give --version", t.catalog)
            })?,
    };
    let manifest = registry.manifest(&t.catalog, &version).await?;
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(())
}

fn print_alias(alias: &Alias) {
    println!("catalog    {}", alias.catalog);
    println!("champion   {}", alias.champion.as_deref().unwrap_or("none"));
    if let Some(e) = alias.history.last() {
        println!("last       {:?} {} ({})", e.action, e.version, e.reason);
    }
}
