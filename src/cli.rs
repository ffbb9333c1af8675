//! The command line, as data. Only this module knows clap; `cmd::*` turns
//! these structs into the engines' own configuration types once.

// The doc comments below are the `--help` text, where `<PKG>` and
// `<command>` are literal placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Parses `std::env::args_os`, exiting with status 2 on a usage error (0 for
/// `--help`/`--version`).
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(cli) = parse_narrowed(&args) {
        return cli;
    }
    match parse_full(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    }
}

/// `args` parsed by the parser of every command, as `parse` falls back to.
fn parse_full(args: &[OsString]) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let mut cmd = empty_env_is_unset(Cli::command());
    let matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches)
        .map_err(|e| e.format(&mut cmd))
        .and_then(Cli::options_where_they_act)
}

/// `cmd` with every option whose environment variable is set but empty
/// reading it as unset, as Buildroot's scripts do (`test "${VAR}" != ""`):
/// `make VAR=` and the export of an undefined make variable put empty
/// values in the environment, and clap would take one as an empty option
/// value ("a value is required") where an unset variable leaves the option
/// to its default.
fn empty_env_is_unset(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        let empty = a
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.is_empty());
        if empty {
            a.env(None::<&'static str>)
        } else {
            a
        }
    })
    .mut_subcommands(empty_env_is_unset)
}

/// The value of the environment variable `name` as one of `T`'s values, for
/// an option whose default the environment may set: `None` when it is unset
/// or empty (as `make VAR=` exports it), else the value or a reason naming
/// the values it may take.
pub fn env_choice<T: ValueEnum>(name: &str) -> Result<Option<T>, String> {
    let Some(raw) = std::env::var_os(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    if let Ok(v) = T::from_str(&text, false) {
        return Ok(Some(v));
    }
    let names: Vec<String> = T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|p| p.get_name().to_owned())
        .collect();
    Err(format!("{name}={text}: not one of {}", names.join(", ")))
}

/// `args` parsed by a parser built for the one command they name, or `None`
/// when that parser refuses them or they name no build-step command.
///
/// ppd runs once or more per package step, and building the whole command
/// line (every command's arguments) before matching is most of clap's
/// third of a millisecond per call. When the first argument is a build
/// step's command, only that command's arguments and the global options are
/// built. Whatever it does not accept (help, a usage error, an option before
/// the command name) is left to the full parser, so every message, help
/// text and exit status is the full parser's; what it accepts, it parses as
/// the full parser does (the tests compare the two on a corpus of command
/// lines). `explain` and `generate` are left out: interactive, and with
/// rules of their own about the global options.
fn parse_narrowed(args: &[OsString]) -> Option<Cli> {
    use clap::FromArgMatches as _;
    let sub = narrowed_command(args.get(1)?.to_str()?)?;
    let cmd = GlobalArgs::augment_args(clap::Command::new("ppd"))
        .subcommand(empty_env_is_unset(sub))
        .subcommand_required(true);
    let matches = cmd.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

/// The build-step command `name` with its arguments alone, as the derived
/// parser builds it (its help texts aside), or `None`.
fn narrowed_command(name: &str) -> Option<clap::Command> {
    let sub = clap::Command::new(name.to_owned());
    Some(match name {
        "prepare" => PrepareArgs::augment_args(sub),
        "finalize" => FinalizeArgs::augment_args(sub),
        "copy-tree" => CopyTreeArgs::augment_args(sub),
        "fixup-paths" => FixupPathsArgs::augment_args(sub),
        "check-rpath" => CheckRpathArgs::augment_args(sub),
        "fix-rpath" => FixRpathArgs::augment_args(sub),
        "file-list" => FileListArgs::augment_args(sub),
        "check-bin-arch" => CheckBinArchArgs::augment_args(sub),
        "unshare" => UnshareArgs::augment_args(sub),
        "outdated" => OutdatedArgs::augment_args(sub),
        _ => return None,
    })
}

/// Per-package directories for make-driven embedded builds.
///
/// ppd fills each package's private `per-package/<pkg>/{host,target}` trees
/// from its dependencies, assembles the final trees, rewrites per-package
/// paths in text files and RPATHs, and audits the result, in one process per
/// step instead of thousands of rsync, grep, file, sed, readelf and patchelf
/// processes.
///
/// Exit status: 0 success; 1 problems found that the command was asked to
/// fail on (conflicts with --conflicts=error, RPATH findings, overwrites with
/// --overwrites=error, files of another architecture in check-bin-arch); 2
/// usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = "ppd", version, max_term_width = 100)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `-v` and `-j` are global (before or after the command name), but
    /// `explain` and `generate` print no statistics and start no threads:
    /// there they are a usage error, as `-n` and `--progress` are on the
    /// commands where they would do nothing.
    fn options_where_they_act(self) -> Result<Cli, clap::Error> {
        use clap::{error::ErrorKind, CommandFactory};
        let name = match self.command {
            Command::Explain(_) => "explain",
            Command::Generate(_) => "generate",
            _ => return Ok(self),
        };
        let given = if self.global.verbose {
            "--verbose"
        } else if self.global.jobs.is_some() {
            "--jobs <N>"
        } else {
            return Ok(self);
        };
        Err(Cli::command().error(
            ErrorKind::ArgumentConflict,
            format!("the argument '{given}' cannot be used with 'ppd {name}'"),
        ))
    }
}

