//! `berth`: the command-line client of berthd, speaking the Docker Engine API
//! over a unix socket with Docker's command names, flags, output and exit codes.

mod buildprogress;
mod client;
mod commands;
mod error;
mod format;
mod gendocs;
mod humanize;
mod netflags;
mod stream;
mod table;
mod tls;
mod tty;
mod usage;

use std::io::Write;

use clap::{CommandFactory, Parser, Subcommand};

use client::{Client, Host, resolve_host};
use commands::{
    Ctx, attach, container, exec, image, lifecycle, logs, network, ps, resources, stats, system,
};
use error::CliError;

/// A self-sufficient runtime for containers.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    disable_version_flag = true,
    about = "A self-sufficient runtime for containers"
)]
struct Cli {
    /// Daemon socket to connect to (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock)
    #[arg(short = 'H', long = "host", value_name = "list")]
    host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(flatten)]
    tls: tls::TlsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Lifecycle(Box<ContainerLifecycleCommand>),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// List containers
    Ps(ps::PsArgs),
    #[command(flatten)]
    Session(ContainerSessionCommand),
    #[command(flatten)]
    Resources(ContainerResourceCommand),
    #[command(flatten)]
    Files(commands::cp::FilesCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Build an image from a Dockerfile
    Build(Box<commands::build::BuildArgs>),
    /// Manage builds
    #[command(subcommand)]
    Builder(commands::build::BuilderCommand),
    /// List images
    Images(image::ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    #[command(flatten)]
    Registry(RegistryImageCommand),
    /// Log in to a registry
    Login(commands::registry::LoginArgs),
    /// Log out from a registry
    Logout(commands::registry::LogoutArgs),
    #[command(flatten)]
    Archive(ImageArchiveCommand),
    /// Remove one or more images
    Rmi(image::RmiArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Return low-level information on Docker objects
    Inspect(image::InspectArgs),
    /// Show the Docker version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Manage Docker
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Generate the autocompletion script for the specified shell
    Completion(gendocs::CompletionArgs),
    /// Write man pages for berth and its commands into a directory (packaging)
    #[command(name = "__gen-man", hide = true)]
    GenMan(gendocs::ManArgs),
}

// Docker offers most container commands both at the top level (`run`) and
// under `container` (`container run`). The shared ones live in the two
// enums below, flattened into both places. They are split in two only to
// keep help's order, with the form-specific `rm`, `ps`/`ls` and `inspect`
// between them; the first is boxed because `RunArgs` dwarfs every other
// variant.

/// Container commands from `run` to `restart`, the same at the top level and
/// under `container`.
#[derive(Debug, Subcommand)]
enum ContainerLifecycleCommand {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(container::RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(container::RunArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Restart one or more containers
    Restart(lifecycle::StopArgs),
}

/// Container commands from `wait` to `logs`, the same at the top level and
/// under `container`.
#[derive(Debug, Subcommand)]
enum ContainerSessionCommand {
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::WaitArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Display the running processes of a container
    Top(lifecycle::TopArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// List port mappings or a specific mapping for the container
    Port(lifecycle::PortArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
}

#[derive(Debug, Subcommand)]
enum ContainerCommand {
    #[command(flatten)]
    Lifecycle(Box<ContainerLifecycleCommand>),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(lifecycle::RmArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(ps::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(image::ContainerInspectArgs),
    /// Remove all stopped containers
    Prune(commands::prune::ContainerPruneArgs),
    #[command(flatten)]
    Session(ContainerSessionCommand),
    #[command(flatten)]
    Resources(ContainerResourceCommand),
    #[command(flatten)]
    Files(commands::cp::FilesCommand),
}

/// Container commands acting on the container's cgroup, the same at the top
/// level and under `container`.
#[derive(Debug, Subcommand)]
enum ContainerResourceCommand {
    /// Pause all processes within one or more containers
    Pause(resources::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(resources::PauseArgs),
    /// Update configuration of one or more containers
    Update(resources::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
}

/// Image commands from `load` to `tag`, the same at the top level and under
/// `image`.
#[derive(Debug, Subcommand)]
enum ImageArchiveCommand {
    /// Load an image from a tar archive or STDIN
    Load(image::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
}

/// Image commands that talk to a registry, the same at the top level and
/// under `image`.
#[derive(Debug, Subcommand)]
enum RegistryImageCommand {
    /// Download an image from a registry
    Pull(commands::registry::PullArgs),
    /// Upload an image to a registry
    Push(commands::registry::PushArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(Box<commands::build::BuildArgs>),
    /// List images
    #[command(visible_alias = "list")]
    Ls(image::ImagesArgs),
    #[command(flatten)]
    Archive(ImageArchiveCommand),
    /// Remove one or more images
    #[command(visible_alias = "remove", alias = "rmi")]
    Rm(image::RmiArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(image::ImageInspectArgs),
    /// Remove unused images
    Prune(commands::prune::ImagePruneArgs),
    #[command(flatten)]
    Registry(RegistryImageCommand),
}

#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Remove unused data
    Prune(commands::prune::SystemPruneArgs),
    /// Show docker disk usage
    Df(commands::prune::DfArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<(), CliError> {
    match command {
        Command::Lifecycle(c) | Command::Container(ContainerCommand::Lifecycle(c)) => {
            dispatch_lifecycle(ctx, *c).await
        }
        Command::Session(c) | Command::Container(ContainerCommand::Session(c)) => {
            dispatch_session(ctx, c).await
        }
        Command::Resources(c) | Command::Container(ContainerCommand::Resources(c)) => {
            dispatch_resources(ctx, c).await
        }
        Command::Files(c) | Command::Container(ContainerCommand::Files(c)) => {
            commands::cp::dispatch(ctx, c).await
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => lifecycle::rm(ctx, a).await,
        Command::Ps(a) => ps::ps(ctx, a, "ps").await,
        Command::Container(ContainerCommand::Ls(a)) => ps::ps(ctx, a, "container ls").await,
        Command::Container(ContainerCommand::Inspect(a)) => image::container_inspect(ctx, a).await,
        Command::Container(ContainerCommand::Prune(a)) => {
            commands::prune::container_prune(ctx, a).await
        }
        Command::Image(ImageCommand::Prune(a)) => commands::prune::image_prune(ctx, a).await,
        Command::System(SystemCommand::Prune(a)) => commands::prune::system_prune(ctx, a).await,
        Command::System(SystemCommand::Df(a)) => commands::prune::system_df(ctx, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => image::images(ctx, a).await,
        Command::Archive(c) | Command::Image(ImageCommand::Archive(c)) => {
            dispatch_archive(ctx, c).await
        }
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => image::rmi(ctx, a).await,
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            image::history(ctx, a).await
        }
        Command::Image(ImageCommand::Inspect(a)) => image::image_inspect(ctx, a).await,
        Command::Registry(c) | Command::Image(ImageCommand::Registry(c)) => match c {
            RegistryImageCommand::Pull(a) => commands::registry::pull(ctx, a).await,
            RegistryImageCommand::Push(a) => commands::registry::push(ctx, a).await,
        },
        Command::Login(a) => commands::registry::login(ctx, a).await,
        Command::Logout(a) => commands::registry::logout(ctx, a).await,
        Command::Inspect(a) => image::inspect(ctx, a).await,
        Command::Version(a) => system::version(ctx, a).await,
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(ctx, a).await,
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => {
            commands::events::events(ctx, a).await
        }
        Command::Network(c) => network::dispatch(ctx, c).await,
        Command::Volume(c) => commands::volume::volume(ctx, c).await,
        Command::Build(a) => commands::build::build(ctx, *a, "build").await,
        Command::Image(ImageCommand::Build(a)) => {
            commands::build::build(ctx, *a, "image build").await
        }
        Command::Builder(c) => commands::build::builder(ctx, c).await,
        // Local only: the daemon is never contacted.
        Command::Completion(a) => gendocs::completion(&a, Cli::command()),
        Command::GenMan(a) => gendocs::man(&a, Cli::command()),
    }
}

async fn dispatch_lifecycle(ctx: &Ctx, command: ContainerLifecycleCommand) -> Result<(), CliError> {
    match command {
        ContainerLifecycleCommand::Run(a) => container::run(ctx, a).await,
        ContainerLifecycleCommand::Create(a) => container::create_command(ctx, a).await,
        ContainerLifecycleCommand::Start(a) => lifecycle::start(ctx, a).await,
        ContainerLifecycleCommand::Stop(a) => lifecycle::stop(ctx, a).await,
        ContainerLifecycleCommand::Kill(a) => lifecycle::kill(ctx, a).await,
        ContainerLifecycleCommand::Restart(a) => lifecycle::restart(ctx, a).await,
    }
}

async fn dispatch_session(ctx: &Ctx, command: ContainerSessionCommand) -> Result<(), CliError> {
    match command {
        ContainerSessionCommand::Wait(a) => lifecycle::wait(ctx, a).await,
        ContainerSessionCommand::Rename(a) => lifecycle::rename(ctx, a).await,
        ContainerSessionCommand::Top(a) => lifecycle::top(ctx, a).await,
        ContainerSessionCommand::Attach(a) => attach::attach(ctx, a).await,
        ContainerSessionCommand::Exec(a) => exec::exec(ctx, a).await,
        ContainerSessionCommand::Port(a) => lifecycle::port(ctx, a).await,
        ContainerSessionCommand::Logs(a) => logs::logs(ctx, a).await,
    }
}

async fn dispatch_resources(ctx: &Ctx, command: ContainerResourceCommand) -> Result<(), CliError> {
    match command {
        ContainerResourceCommand::Pause(a) => resources::pause(ctx, a, "pause").await,
        ContainerResourceCommand::Unpause(a) => resources::pause(ctx, a, "unpause").await,
        ContainerResourceCommand::Update(a) => resources::update(ctx, a).await,
        ContainerResourceCommand::Stats(a) => stats::stats(ctx, a).await,
    }
}

async fn dispatch_archive(ctx: &Ctx, command: ImageArchiveCommand) -> Result<(), CliError> {
    match command {
        ImageArchiveCommand::Load(a) => image::load(ctx, a).await,
        ImageArchiveCommand::Save(a) => image::save(ctx, a).await,
        ImageArchiveCommand::Import(a) => image::import(ctx, a).await,
        ImageArchiveCommand::Tag(a) => image::tag(ctx, a).await,
    }
}

/// Parses arguments, runs the command and returns the exit code.
fn real_main() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let (path, leaf) = usage::command_path(&Cli::command(), &argv);
            if let Some((message, code)) = usage::docker_error(&e, &path, &leaf, &argv) {
                eprintln!("{message}");
                return code;
            }
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                // Docker: missing arguments are a plain error (1), bad flags a usage error (125).
                ErrorKind::MissingRequiredArgument
                | ErrorKind::MissingSubcommand
                | ErrorKind::TooFewValues => 1,
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    if cli.debug {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .init();
    }
    if cli.version {
        println!("{}", system::version_line());
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return 0;
    };
    let host = resolve_host(
        cli.host.as_deref(),
        std::env::var("BERTH_HOST").ok().as_deref(),
        std::env::var("DOCKER_HOST").ok().as_deref(),
    );
    let client = tls::connector(&cli.tls, &tls::TlsEnv::from_process())
        .map_err(CliError::from)
        .and_then(|tls| {
            let host = Host::parse(&host, tls.is_some())?;
            Ok(Client::new(host).with_tls(tls))
        });
    let result = match client {
        Err(e) => Err(e),
        Ok(client) => {
            let ctx = Ctx { client };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let result = rt.block_on(dispatch(&ctx, command));
                    // Dropping the runtime would wait for blocking tasks, and
                    // the stdin reader of an attached session may be blocked
                    // in a read of a terminal that never ends.
                    rt.shutdown_background();
                    result
                }
                Err(source) => Err(CliError::Io {
                    op: "start",
                    path: "tokio runtime".into(),
                    source,
                }),
            }
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::debug!(class = ?e.class(), "command failed");
            let message = e.to_string();
            if !message.is_empty() {
                eprintln!("{message}");
            }
            e.exit_code()
        }
    }
}

fn main() {
    let code = real_main();
    let _ = std::io::stdout().flush();
    // Exit at once: a blocked stdin reader (run -i) must not hold the process.
    std::process::exit(code);
}
