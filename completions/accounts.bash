
# --- Hand-written part (completions/accounts.bash, appended by tests/generated.rs) ---
# Completes account names from the configuration file for `popget fetch ACCOUNT...` and for
# `-a/--account NAME`, and leaves everything else to the generated _popget above.

# The options of `popget fetch` that take a value (filled in by the generator from clap).
_popget_fetch_value_options=" @FETCH_VALUE_OPTIONS@ "

# Prints the names of the [accounts.NAME] tables of the configuration file but templates: the
# one named with --config on the command line, else $XDG_CONFIG_HOME/popget/config.toml.
_popget_accounts() {
    local file="${XDG_CONFIG_HOME:-$HOME/.config}/popget/config.toml" i line
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --config ]]; then
            # "--config=FILE" arrives as three words when = is a word break.
            if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                file="${COMP_WORDS[i + 2]}"
            else
                file="${COMP_WORDS[i + 1]}"
            fi
        elif [[ ${COMP_WORDS[i]} == --config=* ]]; then
            file="${COMP_WORDS[i]#--config=}"
        fi
    done
    [[ $file == "~/"* ]] && file="$HOME/${file#"~/"}"
    [[ -r $file ]] || return 0
    local bare='^[[:space:]]*\[[[:space:]]*accounts\.([A-Za-z0-9_-]+)[[:space:]]*\]'
    local quoted='^[[:space:]]*\[[[:space:]]*accounts\."([^"]*)"[[:space:]]*\]'
    local literal="^[[:space:]]*\\[[[:space:]]*accounts\\.'([^']*)'[[:space:]]*\\]"
    # Tables with `template = true` are only inherited, never named: they are left out.
    local current="" templates=" " names=() name
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line =~ $bare || $line =~ $quoted || $line =~ $literal ]]; then
            current="${BASH_REMATCH[1]}"
            names+=("$current")
        elif [[ $line =~ ^[[:space:]]*\[ ]]; then
            current=""
        elif [[ -n $current && $line =~ ^[[:space:]]*template[[:space:]]*=[[:space:]]*true ]]; then
            templates+="$current "
        fi
    done <"$file"
    for name in "${names[@]}"; do
        [[ $templates == *" $name "* ]] || printf '%s\n' "$name"
    done
}

# Sets COMPREPLY to the account names starting with $1.
_popget_account_reply() {
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(_popget_accounts)" -- "$1"))
}

_popget_with_accounts() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}" command="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --config) ((i++)) ;;
            -*) ;;
            *) command="${COMP_WORDS[i]}"; break ;;
        esac
    done
    if [[ -n $command && ($prev == -a || $prev == --account) ]]; then
        _popget_account_reply "$cur"
        return 0
    fi
    if [[ $command == fetch && $cur != -* && $_popget_fetch_value_options != *" $prev "* ]]; then
        _popget_account_reply "$cur"
        # An ACCOUNT may also be a URL: without a matching name, complete as before.
        [[ ${#COMPREPLY[@]} -gt 0 ]] && return 0
    fi
    _popget "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _popget_with_accounts -o nosort -o bashdefault -o default popget
else
    complete -F _popget_with_accounts -o bashdefault -o default popget
fi