/// Options of the commands that act on them, before or after the command name.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Print one line of statistics on stderr when done.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Use N threads, at most 4 per core and 256 [default: tokens from
    /// make's jobserver if reachable, else the number of cores; env:
    /// PPD_JOBS].
    #[arg(short = 'j', long = "jobs", value_name = "N", global = true)]
    pub jobs: Option<usize>,
}

/// `-n`, for the commands that change something.
#[derive(Args, Debug, Clone, Default)]
pub struct DryRunArgs {
    /// Print the plan instead of changing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// `--progress`, for the commands that can run long enough to show one.
#[derive(Args, Debug, Clone)]
pub struct ProgressArgs {
    /// Progress bar: auto shows one only on a terminal and never under make.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

/// When to draw a progress bar.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressArg {
    /// On a terminal, not under make (MAKELEVEL unset).
    Auto,
    /// Whenever stderr is a terminal.
    Always,
    /// Never.
    Never,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fill a package's per-package host and target trees from its dependencies.
    #[command(after_help = PREPARE_EXAMPLE)]
    Prepare(PrepareArgs),
    /// Merge every package's per-package tree into a final tree (copy or hard links).
    #[command(after_help = FINALIZE_EXAMPLE)]
    Finalize(FinalizeArgs),
    /// Copy one tree into another, like `rsync -auH --exclude=...`.
    #[command(after_help = COPY_TREE_EXAMPLE)]
    CopyTree(CopyTreeArgs),
    /// Rewrite other packages' per-package paths in text files.
    #[command(after_help = FIXUP_EXAMPLE)]
    FixupPaths(FixupPathsArgs),
    /// Check host executables' RPATHs (Buildroot-compatible), or audit any tree.
    #[command(after_help = CHECK_RPATH_EXAMPLE)]
    CheckRpath(CheckRpathArgs),
    /// Rewrite RPATHs of a host, staging or target tree like Buildroot's fix-rpath.
    #[command(after_help = FIX_RPATH_EXAMPLE)]
    FixRpath(FixRpathArgs),
    /// List the files a package installed itself and report overwrites.
    #[command(after_help = FILE_LIST_EXAMPLE)]
    FileList(FileListArgs),
    /// Check the architecture of a package's target files (Buildroot's check-bin-arch).
    #[command(after_help = CHECK_BIN_ARCH_EXAMPLE)]
    CheckBinArch(CheckBinArchArgs),
    /// Give a package's own files that other trees share a private inode (before a rebuild).
    #[command(after_help = UNSHARE_EXAMPLE)]
    Unshare(UnshareArgs),
    /// List the packages holding copies that differ from what their dependencies provide now.
    #[command(after_help = OUTDATED_EXAMPLE)]
    Outdated(OutdatedArgs),
    /// Tell where a file of a per-package or final tree comes from.
    #[command(after_help = EXPLAIN_EXAMPLE)]
    Explain(ExplainArgs),
    /// Print the man pages or shell completions (generated from these definitions).
    #[command(after_help = GENERATE_EXAMPLE)]
    Generate(GenerateArgs),
}

impl Command {
    /// True if the command was asked for a dry run (only the commands that
    /// change something take `-n`).
    pub fn dry_run(&self) -> bool {
        match self {
            Command::Prepare(a) => a.dry.dry_run,
            Command::Finalize(a) => a.dry.dry_run,
            Command::CopyTree(a) => a.dry.dry_run,
            Command::FixupPaths(a) => a.dry.dry_run,
            Command::FixRpath(a) => a.dry.dry_run,
            Command::FileList(a) => a.dry.dry_run,
            Command::Unshare(a) => a.dry.dry_run,
            Command::CheckRpath(_)
            | Command::CheckBinArch(_)
            | Command::Outdated(_)
            | Command::Explain(_)
            | Command::Generate(_) => false,
        }
    }

    /// The `--progress` choice (only the commands that draw a bar take it).
    pub fn progress(&self) -> ProgressArg {
        match self {
            Command::Finalize(a) => a.progress.progress,
            Command::CopyTree(a) => a.progress.progress,
            _ => ProgressArg::Never,
        }
    }
}

/// What to do when two sources provide one path differently.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictArg {
    /// Report on stderr and let the last source win.
    Warn,
    /// Report, let the last source win, and exit with status 1.
    Error,
    /// Let the last source win silently.
    Ignore,
}

