
# --- Hand-written part (completions/accounts.fish, appended by tests/generated.rs) ---
# Completes account names from the configuration file for `popget fetch ACCOUNT...` and for
# `-a/--account NAME`.

# Prints the names of the [accounts.NAME] tables of the configuration file: the one named with
# --config on the command line, else $XDG_CONFIG_HOME/popget/config.toml.
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
    string match -r -g '^\s*\[\s*accounts\.(?:([A-Za-z0-9_-]+)|"([^"]*)"|\'([^\']*)\')\s*\]' <$file
end

complete -c popget -n "__fish_popget_using_subcommand fetch" -f -a "(__fish_popget_accounts)" -d Account
complete -c popget -n "__fish_popget_using_subcommand @ACCOUNT_COMMANDS@" -s a -l account -x -a "(__fish_popget_accounts)"
