# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_confab_global_optspecs
    string join \n h/help V/version
end

function __fish_confab_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_confab_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_confab_using_subcommand
    set -l cmd (__fish_confab_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c confab -n "__fish_confab_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c confab -n "__fish_confab_needs_command" -s V -l version -d 'Print version'
complete -c confab -n "__fish_confab_needs_command" -f -a "server" -d 'Run the chat server (TLS on port 7667 on all interfaces unless configured otherwise)'
complete -c confab -n "__fish_confab_needs_command" -f -a "client" -d 'Chat from a terminal, or script a conversation: slash commands and plain lines on stdin, events on stdout'
complete -c confab -n "__fish_confab_needs_command" -f -a "completions" -d 'Print the completion script for SHELL to stdout'
complete -c confab -n "__fish_confab_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c confab -n "__fish_confab_using_subcommand server" -l config -d 'Read the configuration from FILE (TOML); without it, built-in defaults apply' -r -F
complete -c confab -n "__fish_confab_using_subcommand server" -l listen -d 'Listen with TLS on ADDR (like 0.0.0.0:7667 or 127.0.0.1:7667) instead of the configured listeners; repeat the flag for several addresses' -r
complete -c confab -n "__fish_confab_using_subcommand server" -l check -d 'Check the configuration and the certificate files, print a summary and exit without starting the server'
complete -c confab -n "__fish_confab_using_subcommand server" -l print-fingerprint -d 'Print the SHA256 fingerprint of the server\'s certificate (the configured one, or the self-signed one, made now if there is none yet) and exit, so it can be handed to users'
complete -c confab -n "__fish_confab_using_subcommand server" -s h -l help -d 'Print help'
complete -c confab -n "__fish_confab_using_subcommand client" -s n -l nick -d 'Your nick: 1 to 32 ASCII letters, digits, \'_\' or \'-\', starting with a letter. Default: `nick` from the client config, else your user name' -r
complete -c confab -n "__fish_confab_using_subcommand client" -s j -l join -d 'Join ROOM once connected; repeat the flag for several rooms. Replaces the `join` list of the client config' -r
complete -c confab -n "__fish_confab_using_subcommand client" -l password-file -d 'Read the server password from the first line of FILE' -r -F
complete -c confab -n "__fish_confab_using_subcommand client" -l account-password-file -d 'Log in to the account of your nick with the password on the first line of FILE. FILE must be readable by you alone (chmod 600), as ssh asks of a private key. There is no flag taking the password itself: a command line is visible to every user of the machine' -r -F
complete -c confab -n "__fish_confab_using_subcommand client" -l ca -d 'Trust only a certificate that chains to a CA certificate in FILE (PEM) and names the host, instead of the system roots and the known-hosts file' -r -F
complete -c confab -n "__fish_confab_using_subcommand client" -l fingerprint -d 'Trust the server whose certificate has this fingerprint (as printed by `confab server --print-fingerprint`), for this run only' -r
complete -c confab -n "__fish_confab_using_subcommand client" -l room -d 'One-shot: the room to send to (with --send)' -r
complete -c confab -n "__fish_confab_using_subcommand client" -l send -d 'One-shot: connect, join --room, send TEXT, wait for the server\'s ok, quit' -r
complete -c confab -n "__fish_confab_using_subcommand client" -l config -d 'Read client defaults from FILE instead of $XDG_CONFIG_HOME/confab/client.toml' -r -F
complete -c confab -n "__fish_confab_using_subcommand client" -l known-hosts -d 'Remember and check server fingerprints in FILE instead of $XDG_CONFIG_HOME/confab/known_hosts' -r -F
complete -c confab -n "__fish_confab_using_subcommand client" -l reconnect-attempts -d 'Outside an interactive session (scripts, one-shot sends), give up after N failed attempts to reconnect a dropped connection; interactive sessions retry forever. Default: `reconnect_attempts` from the client config, else 5' -r
complete -c confab -n "__fish_confab_using_subcommand client" -l insecure -d 'Skip every certificate check, with a warning: anyone on the path can then read and change the conversation'
complete -c confab -n "__fish_confab_using_subcommand client" -l json -d 'Print every server frame to stdout as the JSON line it was (for jq), instead of human-readable lines'
complete -c confab -n "__fish_confab_using_subcommand client" -l line -d 'At a terminal, use the line editor (lines scroll like a shell) instead of the full-screen interface'
complete -c confab -n "__fish_confab_using_subcommand client" -l raw -d 'Send stdin lines verbatim as protocol frames and print every frame received; no hello or join is sent for you'
complete -c confab -n "__fish_confab_using_subcommand client" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c confab -n "__fish_confab_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c confab -n "__fish_confab_using_subcommand help; and not __fish_seen_subcommand_from server client completions help" -f -a "server" -d 'Run the chat server (TLS on port 7667 on all interfaces unless configured otherwise)'
complete -c confab -n "__fish_confab_using_subcommand help; and not __fish_seen_subcommand_from server client completions help" -f -a "client" -d 'Chat from a terminal, or script a conversation: slash commands and plain lines on stdin, events on stdout'
complete -c confab -n "__fish_confab_using_subcommand help; and not __fish_seen_subcommand_from server client completions help" -f -a "completions" -d 'Print the completion script for SHELL to stdout'
complete -c confab -n "__fish_confab_using_subcommand help; and not __fish_seen_subcommand_from server client completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