const PREPARE_EXAMPLE: &str = "\
Example:
  ppd prepare --per-package-dir output/per-package --pkg libfoo host-pkgconf toolchain zlib

  merges per-package/{host-pkgconf,toolchain,zlib}/host/ into per-package/libfoo/host/ and
  the target/ trees likewise, as hard links, in that order (the last one wins a path).";

/// `ppd prepare`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("dest").required(true).multiple(true)
    .args(["pkg", "host_dir", "target_dir"])))]
pub struct PrepareArgs {
    /// The per-package directory root.
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: PathBuf,

    /// The package being prepared: destinations are DIR/NAME/host and DIR/NAME/target.
    #[arg(long, value_name = "NAME")]
    pub pkg: Option<String>,

    /// Host destination (instead of, or overriding, the one --pkg implies).
    #[arg(long, value_name = "DIR")]
    pub host_dir: Option<PathBuf>,

    /// Target destination (instead of, or overriding, the one --pkg implies).
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,

    /// What to do when dependencies provide one path as different files.
    #[arg(long, value_enum, default_value_t = ConflictArg::Warn)]
    pub conflicts: ConflictArg,

    /// Skip dependencies whose per-package tree does not exist.
    #[arg(long)]
    pub allow_missing: bool,

    /// Then rewrite other packages' per-package paths in the host tree's text
    /// files to DIR/NAME (needs --pkg).
    #[arg(long, requires = "pkg")]
    pub fixup_paths: bool,

    /// With --fixup-paths: remember in FILE which inodes need no rewriting
    /// (as fixup-paths --cache), so later steps stat them instead of
    /// reading them.
    #[arg(long, value_name = "FILE", requires = "fixup_paths")]
    pub fixup_cache: Option<PathBuf>,

    /// Write no manifest and do no stale-entry cleanup (plain rsync-loop behaviour).
    #[arg(long)]
    pub no_manifest: bool,

    /// How dependencies' files are placed: hard links, clones sharing their
    /// blocks but not their inode (reflink), or a btrfs snapshot of one
    /// dependency's tree then clones; auto picks the best the destination's
    /// filesystem supports (hard links on ext4) [default: auto; env:
    /// PPD_LINK_MODE].
    #[arg(long, value_enum)]
    pub link_mode: Option<PrepareLinkModeArg>,

    /// With snapshot and auto on btrfs: snapshot a dependency's tree only
    /// where that saves at least N entries (a snapshot commits the
    /// filesystem's transaction, which costs as much as thousands of
    /// clones); below, the tree gets clones.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3000,
        env = "PPD_SNAPSHOT_MIN_ENTRIES"
    )]
    pub snapshot_min_entries: u64,

    /// Print the conflicts and statistics as one JSON document on stdout
    /// (docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,

    /// The dependencies, merged in the order given.
    #[arg(value_name = "DEP")]
    pub deps: Vec<String>,
}

/// `prepare --link-mode`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrepareLinkModeArg {
    /// The best the destination's filesystem supports.
    Auto,
    /// Hard links to the dependencies' inodes.
    Hardlink,
    /// Clones (FICLONE): own inodes, shared data blocks.
    Reflink,
    /// A btrfs snapshot of one dependency's tree, then clones.
    Snapshot,
}

/// `finalize --link-mode`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizeLinkModeArg {
    /// New inodes; the kernel shares blocks where the filesystem can.
    Auto,
    /// Hard links to the packages' inodes (as --mode hardlink).
    Hardlink,
    /// New inodes, each a clone (FICLONE) of the package's file.
    Reflink,
    /// As reflink (a final tree merges every package: no one tree to snapshot).
    Snapshot,
    /// New inodes with their data copied, sharing no blocks.
    Copy,
}

/// Which tree of each package.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeArg {
    /// `DIR/PKG/host`.
    Host,
    /// `DIR/PKG/target`.
    Target,
}

/// How final trees get their files.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeModeArg {
    /// New inodes with the winner's content and metadata.
    Copy,
    /// Hard links to the packages' inodes.
    Hardlink,
}

const FINALIZE_EXAMPLE: &str = "\
Example:
  ppd finalize --per-package-dir output/per-package --tree target --dest output/target \\
      busybox libfoo toolchain zlib";

/// `ppd finalize`.
#[derive(Args, Debug)]
pub struct FinalizeArgs {
    /// The per-package directory root.
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: PathBuf,

    /// Which tree of each package to merge.
    #[arg(long, value_enum)]
    pub tree: TreeArg,

    /// The final tree to fill.
    #[arg(long, value_name = "DEST")]
    pub dest: PathBuf,

    /// Copy (default, protects the per-package trees) or hard-link.
    #[arg(long, value_enum, default_value_t = MergeModeArg::Copy)]
    pub mode: MergeModeArg,

    /// How a copy's data is written: auto (the kernel shares blocks where
    /// it can), reflink (a clone per file), copy (data copied); hardlink
    /// is --mode hardlink.
    #[arg(long, value_enum, default_value_t = FinalizeLinkModeArg::Auto)]
    pub link_mode: FinalizeLinkModeArg,

