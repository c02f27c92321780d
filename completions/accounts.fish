
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
complete -c popget -n "__fish_popget_using_subcommand @ACCOUNT_COMMANDS@" -s a -l account -x -a "(__fish_popget_accounts)"
