//! Reading configuration files, URLs and command lines into accounts.

mod unit {
    use super::super::resolve;
    use super::super::*;
    use crate::account::Account;
    use crate::auth::AuthMethod;
    use crate::error::Error;
    use crate::pop3::ListedSizes;
    use crate::store::Delivery;
    use crate::transport::TlsMode;
    use std::fs;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("500000"), Ok(500_000));
        assert_eq!(parse_size("800K"), Ok(800 * 1024));
        assert_eq!(parse_size("20M"), Ok(20 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        for bad in ["", "0", "-1", "10X", "M", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    fn env() -> HashMap<String, String> {
        HashMap::from([("HOME".to_string(), "/home/me".to_string())])
    }

    #[test]
    fn intervals_read_seconds_or_a_unit() {
        let read = |setting: IntervalSetting| setting.duration_of("interval").ok();
        assert_eq!(
            read(IntervalSetting::Seconds(90)),
            Some(Duration::from_secs(90))
        );
        for (text, seconds) in [
            ("90s", 90),
            ("5m", 300),
            ("1h", 3600),
            ("2", 2),
            (" 1d ", 86_400),
        ] {
            assert_eq!(
                read(IntervalSetting::Text(text.into())),
                Some(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in ["", "0", "0s", "5x", "m", "-1", "99999999999999999999h"] {
            assert_eq!(read(IntervalSetting::Text(bad.into())), None, "{bad}");
        }
        assert_eq!(read(IntervalSetting::Seconds(0)), None);
    }

    #[test]
    fn interval_and_hook_are_inherited_from_defaults() {
        let config = ConfigFile::parse(
            "[defaults]\ninterval = \"90s\"\non_new_mail = \"notify\"\n\
             [accounts.a]\nhost = \"h\"\nuser = \"u\"\n\
             [accounts.b]\nhost = \"h\"\nuser = \"v\"\ninterval = 5\n",
        )
        .unwrap();
        let service = |name: &str| {
            let layers = config.layers(name).unwrap();
            resolve::resolve(Some(name), &layers, resolve::Extra::default(), &env())
                .unwrap()
                .schedule
        };
        assert_eq!(service("a").interval, Duration::from_secs(90));
        assert_eq!(
            service("a").on_new_mail.map(|hook| hook.command).as_deref(),
            Some("notify")
        );
        assert_eq!(service("b").interval, Duration::from_secs(5));
    }

    const SAMPLE: &str = r#"
[defaults]
tls = "implicit"
timeout = 30
delete = true

[accounts.work]
host = "pop.work.example"
user = "me"
maildir = "~/Mail/work"

[accounts.home]
host = "pop.home.example"
user = "me@home"
tls = "starttls"
mbox = "/var/mail/me"
keep = true
state = "~/state/home"
"#;

    #[test]
    fn list_sizes_are_exact_unless_an_account_says_estimated() {
        let config = ConfigFile::parse(
            "[defaults]\nuser = \"me\"\n[accounts.exchange]\nhost = \"mail.corp.example\"\n\
             list_sizes = \"estimated\"\n[accounts.dovecot]\nhost = \"pop.example\"\n",
        )
        .unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        assert_eq!(accounts[0].server.list_sizes, ListedSizes::Estimated);
        assert_eq!(accounts[1].server.list_sizes, ListedSizes::Exact);
        let checked = check_text(
            "[accounts.x]\nhost = \"h\"\nuser = \"u\"\nmbox = \"m\"\nlist_sizes = \"rough\"\n",
            &env(),
        );
        assert_eq!(checked.problems.len(), 1, "{:?}", checked.problems);
        assert_eq!(checked.problems[0].line, 5);
        assert!(checked.problems[0]
            .message
            .contains("unknown variant `rough`"));
    }

    #[test]
    fn the_kerberos_principal_is_pop_at_the_host_unless_configured() {
        let config = ConfigFile::parse(
            "[accounts.uni]\nhost = \"10.0.0.5\"\nuser = \"me\"\n\
             gssapi_host = \"pop.uni.example\"\n\
             [accounts.plain]\nhost = \"pop.example\"\nuser = \"me\"\n",
        )
        .unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let target = |account: &Account| account.login.gssapi.to_string();
        assert_eq!(target(&accounts[0]), "pop@pop.uni.example");
        assert_eq!(target(&accounts[1]), "pop@pop.example");
        let flags = CommandLine {
            settings: Settings {
                gssapi_service: Some("imap".into()),
                ..Settings::default()
            },
            password_command: None,
            destination: None,
        };
        let accounts = select_accounts(&config, &[], &flags, &env()).unwrap();
        assert_eq!(target(&accounts[1]), "imap@pop.example");
        for bad in ["pop/x", "a b", "p@r", ""] {
            let flags = CommandLine {
                settings: Settings {
                    gssapi_service: Some(bad.into()),
                    ..Settings::default()
                },
                password_command: None,
                destination: None,
            };
            let result = select_accounts(&config, &[], &flags, &env());
            assert!(
                matches!(&result, Err(Error::Config(m)) if m.message().contains("gssapi_service")),
                "{bad:?}: {:?}",
                result.err()
            );
        }
    }

    #[test]
    fn reads_accounts_in_file_order_with_defaults() {
        let config = ConfigFile::parse(SAMPLE).unwrap();
        let names: Vec<_> = config.accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["work", "home"]);
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        assert_eq!(accounts.len(), 2);
        let work = &accounts[0];
        assert_eq!(
            (work.server.port, work.server.tls, work.server.timeout),
            (995, TlsMode::Implicit, Duration::from_secs(30))
        );
        assert_eq!(
            work.delivery,
            Some(Delivery::Maildir {
                root: "/home/me/Mail/work".into(),
                folder: None
            })
        );
        assert!(work.policy.delete);
        let home = &accounts[1];
        assert_eq!(home.server.port, 110);
        assert!(
            !home.policy.delete,
            "keep in the account beats delete in defaults"
        );
        assert_eq!(home.state_path, PathBuf::from("/home/me/state/home"));
    }

    #[test]
    fn command_line_overrides_the_file() {
        let config = ConfigFile::parse(SAMPLE).unwrap();
        let command_line = CommandLine {
            settings: Settings {
                port: Some(1995),
                mbox: Some("/tmp/box".into()),
                maildir: None,
                keep: Some(true),
                delete: Some(false),
                ..Settings::default()
            },
            password_command: None,
            destination: None,
        };
        let accounts = select_accounts(&config, &["work".into()], &command_line, &env()).unwrap();
        assert_eq!(accounts[0].server.port, 1995);
        assert_eq!(
            accounts[0].delivery,
            Some(Delivery::Mbox("/tmp/box".into()))
        );
        assert!(!accounts[0].policy.delete);
    }

    #[test]
    fn a_typo_in_one_account_stops_only_that_account() {
        let config = ConfigFile::parse(
            "[accounts.x]\nhost = \"h\"\npasword = \"typo\"\nuser = \"u\"\n\
             [accounts.y]\nhost = \"h\"\nuser = \"u\"\n\
             [accounts.z]\ninherit = \"x\"\n",
        )
        .unwrap();
        let select = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            select_accounts(&config, &names, &CommandLine::default(), &env())
        };
        assert_eq!(select(&["y"]).unwrap()[0].name, "y");
        for name in ["x", "z"] {
            let error = select(&[name]).unwrap_err().to_string();
            assert_eq!(
                error,
                "account \"x\": line 3: unknown key \"pasword\" (did you mean \"password\"?) \
                 (popget config check reports every problem with its line)",
                "{name}"
            );
        }
        // Every account: each on its own.
        let each = select_each(&config, &[], &CommandLine::default(), &env()).unwrap();
        let names: Vec<(&str, bool)> = each
            .iter()
            .map(|(name, account)| (name.as_str(), account.is_ok()))
            .collect();
        assert_eq!(names, [("x", false), ("y", true), ("z", false)]);
        // A problem in [defaults] or at the top is one for the whole file.
        let error = ConfigFile::parse("[defaults]\ntls = \"sometimes\"\n").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("[defaults]: line 2: tls: unknown variant"),
            "{error}"
        );
        let error = ConfigFile::parse("[acounts.x]\n").unwrap_err();
        assert!(error.message().contains("line 1"), "{error}");
    }

    #[test]
    fn unknown_account_and_missing_settings_are_config_errors() {
        let config = ConfigFile::parse(SAMPLE).unwrap();
        let result = select_accounts(&config, &["nope".into()], &CommandLine::default(), &env());
        assert!(matches!(result, Err(Error::Config(_))));
        let empty = ConfigFile::default();
        let result = select_accounts(&empty, &[], &CommandLine::default(), &env());
        assert!(matches!(result, Err(Error::Config(_))));
        let connection = CommandLine {
            settings: Settings {
                host: Some("h".into()),
                ..Settings::default()
            },
            password_command: None,
            destination: None,
        };
        let result = select_accounts(&empty, &[], &connection, &env());
        assert!(matches!(result, Err(Error::Config(_))), "user is missing");
    }

    #[test]
    fn parses_account_urls() {
        let settings = parse_url("pop3s://me@pop.example.com:1995").unwrap();
        assert_eq!(settings.tls, Some(TlsMode::Implicit));
        assert_eq!(
            (
                settings.user.as_deref(),
                settings.host.as_deref(),
                settings.port
            ),
            (Some("me"), Some("pop.example.com"), Some(1995))
        );
        let settings = parse_url("pop3://me@h").unwrap();
        assert_eq!(
            (settings.tls, settings.port),
            (Some(TlsMode::Starttls), None)
        );
        // The examples of RFC 2384, section 7.
        let settings = parse_url("pop://rg;AUTH=+APOP@mail.eudora.com:8110").unwrap();
        assert_eq!(
            (settings.user.as_deref(), settings.auth, settings.port),
            (Some("rg"), Some(AuthMethod::Apop), Some(8110))
        );
        let settings = parse_url("pop://aas;AUTH=*@pop.sn.no").unwrap();
        assert_eq!(
            (settings.user.as_deref(), settings.auth),
            (Some("aas"), Some(AuthMethod::Auto))
        );
        assert_eq!(
            parse_url("pop://f%C3%A5r%3Bk%40l@h")
                .unwrap()
                .user
                .as_deref(),
            Some("får;k@l")
        );
        assert_eq!(
            parse_url("pop://f%E5r%3Bk%40l@h").unwrap().user.as_deref(),
            Some("får;k@l")
        );
        assert_eq!(
            parse_url("pop3s://[::1]:995").unwrap().host.as_deref(),
            Some("::1")
        );
        for bad in [
            "pop3s://me:pw@h",
            "imap://h",
            "pop3s://h/INBOX",
            "pop3s://h:99999",
            "pop3s://",
            "pop://u;AUTH=GSSAPI@h",
        ] {
            assert!(matches!(parse_url(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[test]
    fn state_keys_are_safe_file_names() {
        let config = ConfigFile::parse("[accounts.a]\nhost = \"..\"\nuser = \"x/y\"\n").unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let key = crate::account::state_key(
            &accounts[0].login.user,
            &accounts[0].server.host,
            accounts[0].server.port,
        );
        assert_eq!(key, "x%2Fy@.._995");
        assert!(!key.contains('/'));
    }

    const INHERITING: &str = r#"
[defaults]
timeout = 30
keep = true

[accounts.provider]
template = true
host = "pop.provider.example"
tls = "starttls"
timeout = 40
maildir = "~/Mail/provider"

[accounts.family]
template = true
inherit = "provider"
port = 1110
delete = true

[accounts.alice]
inherit = "family"
user = "alice"
maildir = "~/Mail/alice"

[accounts.bob]
inherit = "provider"
user = "bob"
mbox = "~/bob.mbox"
timeout = 50
"#;

    #[test]
    fn inherited_settings_are_layered_in_order() {
        let config = ConfigFile::parse(INHERITING).unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"], "templates are not fetched");
        let alice = &accounts[0];
        assert_eq!(
            (
                alice.server.host.as_str(),
                alice.server.port,
                alice.server.tls
            ),
            ("pop.provider.example", 1110, TlsMode::Starttls)
        );
        assert_eq!(
            alice.server.timeout,
            Duration::from_secs(40),
            "provider over defaults"
        );
        assert_eq!(
            alice.delivery,
            Some(Delivery::Maildir {
                root: "/home/me/Mail/alice".into(),
                folder: None
            }),
            "the account over what it inherits"
        );
        assert!(
            alice.policy.delete,
            "family's delete over the defaults' keep"
        );
        let bob = &accounts[1];
        assert_eq!(
            (bob.server.port, bob.server.timeout),
            (110, Duration::from_secs(50))
        );
        assert_eq!(
            bob.delivery,
            Some(Delivery::Mbox("/home/me/bob.mbox".into()))
        );
        assert!(!bob.policy.delete);

        // The command line over everything.
        let connection = CommandLine {
            settings: Settings {
                timeout: Some(7),
                ..Settings::default()
            },
            password_command: None,
            destination: None,
        };
        let alice = &select_accounts(&config, &["alice".into()], &connection, &env()).unwrap()[0];
        assert_eq!(alice.server.timeout, Duration::from_secs(7));
    }

    #[test]
    fn a_template_is_only_inherited() {
        let config = ConfigFile::parse(INHERITING).unwrap();
        let error = select_accounts(&config, &["family".into()], &CommandLine::default(), &env())
            .unwrap_err();
        assert!(
            matches!(&error, Error::Config(m) if m.message().contains("\"family\" is a template")),
            "{error}"
        );
        // With one real account beside templates, commands use it by default.
        let config = ConfigFile::parse(
            "[accounts.t]\ntemplate = true\nhost = \"h\"\n\
             [accounts.real]\ninherit = \"t\"\nuser = \"u\"\n",
        )
        .unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(
            (accounts[0].name.as_str(), accounts[0].server.host.as_str()),
            ("real", "h")
        );
        // Only templates: nothing to fetch.
        let config = ConfigFile::parse("[accounts.t]\ntemplate = true\n").unwrap();
        let result = select_accounts(&config, &[], &CommandLine::default(), &env());
        assert!(
            matches!(result, Err(Error::Config(m)) if m.message().contains("no account given"))
        );
    }

    #[test]
    fn inheritance_cycles_and_unknown_targets_are_config_errors() {
        let config = ConfigFile::parse(
            "[accounts.a]\ninherit = \"b\"\n[accounts.b]\ninherit = \"c\"\n\
             [accounts.c]\ninherit = \"a\"\n[accounts.self]\ninherit = \"self\"\n\
             [accounts.orphan]\nhost = \"h\"\nuser = \"u\"\ninherit = \"nobody\"\n",
        )
        .unwrap();
        let message = |name: &str| match config.layers(name) {
            Err(Error::Config(error)) => error.to_string(),
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            message("a").contains("cycle: a -> b -> c -> a"),
            "{}",
            message("a")
        );
        assert!(
            message("c").contains("cycle: c -> a -> b -> c"),
            "{}",
            message("c")
        );
        assert!(message("self").contains("cycle: self -> self"));
        assert!(
            message("orphan").contains("\"orphan\" inherits \"nobody\", which is not an account"),
            "{}",
            message("orphan")
        );
        let result = select_accounts(&config, &[], &CommandLine::default(), &env());
        assert!(matches!(result, Err(Error::Config(_))));
    }

    const DESTINATIONS: &str = r#"
[defaults]
deliver_to = "home"

[destinations.home]
imap = "imaps://alice@imap.example.org/Old%20ISP"
flags = ['\Seen']
password_command = "pass show imap"

[destinations.local]
lmtp = "unix:/run/dovecot/lmtp"
recipient = "alice"

[accounts.isp]
host = "pop.isp.example"
user = "me"

[accounts.lab]
host = "pop.lab.example"
user = "me"
deliver_to = "local"
"#;

    #[test]
    fn accounts_deliver_to_named_destinations() {
        let config = ConfigFile::parse(DESTINATIONS).unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let Some(Delivery::Imap(imap)) = &accounts[0].delivery else {
            panic!("{:?}", accounts[0].delivery);
        };
        assert_eq!(
            (
                imap.name.as_str(),
                imap.server.host.as_str(),
                imap.server.port
            ),
            ("home", "imap.example.org", 993)
        );
        assert_eq!(
            (imap.login.user.as_str(), imap.mailbox.as_str()),
            ("alice", "Old ISP")
        );
        assert_eq!(imap.flags, ["\\Seen"]);
        assert_eq!(imap.server.tls, TlsMode::Implicit);
        assert!(matches!(
            imap.login.secrets.sources().first(),
            Some(crate::credentials::password::SecretSource::Command(c)) if c == "pass show imap"
        ));
        let Some(Delivery::Lmtp(lmtp)) = &accounts[1].delivery else {
            panic!("{:?}", accounts[1].delivery);
        };
        assert_eq!(
            lmtp.address,
            crate::account::LmtpAddress::Unix("/run/dovecot/lmtp".into())
        );
        assert_eq!(lmtp.recipient, "alice");
    }

    #[test]
    fn destination_mistakes_are_configuration_errors() {
        let with = |extra: &str| {
            let config = ConfigFile::parse(&format!("{DESTINATIONS}{extra}")).unwrap();
            select_accounts(&config, &["x".into()], &CommandLine::default(), &env())
                .unwrap_err()
                .to_string()
        };
        let missing = with("[accounts.x]\nhost = \"h\"\nuser = \"u\"\ndeliver_to = \"nas\"\n");
        assert!(
            missing.contains("names no [destinations.nas] table"),
            "{missing}"
        );
        let two = with(
            "[accounts.x]\nhost = \"h\"\nuser = \"u\"\ndeliver_to = \"local\"\nmbox = \"m\"\n",
        );
        assert!(
            two.contains("sets deliver_to and one of maildir, mbox and mda"),
            "{two}"
        );
        let found = check::check_text(
            "[destinations.home]\nimap = \"imaps://a@h\"\nflagz = []\n[destinations.lmtp]\nlmtp = \"h:24\"\n\
             [accounts.a]\nhost = \"h\"\nuser = \"u\"\ndeliver_to = \"lmtp\"\n",
            &env(),
        )
        .problems;
        let lines: Vec<(usize, &str)> =
            found.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, 3);
        assert!(
            lines[0]
                .1
                .contains("unknown key \"flagz\" (did you mean \"flags\"?)"),
            "{lines:?}"
        );
        assert!(
            lines[1].1.contains("an LMTP destination needs recipient"),
            "{lines:?}"
        );
    }

    const GMAIL: &str = r#"
[destinations.gmail]
gmail = "me@gmail.com"
label = "Old ISP"
never_mark_spam = true
[destinations.gmail.oauth]
provider = "google"
client_id = "id"

[accounts.isp]
host = "pop.isp.example"
user = "me"
deliver_to = "gmail"

[accounts.work]
host = "pop.work.example"
user = "me"
deliver_to = "gmail"
gmail_label = ["Work", "Archive/2019"]
gmail_archive = true
"#;

    #[test]
    fn accounts_share_a_gmail_destination_each_with_its_labels() {
        let config = ConfigFile::parse(GMAIL).unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let gmail = |i: usize| match &accounts[i].delivery {
            Some(Delivery::Gmail(target)) => target.clone(),
            other => panic!("{other:?}"),
        };
        let (isp, work) = (gmail(0), gmail(1));
        assert_eq!(isp.address, "me@gmail.com");
        assert_eq!(
            (isp.labels.clone(), isp.archive, isp.unread),
            (vec!["Old ISP".to_string()], false, true)
        );
        assert!(isp.never_mark_spam && !isp.process_for_calendar);
        assert_eq!(isp.api_url.as_str(), "https://gmail.googleapis.com/");
        assert_eq!(isp.imports_per_second, 10);
        assert_eq!(
            isp.oauth.client.scopes,
            [
                "https://www.googleapis.com/auth/gmail.insert",
                "https://www.googleapis.com/auth/gmail.labels"
            ]
        );
        assert_eq!(
            (work.labels.clone(), work.archive),
            (vec!["Work".to_string(), "Archive/2019".to_string()], true)
        );
    }

    #[test]
    fn gmail_destination_mistakes_are_configuration_errors() {
        let problems = |text: &str| {
            check::check_text(text, &env())
                .problems
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let account = "[accounts.a]\nhost = \"h\"\nuser = \"u\"\ndeliver_to = \"g\"\n";
        let no_oauth = problems(&format!(
            "[destinations.g]\ngmail = \"me@gmail.com\"\n{account}"
        ));
        assert!(no_oauth.contains("logs in with OAuth"), "{no_oauth}");
        let both = problems(&format!(
            "[destinations.g]\ngmail = \"me@gmail.com\"\nimap = \"imaps://a@h\"\n{account}"
        ));
        assert!(both.contains("sets both imap and gmail"), "{both}");
        let label_on_imap = problems(&format!(
            "[destinations.g]\nimap = \"imaps://a@h\"\nlabel = \"x\"\npassword_command = \"true\"\n{account}"
        ));
        assert!(
            label_on_imap.contains("applies only to a Gmail destination"),
            "{label_on_imap}"
        );
        let http = problems(&format!(
            "[destinations.g]\ngmail = \"me@gmail.com\"\napi_url = \"http://example.org\"\n\
             [destinations.g.oauth]\nprovider = \"google\"\nclient_id = \"i\"\n{account}"
        ));
        assert!(http.contains("only to 127.0.0.1"), "{http}");
        let label_without_gmail = problems(
            "[accounts.a]\nhost = \"h\"\nuser = \"u\"\nmaildir = \"m\"\ngmail_label = \"x\"\n",
        );
        assert!(
            label_without_gmail.contains("apply only with deliver_to"),
            "{label_without_gmail}"
        );
    }

    #[test]
    fn a_destination_given_for_one_run_needs_no_table() {
        let config =
            ConfigFile::parse("[accounts.x]\nhost = \"h\"\nuser = \"u\"\nmaildir = \"m\"\n")
                .unwrap();
        let url = "imap://bob@127.0.0.1:1143/INBOX".to_string();
        let command_line = CommandLine {
            settings: Settings {
                deliver_to: Some(url.clone()),
                ..Settings::default()
            },
            password_command: None,
            destination: Some((
                url.clone(),
                DestinationSettings {
                    imap: Some(url),
                    ..DestinationSettings::default()
                },
            )),
        };
        let mut env = env();
        env.insert("POPGET_DESTINATION_PASSWORD".into(), "s3cret".into());
        let accounts = select_accounts(&config, &[], &command_line, &env).unwrap();
        let Some(Delivery::Imap(imap)) = &accounts[0].delivery else {
            panic!("the command line's destination replaces the file's maildir");
        };
        assert_eq!(
            (imap.server.port, imap.server.tls),
            (1143, TlsMode::Starttls)
        );
        assert_eq!(imap.login.secrets.password().unwrap().expose(), "s3cret");
    }

    #[test]
    fn inherit_and_template_are_refused_in_defaults() {
        for text in [
            "[defaults]\ninherit = \"a\"\n",
            "[defaults]\ntemplate = true\n",
        ] {
            let error = ConfigFile::parse(text).unwrap_err();
            assert_eq!(error.message(), DEFAULTS_ONLY_ACCOUNTS, "{text}");
        }
    }

    #[test]
    fn a_readable_config_holding_a_password_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "[accounts.a]\nhost = \"h\"\nuser = \"u\"\npassword = \"secret\"\n",
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ConfigFile::load(Some(&path)),
            Err(Error::Config(_))
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        ConfigFile::load(Some(&path)).unwrap();
    }
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    /// Lines that look like the configuration file: tables, known keys, junk.
    fn config_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just("[defaults]".to_string()),
            "\\[accounts\\.[a-z\"\\[\\]. ]{0,8}\\]",
            (
                prop_oneof![
                    Just("host"),
                    Just("port"),
                    Just("user"),
                    Just("tls"),
                    Just("password"),
                    Just("max_size"),
                    Just("max_listing"),
                    Just("session_timeout"),
                    Just("timeout"),
                    Just("fingerprint"),
                    Just("auth"),
                    Just("maildir"),
                    Just("delete"),
                    Just("inherit"),
                    Just("template"),
                ],
                prop_oneof![
                    "\"[ -~]{0,12}\"",
                    "-?[0-9]{1,25}",
                    Just("true".to_string()),
                    "[ -~]{0,10}",
                ],
            )
                .prop_map(|(key, value)| format!("{key} = {value}")),
            any::<String>(),
        ];
        proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in config_text()) {
            if let Ok(config) = ConfigFile::parse(&text) {
                // Resolving the accounts validates every value; it must not panic either.
                let env = HashMap::new();
                let _ = select_accounts(&config, &[], &CommandLine::default(), &env);
            }
        }

        #[test]
        fn any_url_or_fingerprint_is_read_or_refused_without_panicking(text in any::<String>()) {
            let _ = parse_url(&text);
            let _ = parse_url(&format!("pop://{text}"));
            let _ = crate::transport::parse_fingerprint(&text);
        }
    }
}