    /// What to do when packages provide one path with different content.
    #[arg(long, value_enum, default_value_t = ConflictArg::Warn)]
    pub conflicts: ConflictArg,

    /// Also write the overwrite report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Print the overwrites and statistics as one JSON document on stdout
    /// (docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub progress: ProgressArgs,

    /// The packages, merged in the order given (the last one wins a path).
    #[arg(value_name = "PKG")]
    pub pkgs: Vec<String>,
}

const COPY_TREE_EXAMPLE: &str = "\
Examples:
  ppd copy-tree --exclude=/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM \\
      --dest output/build/rootfs-ext2/target output/target
  ppd copy-tree --exclude=/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM \\
      output/target output/build/rootfs-ext2/target

  The destination is --dest DEST, as in finalize, or the second operand.";

/// `ppd copy-tree`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["dest", "dest_operand"])))]
pub struct CopyTreeArgs {
    /// Where to copy it (also accepted as the second operand).
    #[arg(long, value_name = "DEST")]
    pub dest: Option<PathBuf>,

    /// Skip paths matching PATTERN (rsync --exclude syntax: a leading `/`
    /// anchors at SRC, a trailing `/` matches only directories, `*`, `?`, `[...]`).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// Print the clashes and statistics as one JSON document on stdout
    /// (docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub progress: ProgressArgs,

    /// The tree to copy.
    #[arg(value_name = "SRC")]
    pub src: PathBuf,

    /// Where to copy it, as an operand (rsync's order: SRC DEST).
    #[arg(value_name = "DEST", conflicts_with = "dest")]
    pub dest_operand: Option<PathBuf>,
}

impl CopyTreeArgs {
    /// The destination, given as `--dest` or as the second operand.
    pub fn dest(&self) -> &std::path::Path {
        self.dest
            .as_deref()
            .or(self.dest_operand.as_deref())
            .expect("BUG: clap requires --dest or the DEST operand")
    }
}

const FIXUP_EXAMPLE: &str = "\
Example:
  ppd fixup-paths --per-package-dir output/per-package --new-root output/per-package/libfoo \\
      output/per-package/libfoo/host";

/// `ppd fixup-paths`.
#[derive(Args, Debug)]
pub struct FixupPathsArgs {
    /// The per-package directory root whose `DIR/<pkg>/` prefixes are rewritten.
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: PathBuf,

    /// What `DIR/<pkg>` becomes.
    #[arg(long, value_name = "ROOT")]
    pub new_root: PathBuf,

    /// Also rewrite absolute symlink targets that point into another package's directory.
    #[arg(long)]
    pub symlinks: bool,

    /// Remember in FILE which inodes need no rewriting (checked by device,
    /// inode, size and mtime), so later runs stat them instead of reading them.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,

    /// Print the rewrites and statistics as one JSON document on stdout
    /// (docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,

    /// The trees to scan.
    #[arg(value_name = "TREE", required = true)]
    pub trees: Vec<PathBuf>,
}

const CHECK_RPATH_EXAMPLE: &str = "\
Examples:
  ppd check-rpath --host-dir output/per-package/host-foo/host \\
      --per-package-dir output/per-package host-foo
  ppd check-rpath --audit --root output/target output/target
  ppd check-rpath --audit --buildroot-output output";

/// `ppd check-rpath`.
#[derive(Args, Debug)]
pub struct CheckRpathArgs {
    /// Audit any tree or file against the full rule set instead of the
    /// Buildroot-compatible host check.
    #[arg(long)]
    pub audit: bool,

    /// Host directory to check (compatible mode).
    #[arg(
        long,
        value_name = "DIR",
        env = "HOST_DIR",
        required_unless_present = "audit"
    )]
    pub host_dir: Option<PathBuf>,

    /// Per-package directory root (compatible mode).
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: Option<PathBuf>,

    /// The root DT_NEEDED and absolute RPATH entries resolve in (audit mode).
    #[arg(long, value_name = "DIR", requires = "audit")]
    pub root: Option<PathBuf>,

    /// Print the findings and statistics as one JSON document on stdout
    /// (docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// The kind of tree audited: host trees resolve on `/` and need
    /// --host-dir; the default is an installed system rooted at --root (audit mode).
    #[arg(long, value_enum, value_name = "KIND", requires = "audit")]
    pub tree: Option<RpathTreeArg>,

    /// Another build location no RPATH may point into (audit mode, repeatable).
    #[arg(long, value_name = "DIR", requires = "audit")]
    pub build_dir: Vec<PathBuf>,

    /// Leave out findings of this rule, e.g. R12 (audit mode, repeatable).
    #[arg(long, value_name = "RULE", requires = "audit")]
    pub ignore: Vec<String>,

    /// Audit a whole Buildroot output directory: host/ with the host
    /// rules, the staging sysroot and target/ each as its own root with the
    /// target's architecture (audit mode). A single PATH that is an output
    /// directory is audited the same way.
    #[arg(
        long,
        value_name = "DIR",
        requires = "audit",
        conflicts_with_all = ["root", "tree", "args"]
    )]
    pub buildroot_output: Option<PathBuf>,

    /// The package name (compatible mode), or the files and trees to audit.
    #[arg(value_name = "PKG|PATH", required_unless_present = "buildroot_output")]
    pub args: Vec<OsString>,
}

