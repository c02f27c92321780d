# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_popget_global_optspecs
    string join \n config= q/quiet v/verbose h/help V/version
end

function __fish_popget_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_popget_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_popget_using_subcommand
    set -l cmd (__fish_popget_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c popget -n "__fish_popget_needs_command" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_needs_command" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_needs_command" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_needs_command" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_needs_command" -s V -l version -d 'Print version'
complete -c popget -n "__fish_popget_needs_command" -f -a "fetch" -d 'Download new messages into a Maildir or mbox, remembering what was seen'
complete -c popget -n "__fish_popget_needs_command" -f -a "daemon" -d 'Keep fetching: poll each account every `interval` as a long-running service (systemd Type=notify). SIGHUP reloads the configuration, SIGUSR1 polls every account now, SIGTERM or SIGINT stops once the runs in flight are recorded'
complete -c popget -n "__fish_popget_needs_command" -f -a "stat" -d 'Print the number of messages and their total size: COUNT OCTETS'
complete -c popget -n "__fish_popget_needs_command" -f -a "list" -d 'Print one line per message: NUMBER SIZE UIDL'
complete -c popget -n "__fish_popget_needs_command" -f -a "uidl" -d 'Print one line per message: NUMBER UIDL'
complete -c popget -n "__fish_popget_needs_command" -f -a "retr" -d 'Write messages to standard output, exactly as fetch would store them'
complete -c popget -n "__fish_popget_needs_command" -f -a "top" -d 'Write a message\'s headers and the first LINES lines of its body to standard output'
complete -c popget -n "__fish_popget_needs_command" -f -a "dele" -d 'Delete messages on the server and print what the server confirmed'
complete -c popget -n "__fish_popget_needs_command" -f -a "info" -d 'Show the server\'s greeting, capabilities and TLS certificate'
complete -c popget -n "__fish_popget_needs_command" -f -a "accounts" -d 'List the configuration file\'s accounts: server, TLS, login, destination, keep/delete, where the password or tokens are kept'
complete -c popget -n "__fish_popget_needs_command" -f -a "status" -d 'Show how each account stands: its last check (when, result, what it delivered), last error, next poll under the daemon, messages set aside; without connecting'
complete -c popget -n "__fish_popget_needs_command" -f -a "quarantine" -d 'List the messages a destination refused for good, which stay on the POP3 server and are not offered again; --retry offers them again on the next fetch'
complete -c popget -n "__fish_popget_needs_command" -f -a "config" -d 'Work with the configuration file'
complete -c popget -n "__fish_popget_needs_command" -f -a "login" -d 'Log in to an account\'s OAuth2 provider (an [accounts.NAME.oauth] table) and save its tokens: in a browser by default, which comes back to a listener on 127.0.0.1'
complete -c popget -n "__fish_popget_needs_command" -f -a "logout" -d 'Delete an account\'s saved OAuth2 tokens (from the OS keyring and the token file)'
complete -c popget -n "__fish_popget_needs_command" -f -a "password" -d 'Keep an account\'s password in the OS keyring (Secret Service)'
complete -c popget -n "__fish_popget_needs_command" -f -a "import" -d 'Switch from fetchmail, mpop or getmail: append their accounts to the configuration file and record the mail they already fetched, so that nothing is fetched twice. Exits 1 when something could not be carried over (listed with its file and line)'
complete -c popget -n "__fish_popget_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l progress -d 'Show a progress bar' -r -f -a "auto\t'On a terminal, unless --quiet'
always\t''
never\t''"
complete -c popget -n "__fish_popget_using_subcommand fetch" -s j -l jobs -d 'Fetch up to this many accounts at once, each over its own connection' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand fetch" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand fetch" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand fetch" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand fetch" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand fetch" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l maildir -d 'Deliver into this Maildir (created if missing)' -r -F
complete -c popget -n "__fish_popget_using_subcommand fetch" -l mbox -d 'Deliver into this mbox file (mboxrd)' -r -F
complete -c popget -n "__fish_popget_using_subcommand fetch" -l deliver-to -d 'Deliver to the [destinations.NAME] of the configuration file (an IMAP mailbox or an LMTP server)' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l imap -d 'Deliver into this IMAP mailbox: imaps://USER@HOST/MAILBOX (TLS on connect) or imap://USER@HOST/MAILBOX (STARTTLS). The password comes from POPGET_DESTINATION_PASSWORD, the keyring entry USER@HOST or a prompt' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l lmtp -d 'Deliver over LMTP to unix:/PATH or HOST:PORT, for --recipient' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l recipient -d 'The LMTP recipient (RCPT TO) for --lmtp' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l mda -d 'Deliver by piping each message to this shell command (procmail, maildrop, a script); %F is replaced by the envelope sender. Exit 0: delivered; 75: kept on the server for the next run; anything else: not delivered, kept on the server and reported' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l folder -d 'Deliver into this Maildir++ subfolder of --maildir (created as .NAME with its maildirfolder file)' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l max-size -d 'Leave messages larger than this on the server and report them (e.g. 20M; K, M and G are powers of 1024)' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l keep-days -d 'Leave fetched messages on the server for DAYS days after they were first fetched, then delete them' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l limit -d 'Fetch at most this many messages in this run; the rest wait for the next run' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l max-bytes -d 'Stop fetching in this run once this much has been fetched (by the server\'s sizes; the message that crosses the limit is still fetched)' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l filter -d 'Run this shell command on each new message\'s headers (TOP n 0, on standard input) before fetching it. Exit 0: fetch; 1: delete without fetching; 2: skip for now; anything else: an error for that message, which stays on the server' -r
complete -c popget -n "__fish_popget_using_subcommand fetch" -l state -d 'State file recording which messages were delivered [default: $XDG_STATE_HOME/popget/USER@HOST_PORT.state]' -r -F
complete -c popget -n "__fish_popget_using_subcommand fetch" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand fetch" -l json -d 'Print the summary as JSON on standard output'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l rebuild-state -d 'Start the state file afresh: mark every message now on the server as fetched, without downloading or deleting anything (asks first, unless --yes)'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l yes -d 'Do not ask for confirmation'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l keep -d 'Leave messages on the server (the default)'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l delete -d 'Delete messages on the server once they are safely delivered'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l all -d 'Also fetch messages that were fetched before'
complete -c popget -n "__fish_popget_using_subcommand fetch" -l delete-oversized -d 'Delete messages larger than --max-size on the server without downloading them'
complete -c popget -n "__fish_popget_using_subcommand fetch" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand fetch" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand daemon" -s j -l jobs -d 'Poll up to this many accounts at once, each over its own connection' -r
complete -c popget -n "__fish_popget_using_subcommand daemon" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand daemon" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand daemon" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand daemon" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand stat" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand stat" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand stat" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand stat" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand stat" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand stat" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand stat" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand stat" -l json -d 'Print JSON: {"messages": COUNT, "octets": OCTETS}'
complete -c popget -n "__fish_popget_using_subcommand stat" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand stat" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand stat" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand stat" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand list" -l uidl -d 'Only the message with this unique id' -r
complete -c popget -n "__fish_popget_using_subcommand list" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand list" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand list" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand list" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand list" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand list" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand list" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand list" -l headers -d 'Add From, Subject and Date (read with TOP n 0)'
complete -c popget -n "__fish_popget_using_subcommand list" -l json -d 'Print JSON'
complete -c popget -n "__fish_popget_using_subcommand list" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand list" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand list" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand uidl" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand uidl" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand uidl" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand uidl" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand uidl" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand uidl" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand uidl" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand uidl" -l json -d 'Print JSON'
complete -c popget -n "__fish_popget_using_subcommand uidl" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand uidl" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand uidl" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand uidl" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand retr" -l uidl -d 'Messages by unique id (repeatable)' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand retr" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand retr" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand retr" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand retr" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand retr" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand retr" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand retr" -l crlf -d 'Keep the wire\'s CRLF line ends instead of LF'
complete -c popget -n "__fish_popget_using_subcommand retr" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand retr" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand retr" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand retr" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand top" -l uidl -d 'The message by unique id' -r
complete -c popget -n "__fish_popget_using_subcommand top" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand top" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand top" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand top" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand top" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand top" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand top" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand top" -l crlf -d 'Keep the wire\'s CRLF line ends instead of LF'
complete -c popget -n "__fish_popget_using_subcommand top" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand top" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand top" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand dele" -l uidl -d 'Messages by unique id (repeatable)' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand dele" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand dele" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand dele" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand dele" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand dele" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand dele" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand dele" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand dele" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand dele" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand dele" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand info" -s a -l account -d 'An account from the configuration file, or a URL: pop3s://user@host:port (TLS), pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l host -d 'Server host name' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l port -d 'Server port [default: 995 for implicit TLS, 110 otherwise]' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l user -d 'User name' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l tls -d 'When to start TLS [default: implicit]' -r -f -a "implicit\t'POP3S: TLS from the first byte (port 995)'
starttls\t'Plain connection upgraded with STLS before login (port 110); refused if the server cannot do it'
none\t'No encryption at all; passwords are then sent only with APOP or an explicit --auth user'"
complete -c popget -n "__fish_popget_using_subcommand info" -l ca-file -d 'Trust the certificates in this PEM file instead of the system store' -r -F
complete -c popget -n "__fish_popget_using_subcommand info" -l fingerprint -d 'Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l auth -d 'Login method [default: auto]' -r -f -a "auto\t'The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP'
user\t'USER and PASS (the password in clear text: inside TLS, or with --tls none on request)'
apop\t'APOP: an MD5 digest of the server\'s timestamp and the password'
plain\t'SASL PLAIN (the password in clear text, like USER/PASS)'
login\t'SASL LOGIN (the password in clear text, like USER/PASS)'
cram-md5\t'SASL CRAM-MD5 (a challenge-response digest)'
scram-sha-256\t'SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself'
scram-sha-1\t'SASL SCRAM-SHA-1'
xoauth2\t'SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source'
gssapi\t'SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password'"
complete -c popget -n "__fish_popget_using_subcommand info" -l password-command -d 'Command whose first line of output is the password' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l timeout -d 'Seconds allowed for connecting, the TLS handshake and each read or write (the greeting: at most 10) [default: 60]' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l session-timeout -d 'Seconds one whole session may take, however busy the server keeps it [default: 3600]' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l max-listing -d 'Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000 messages]' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l pipelining -d 'Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR, DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)' -r -f -a "auto\t'When the server announces PIPELINING'
on\t'Even when the server does not announce it'
off\t'One command at a time'"
complete -c popget -n "__fish_popget_using_subcommand info" -l list-sizes -d 'Whether the server\'s LIST sizes are the messages\' sizes: exact (a message that does not fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size) [default: exact]' -r -f -a "exact\t'The messages\' sizes, within the usual conventions'
estimated\t'Estimates: a message may be shorter, or up to four times longer plus 1 MiB'"
complete -c popget -n "__fish_popget_using_subcommand info" -l proxy -d 'Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy resolve the server\'s name (what Tor needs), socks5:// resolves it here. TLS and the certificate check still run end to end with the server' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l gssapi-service -d 'Kerberos service name of the server\'s principal, for --auth gssapi [default: pop]' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l gssapi-host -d 'Host name of the server\'s Kerberos principal, for --auth gssapi [default: --host]' -r
complete -c popget -n "__fish_popget_using_subcommand info" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand info" -l json -d 'Print JSON'
complete -c popget -n "__fish_popget_using_subcommand info" -l login -d 'Also log in, to show the capabilities announced after login. Refused unless the certificate is verified (by a CA or --fingerprint) or there is no TLS at all'
complete -c popget -n "__fish_popget_using_subcommand info" -l insecure -d 'Accept any certificate (insecure: anyone on the path can read your mail and password)'
complete -c popget -n "__fish_popget_using_subcommand info" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand info" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand info" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand accounts" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand accounts" -l json -d 'Print JSON: an array of {"name", "user", "host", "port", "tls", "auth", "store", "destination", "policy", "secret"}'
complete -c popget -n "__fish_popget_using_subcommand accounts" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand accounts" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand accounts" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand status" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand status" -l json -d 'Print JSON: {"accounts": [{"account", "destination", "last_check", "last_delivery", "last_error", "next_poll", "set_aside"}]}'
complete -c popget -n "__fish_popget_using_subcommand status" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand status" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand status" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand quarantine" -l retry -d 'Offer these set-aside messages (by UIDL, as listed; all without one) to the destination again on the next fetch' -r
complete -c popget -n "__fish_popget_using_subcommand quarantine" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand quarantine" -l json -d 'Print JSON: {"messages": [{"account", "uidl", "since", "reason"}]}'
complete -c popget -n "__fish_popget_using_subcommand quarantine" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand quarantine" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand quarantine" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -f -a "check" -d 'Check the configuration file and report every problem as FILE:LINE: MESSAGE'
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -f -a "add" -d 'Add an account for an email address, its server found in DNS SRV records (RFC 6186)'
complete -c popget -n "__fish_popget_using_subcommand config; and not __fish_seen_subcommand_from check add help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from add" -l name -d 'The account\'s name in the configuration file [default: ADDRESS]' -r
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from add" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from add" -l guess -d 'Without SRV records, try the well-known names pop.DOMAIN, pop3.DOMAIN and mail.DOMAIN (POP3S, port 995)'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check the configuration file and report every problem as FILE:LINE: MESSAGE'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add an account for an email address, its server found in DNS SRV records (RFC 6186)'
complete -c popget -n "__fish_popget_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popget -n "__fish_popget_using_subcommand login" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand login" -l device -d 'Log in with a code entered on any device (for machines without a browser)'
complete -c popget -n "__fish_popget_using_subcommand login" -l paste -d 'Log in in a browser anywhere and paste the address it was sent back to (for a redirect_uri nothing listens on)'
complete -c popget -n "__fish_popget_using_subcommand login" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand login" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand login" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand logout" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand logout" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand logout" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand logout" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -f -a "set" -d 'Save ACCOUNT\'s password in the OS keyring: typed on the terminal, or the first line of standard input when it is not a terminal'
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -f -a "delete" -d 'Delete ACCOUNT\'s password from the OS keyring'
complete -c popget -n "__fish_popget_using_subcommand password; and not __fish_seen_subcommand_from set delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from set" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from set" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from delete" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "set" -d 'Save ACCOUNT\'s password in the OS keyring: typed on the terminal, or the first line of standard input when it is not a terminal'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete ACCOUNT\'s password from the OS keyring'
complete -c popget -n "__fish_popget_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popget -n "__fish_popget_using_subcommand import" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]' -r -F
complete -c popget -n "__fish_popget_using_subcommand import" -l dry-run -d 'Print the accounts as TOML and what would be done, and change nothing (a password is never printed)'
complete -c popget -n "__fish_popget_using_subcommand import" -l state-only -d 'Only record the seen mail, for accounts already in the configuration file (those of the same server, port and user)'
complete -c popget -n "__fish_popget_using_subcommand import" -l plaintext -d 'Write a password the old configuration holds in clear text to a file only you can read (passwords/ACCOUNT beside the configuration file) instead of the OS keyring'
complete -c popget -n "__fish_popget_using_subcommand import" -s q -l quiet -d 'Print only errors'
complete -c popget -n "__fish_popget_using_subcommand import" -s v -l verbose -d 'Show the protocol dialogue on stderr (secrets replaced by ***)'
complete -c popget -n "__fish_popget_using_subcommand import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "fetch" -d 'Download new messages into a Maildir or mbox, remembering what was seen'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "daemon" -d 'Keep fetching: poll each account every `interval` as a long-running service (systemd Type=notify). SIGHUP reloads the configuration, SIGUSR1 polls every account now, SIGTERM or SIGINT stops once the runs in flight are recorded'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "stat" -d 'Print the number of messages and their total size: COUNT OCTETS'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "list" -d 'Print one line per message: NUMBER SIZE UIDL'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "uidl" -d 'Print one line per message: NUMBER UIDL'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "retr" -d 'Write messages to standard output, exactly as fetch would store them'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "top" -d 'Write a message\'s headers and the first LINES lines of its body to standard output'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "dele" -d 'Delete messages on the server and print what the server confirmed'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "info" -d 'Show the server\'s greeting, capabilities and TLS certificate'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "accounts" -d 'List the configuration file\'s accounts: server, TLS, login, destination, keep/delete, where the password or tokens are kept'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "status" -d 'Show how each account stands: its last check (when, result, what it delivered), last error, next poll under the daemon, messages set aside; without connecting'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "quarantine" -d 'List the messages a destination refused for good, which stay on the POP3 server and are not offered again; --retry offers them again on the next fetch'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "config" -d 'Work with the configuration file'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "login" -d 'Log in to an account\'s OAuth2 provider (an [accounts.NAME.oauth] table) and save its tokens: in a browser by default, which comes back to a listener on 127.0.0.1'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "logout" -d 'Delete an account\'s saved OAuth2 tokens (from the OS keyring and the token file)'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "password" -d 'Keep an account\'s password in the OS keyring (Secret Service)'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "import" -d 'Switch from fetchmail, mpop or getmail: append their accounts to the configuration file and record the mail they already fetched, so that nothing is fetched twice. Exits 1 when something could not be carried over (listed with its file and line)'
complete -c popget -n "__fish_popget_using_subcommand help; and not __fish_seen_subcommand_from fetch daemon stat list uidl retr top dele info accounts status quarantine config login logout password import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popget -n "__fish_popget_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check the configuration file and report every problem as FILE:LINE: MESSAGE'
complete -c popget -n "__fish_popget_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "add" -d 'Add an account for an email address, its server found in DNS SRV records (RFC 6186)'
complete -c popget -n "__fish_popget_using_subcommand help; and __fish_seen_subcommand_from password" -f -a "set" -d 'Save ACCOUNT\'s password in the OS keyring: typed on the terminal, or the first line of standard input when it is not a terminal'
complete -c popget -n "__fish_popget_using_subcommand help; and __fish_seen_subcommand_from password" -f -a "delete" -d 'Delete ACCOUNT\'s password from the OS keyring'

# --- Hand-written part (completions/accounts.fish, appended by tests/generated.rs) ---
# Completes account names from the configuration file for `popget fetch ACCOUNT...` and for
# `-a/--account NAME`.

# Prints the names of the [accounts.NAME] tables of the configuration file but templates: the
# one named with --config on the command line, else $XDG_CONFIG_HOME/popget/config.toml.
function __fish_popget_accounts
    set -l file
    set -l tokens (commandline -opc)
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case --config
                set -l next (math $i + 1)
                set -q tokens[$next]; and set file $tokens[$next]
            case '--config=*'
                set file (string replace -- --config= '' $tokens[$i])
        end
    end
    if test -z "$file"
        set -l base $XDG_CONFIG_HOME
        test -n "$base"; or set base $HOME/.config
        set file $base/popget/config.toml
    end
    set file (string replace -r '^~/' "$HOME/" -- $file)
    test -r "$file"; or return 0
    # Tables with `template = true` are only inherited, never named: they are left out.
    set -l names
    set -l templates
    set -l current
    while read -l line
        set -l table (string match -r -g '^\s*\[\s*accounts\.(?:([A-Za-z0-9_-]+)|"([^"]*)"|\'([^\']*)\')\s*\]' -- $line)
        if test (count $table) -gt 0
            set current (string join '' -- $table)
            set -a names $current
        else if string match -q -r '^\s*\[' -- $line
            set current
        else if test -n "$current"; and string match -q -r '^\s*template\s*=\s*true' -- $line
            set -a templates $current
        end
    end <$file
    for name in $names
        contains -- $name $templates; or echo $name
    end
end

complete -c popget -n "__fish_popget_using_subcommand fetch" -f -a "(__fish_popget_accounts)" -d Account
complete -c popget -n "__fish_popget_using_subcommand stat list uidl retr top dele info" -s a -l account -x -a "(__fish_popget_accounts)"
