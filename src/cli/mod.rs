//! The command line edge: clap's types, the commands they run, what the terminal shows, and
//! the exit status. Everything below it is the popget library, which knows nothing of clap.

pub mod accounts;
pub mod args;
pub mod commands;
pub mod credentials;
pub mod daemon;
mod run;

use std::path::Path;

use popget::config::{CommandLine, Settings, SizeSetting};

use args::{ConnectionArgs, DeliveryArgs};
pub use run::run;

/// A path as the configuration's settings hold it.
fn setting_path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// What the connection flags say, in the configuration's terms.
pub fn command_line(connection: &ConnectionArgs, delivery: Option<&DeliveryArgs>) -> CommandLine {
    let mut settings = Settings {
        host: connection.host.clone(),
        port: connection.port,
        user: connection.user.clone(),
        tls: connection.tls.map(Into::into),
        ca_file: connection.ca_file.as_deref().map(setting_path),
        insecure: connection.insecure.then_some(true),
        fingerprint: connection.fingerprint.clone(),
        auth: connection.auth.map(Into::into),
        password_command: connection.password_command.clone(),
        timeout: connection.timeout,
        session_timeout: connection.session_timeout,
        max_listing: connection.max_listing.map(SizeSetting::Octets),
        pipelining: connection.pipelining.map(Into::into),
        proxy: connection.proxy.clone(),
        gssapi_service: connection.gssapi_service.clone(),
        gssapi_host: connection.gssapi_host.clone(),
        ..Settings::default()
    };
    if let Some(delivery) = delivery {
        add_delivery(&mut settings, delivery);
    }
    CommandLine {
        settings,
        password_command: connection.password_command.clone(),
    }
}

/// What the delivery flags of `popget fetch` add.
fn add_delivery(settings: &mut Settings, args: &DeliveryArgs) {
    let path = |p: &Option<std::path::PathBuf>| p.as_deref().map(setting_path);
    if args.maildir.is_some() || args.mbox.is_some() || args.mda.is_some() {
        settings.maildir = path(&args.maildir);
        settings.mbox = path(&args.mbox);
        settings.mda = args.mda.clone();
    }
    macro_rules! take {
        ($($field:ident),*) => { $( if args.$field.is_some() { settings.$field = args.$field.clone(); } )* };
    }
    take!(folder, keep_days, limit, filter);
    if args.delete_oversized {
        settings.delete_oversized = Some(true);
    }
    if let Some(max_bytes) = args.max_bytes {
        settings.max_bytes = Some(SizeSetting::Octets(max_bytes));
    }
    if args.keep || args.delete {
        settings.keep = Some(args.keep);
        settings.delete = Some(args.delete);
    }
    if args.state.is_some() {
        settings.state = path(&args.state);
    }
    if let Some(max_size) = args.max_size {
        settings.max_size = Some(SizeSetting::Octets(max_size));
    }
}