/// A kind of tree: check-rpath's audit and fix-rpath.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpathTreeArg {
    /// HOST_DIR: $ORIGIN-relative RPATHs.
    Host,
    /// STAGING_DIR: root-relative RPATHs without standard lib dirs.
    Staging,
    /// TARGET_DIR: root-relative RPATHs without standard lib dirs.
    Target,
}

const FIX_RPATH_EXAMPLE: &str = "\
Examples:
  ppd fix-rpath --tree host --host-dir output/host \\
      --staging-dir output/host/x86_64-linux-gnu/sysroot --per-package-dir output/per-package
  HOST_DIR=output/host STAGING_DIR=output/host/x86_64-linux-gnu/sysroot \\
      PER_PACKAGE_DIR=output/per-package ppd fix-rpath host

  The second form is Buildroot's `fix-rpath host`: the tree kind as the operand, the
  directories from the environment.";

/// `ppd fix-rpath`.
// `--tree` is what a missing kind is reported as: a required group would
// name the hidden operand too (`<--tree <KIND>|KIND>`).
#[derive(Args, Debug)]
pub struct FixRpathArgs {
    /// Which tree to fix (the kind is also accepted as the only operand,
    /// as Buildroot's fix-rpath script takes it).
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        required_unless_present = "tree_operand"
    )]
    pub tree: Option<RpathTreeArg>,

    /// The tree kind as an operand (Buildroot's `fix-rpath host`).
    #[arg(value_enum, value_name = "KIND", hide = true, conflicts_with = "tree")]
    pub tree_operand: Option<RpathTreeArg>,

    /// The host directory.
    #[arg(long, value_name = "DIR", env = "HOST_DIR")]
    pub host_dir: Option<PathBuf>,

    /// The staging directory.
    #[arg(long, value_name = "DIR", env = "STAGING_DIR")]
    pub staging_dir: Option<PathBuf>,

    /// The target directory.
    #[arg(long, value_name = "DIR", env = "TARGET_DIR")]
    pub target_dir: Option<PathBuf>,

    /// The per-package directory root.
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: Option<PathBuf>,

    /// An external toolchain directory to leave alone (host tree).
    #[arg(
        long,
        value_name = "DIR",
        env = "TOOLCHAIN_EXTERNAL_DOWNLOAD_INSTALL_DIR"
    )]
    pub toolchain_dir: Option<PathBuf>,

    /// Keep entries that hold none of the needed libraries (what the
    /// patchelf patch's code does, as opposed to its description).
    #[arg(long)]
    pub keep_unused: bool,

    /// Print the rewrites and statistics as one JSON document on stdout
    /// (docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,
}

impl FixRpathArgs {
    /// The tree kind, given as `--tree` or as the operand.
    pub fn kind(&self) -> RpathTreeArg {
        self.tree
            .or(self.tree_operand)
            .expect("BUG: clap requires --tree or the operand")
    }
}

const FILE_LIST_EXAMPLE: &str = "\
Example (at the end of install):
  ppd file-list --per-package-dir output/per-package --pkg libfoo \\
      --staging-subdir x86_64-linux-gnu/sysroot --out-dir output/build/libfoo-1.0

With Buildroot's check_bin_arch in the same process (after the lists are written):
  ppd file-list --per-package-dir output/per-package --pkg libfoo \\
      --staging-subdir aarch64-buildroot-linux-gnu/sysroot --out-dir output/build/libfoo-1.0 \\
      --check-bin-arch AArch64 -i /usr/lib/libfoo/firmware";

/// `ppd file-list`.
#[derive(Args, Debug)]
pub struct FileListArgs {
    /// The per-package directory root.
    #[arg(
        long,
        value_name = "DIR",
        env = "PER_PACKAGE_DIR",
        required_unless_present = "snapshot"
    )]
    pub per_package_dir: Option<PathBuf>,

    /// The package whose own files are listed.
    #[arg(long, value_name = "NAME")]
    pub pkg: String,

    /// Staging, relative to the host tree (excluded from the host list).
    #[arg(long, value_name = "SUBDIR")]
    pub staging_subdir: Option<PathBuf>,

    /// Where to write .files-list.txt, .files-list-staging.txt and
    /// .files-list-host.txt [default: print the target list on stdout].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// What to do about files of dependencies that were replaced or edited.
    #[arg(long, value_enum, default_value_t = ConflictArg::Warn)]
    pub overwrites: ConflictArg,

    /// The global images directory (BINARIES_DIR): also write
    /// .files-list-images.txt, the files that appeared there since the
    /// --snapshot of the configure step.
    #[arg(long, value_name = "DIR", requires = "out_dir")]
    pub images_dir: Option<PathBuf>,

    /// Only record the "before" state of --images-dir in
    /// OUT/.files-list-images.before (at the start of configure).
    #[arg(long, requires = "images_dir")]
    pub snapshot: bool,

    /// After writing the lists, check the architecture of the package's
    /// target files as `ppd check-bin-arch -a ARCH` does on the new
    /// .files-list.txt (readelf's name, BR2_READELF_ARCH_NAME): its ERROR
    /// lines on stdout, exit status 1 for a file of another architecture.
    #[arg(
        long,
        value_name = "ARCH",
        requires = "out_dir",
        conflicts_with = "snapshot"
    )]
    pub check_bin_arch: Option<String>,

    /// With --check-bin-arch: skip target paths under this directory
    /// (repeatable; <PKG>_BIN_ARCH_EXCLUDE), as check-bin-arch's -i.
    #[arg(
        short = 'i',
        long = "ignore",
        value_name = "PATH",
        requires = "check_bin_arch"
    )]
    pub ignore: Vec<String>,

    /// Print the overwrites and statistics as one JSON document on stdout
    /// (docs/json.md); the target list then goes only to --out-dir.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,
}

const CHECK_BIN_ARCH_EXAMPLE: &str = "\
Example (what Buildroot's check_bin_arch runs, with ppd reading the ELF headers):
  TARGET_DIR=output/per-package/libfoo/target ppd check-bin-arch -p libfoo \\
      -l output/build/libfoo-1.0/.files-list.txt -a AArch64 -i /usr/lib/libfoo/firmware

Prints 'ERROR: architecture for \"<path>\" is \"<arch>\", should be \"<arch>\"' on stdout
for each listed file of another architecture and exits 1 if there is one.";

/// `ppd check-bin-arch`: the options of Buildroot's script, same letters.
#[derive(Args, Debug)]
pub struct CheckBinArchArgs {
    /// The package: only its lines of the list are checked (-p as in
    /// Buildroot's script; --pkg as in every other command).
    #[arg(short = 'p', long = "pkg", alias = "package", value_name = "NAME")]
    pub package: String,

    /// The package's .files-list.txt.
    #[arg(short = 'l', long = "list", value_name = "FILE")]
    pub list: PathBuf,

    /// readelf's name of the target architecture (BR2_READELF_ARCH_NAME), e.g. AArch64.
    #[arg(short = 'a', long = "arch", value_name = "NAME")]
    pub arch: String,

    /// Skip paths under this directory (repeatable; <PKG>_BIN_ARCH_EXCLUDE).
    #[arg(short = 'i', long = "ignore", value_name = "PATH")]
    pub ignore: Vec<String>,

    /// Accepted for compatibility with the script and not used: ppd reads
    /// the ELF headers itself.
    #[arg(short = 'r', long = "readelf", value_name = "READELF")]
    pub readelf: Option<OsString>,

    /// The target tree the listed paths are in.
    #[arg(long, value_name = "DIR", env = "TARGET_DIR")]
    pub target_dir: PathBuf,

    /// Print the files of another architecture and statistics as one JSON
    /// document on stdout (docs/json.md); the ERROR lines then go to stderr.
    #[arg(long)]
    pub json: bool,
}

const UNSHARE_EXAMPLE: &str = "\
Example (before libfoo's install steps run again):
  ppd unshare --per-package-dir output/per-package --pkg libfoo \\
      --staging-subdir aarch64-buildroot-linux-gnu/sysroot --list-dir output/build/libfoo-1.0";

/// `ppd unshare`.
#[derive(Args, Debug)]
pub struct UnshareArgs {
    /// The per-package directory root.
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: PathBuf,

    /// The package whose own files get private inodes.
    #[arg(long, value_name = "NAME")]
    pub pkg: String,

    /// Staging, relative to the host tree.
    #[arg(long, value_name = "SUBDIR")]
    pub staging_subdir: Option<PathBuf>,

    /// Where the package's .files-list*.txt of its last install are.
    #[arg(long, value_name = "DIR")]
    pub list_dir: PathBuf,

    /// Remove the listed files and symlinks (and directories left empty)
    /// instead: before a re-prepare, so the trees start from the dependencies.
    #[arg(long)]
    pub remove: bool,

    /// Print the files unshared (or removed) and statistics as one JSON
    /// document on stdout (docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dry: DryRunArgs,
}

const OUTDATED_EXAMPLE: &str = "\
Example (after 'make zlib-rebuild'):
  ppd outdated --per-package-dir output/per-package

  libfoo: 2 copies differ from what zlib provides now; refresh: make libfoo-reconfigure
  app: copies from libfoo, refreshed before it; refresh: make app-reconfigure
  make libfoo-reconfigure app-reconfigure";

/// `ppd outdated`.
#[derive(Args, Debug)]
pub struct OutdatedArgs {
    /// The per-package directory root.
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: PathBuf,

    /// Print the packages to refresh, the differing copies and statistics as
    /// one JSON document on stdout (docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// The packages to look at [default: every package with a manifest].
    #[arg(value_name = "PKG")]
    pub pkgs: Vec<String>,
}

const EXPLAIN_EXAMPLE: &str = "\
Examples:
  ppd explain --per-package-dir output/per-package output/target/etc/os-release
  ppd explain --per-package-dir output/per-package --json \\
      output/per-package/libfoo/host/lib/pkgconfig/zlib.pc

  For each PATH: the package that installed it, its inode and the trees sharing it,
  every package tree that holds the path and which one wins, copies that are outdated
  (their dependency was rebuilt since) or edited in place, and any conflict.";

/// `ppd explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The per-package directory root (the final trees are its siblings
    /// `host` and `target`, as in a Buildroot output directory).
    #[arg(long, value_name = "DIR", env = "PER_PACKAGE_DIR")]
    pub per_package_dir: PathBuf,

    /// Print the answers as one JSON document on stdout (docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// Paths in `DIR/PKG/host`, `DIR/PKG/target`, or the final host or target tree.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// `-v` is not taken here (nothing to report): declared hidden so the
    /// global one is neither offered in this command's help nor parsed for
    /// it; giving it is refused as a usage error.
    #[arg(short, long, hide = true)]
    pub verbose: bool,

    /// `-j` likewise (no threads).
    #[arg(short = 'j', long = "jobs", value_name = "N", hide = true)]
    pub jobs: Option<usize>,
}

const GENERATE_EXAMPLE: &str = "\
Examples:
  ppd generate man > ppd.1                 # the main page
  ppd generate man --dir share/man/man1    # ppd.1 and ppd-<command>.1 for every command
  ppd generate completions bash > /usr/share/bash-completion/completions/ppd

scripts/install.sh --prefix PREFIX installs the binary, the man pages and the
completions for bash, zsh and fish.";

/// `ppd generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// What to generate.
    #[command(subcommand)]
    pub what: GenerateWhat,

    /// `-v` is not taken here (nothing to report): declared hidden so the
    /// global one is neither offered in this command's help nor parsed for
    /// it; giving it is refused as a usage error.
    #[arg(short, long, hide = true, global = true)]
    pub verbose: bool,

    /// `-j` likewise (no threads).
    #[arg(
        short = 'j',
        long = "jobs",
        value_name = "N",
        hide = true,
        global = true
    )]
    pub jobs: Option<usize>,
}

/// What `ppd generate` writes.
#[derive(Subcommand, Debug)]
pub enum GenerateWhat {
    /// The man page ppd(1) on stdout, or with --dir every page as files.
    Man {
        /// Write ppd.1 and one ppd-<command>.1 per command into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The completion script for a shell, on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
}

/// A shell completions are generated for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellArg {
    /// bash (bash-completion).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// The man pages, as `(file name, roff text)`: `ppd.1` first, then
/// `ppd-<command>.1` for every command, all from the clap definitions.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    // Building propagates the global options (-v, -j) to every command,
    // so each command's page lists them as its --help does.
    cmd.build();
    let mut pages = Vec::new();
    let mut main = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut main)?;
    pages.push(("ppd.1".to_string(), main));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = format!("ppd-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("ppd {}", sub.get_name()))
            // The page's footer names the version; the command itself
            // takes no -V (only `ppd -V` does).
            .version(env!("CARGO_PKG_VERSION"))
            .disable_version_flag(true);
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
}

/// The completion script for `shell`.
pub fn completions(shell: ShellArg) -> Vec<u8> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ppd", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use std::ffi::OsString;

    /// The full parser's result for `args`, as `parse` would reach it.
    fn full(args: &[OsString]) -> Result<super::Cli, clap::Error> {
        super::parse_full(args)
    }

    /// The command lines mk/buildroot.mk runs, in their shapes: each goes
    /// the narrowed way and parses as the full parser parses it.
    #[test]
    fn build_steps_take_the_narrowed_parser() {
        let lines = [
            "ppd prepare --link-mode auto --per-package-dir o/pp --host-dir h --target-dir t a b",
            "ppd prepare --per-package-dir o/pp --pkg p --fixup-paths --fixup-cache c \
             --host-dir o/pp/p/host --target-dir o/pp/p/target -j2 a b",
            "ppd prepare -v --per-package-dir o --host-dir h -n --conflicts error",
            "ppd finalize --per-package-dir o --tree host --dest o/host --mode copy a b",
            "ppd file-list --pkg p --images-dir i --snapshot --out-dir b/p",
            "ppd file-list --per-package-dir o --pkg p --staging-subdir s --images-dir i \
             --out-dir b/p --check-bin-arch AArch64 -i /lib/firmware -i /usr/share",
            "ppd unshare --remove --per-package-dir o --pkg p --staging-subdir s --list-dir b/p",
            "ppd outdated -v --per-package-dir o",
            "ppd fix-rpath host",
            "ppd check-rpath --host-dir o/host --per-package-dir o p",
        ];
        for line in lines {
            let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            let want = full(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
            let got =
                super::parse_narrowed(&args).unwrap_or_else(|| panic!("not narrowed: {line}"));
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{line}");
        }
        // Help, an option before the command name, and usage errors go to
        // the full parser.
        for line in [
            "ppd prepare --help",
            "ppd -v prepare --per-package-dir o --pkg p",
            "ppd prepare --pkg p",
            "ppd explain o/host/x",
        ] {
            let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            assert!(super::parse_narrowed(&args).is_none(), "{line}");
        }
    }

    /// Random command lines from every command's own options, values and
    /// the global options: whatever the narrowed parser accepts, the full
    /// parser accepts as the same `Cli`. The rest goes to the full parser,
    /// so its messages stay the only ones.
    #[test]
    fn narrowed_parser_accepts_only_what_the_full_parser_parses_alike() {
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut accepted, mut tried) = (0, 0);
        // Every command but the two interactive ones (and clap's `help`)
        // is narrowed, and the narrowed names are the full parser's.
        let narrowed: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|sub| super::narrowed_command(sub.get_name()).is_some())
            .collect();
        let names: Vec<&str> = narrowed.iter().map(|sub| sub.get_name()).collect();
        let rest: Vec<&str> = cmd
            .get_subcommands()
            .map(|sub| sub.get_name())
            .filter(|name| !names.contains(name))
            .collect();
        assert_eq!(rest, ["explain", "generate", "help"], "not narrowed");
        for sub in narrowed {
            let mut pool: Vec<String> = [
                "-v", "-j", "-j2", "--jobs=0", "--", "-h", "-V", "3", "x", "", "-",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for arg in sub.get_arguments() {
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string())
                    .chain(["d/e".to_string(), "2".to_string()])
                    .collect();
                let takes = arg.get_num_args().is_some_and(|n| n.takes_values());
                if let Some(long) = arg.get_long() {
                    pool.push(format!("--{long}"));
                    if takes {
                        pool.push(format!("--{long}={}", values[next(values.len())]));
                    }
                }
                if let Some(short) = arg.get_short() {
                    pool.push(format!("-{short}"));
                    pool.push(format!("-v{short}"));
                }
                pool.extend(values);
            }
            // What the command requires, as `--long=value` (or a word for a
            // positional), so that most lines get past the required checks.
            let required: Vec<String> = sub
                .get_arguments()
                .filter(|a| a.is_required_set())
                .chain(
                    sub.get_groups()
                        .filter(|g| g.is_required_set())
                        .filter_map(|g| {
                            let first = g.get_args().next()?;
                            sub.get_arguments().find(|a| a.get_id() == first)
                        }),
                )
                .map(|a| {
                    let value = a
                        .get_possible_values()
                        .first()
                        .map_or("d/e".to_string(), |v| v.get_name().to_string());
                    match a.get_long() {
                        Some(long) => format!("--{long}={value}"),
                        None => value,
                    }
                })
                .chain(
                    // What the command needs that clap does not mark as
                    // required (required unless another option is given).
                    match sub.get_name() {
                        "check-rpath" => &["--host-dir=d/e"][..],
                        "fix-rpath" => &["--tree=host"][..],
                        "file-list" => &["--per-package-dir=d/e"][..],
                        _ => &[],
                    }
                    .iter()
                    .map(|s| s.to_string()),
                )
                .collect();
            for round in 0..800 {
                let mut words = vec!["ppd".to_string(), sub.get_name().to_string()];
                if round % 4 != 0 {
                    words.extend(required.iter().cloned());
                }
                for _ in 0..next(7) {
                    words.push(pool[next(pool.len())].clone());
                }
                let args: Vec<OsString> = words.iter().map(OsString::from).collect();
                tried += 1;
                if let Some(got) = super::parse_narrowed(&args) {
                    accepted += 1;
                    let want = full(&args).unwrap_or_else(|e| {
                        panic!("narrowed accepts, full refuses {words:?}: {e}")
                    });
                    assert_eq!(format!("{got:?}"), format!("{want:?}"), "{words:?}");
                }
            }
        }
        // The corpus must reach the narrowed parser's successes, or the
        // comparison above proves nothing.
        assert!(
            accepted * 6 > tried,
            "only {accepted} of {tried} command lines parsed"
        );
    }

    /// clap wraps help text at `max_term_width` (100): an example line
    /// longer than that would be cut mid-command, without a backslash, and
    /// could not be pasted. Examples wrap themselves, with `\`.
    #[test]
    fn examples_fit_the_help_width() {
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        for sub in cmd.get_subcommands() {
            let Some(text) = sub.get_after_help() else {
                continue;
            };
            for line in text.to_string().lines() {
                assert!(
                    line.chars().count() <= 100,
                    "{}: example line of {} columns: {line}",
                    sub.get_name(),
                    line.chars().count()
                );
            }
        }
    }
}
