
use builtin;
use str;

set edit:completion:arg-completer[confab] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'confab'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'confab'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand server 'Run the chat server (TLS on port 7667 on all interfaces unless configured otherwise)'
            cand client 'Chat from a terminal, or script a conversation: slash commands and plain lines on stdin, events on stdout'
            cand completions 'Print the completion script for SHELL to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'confab;server'= {
            cand --config 'Read the configuration from FILE (TOML); without it, built-in defaults apply'
            cand --listen 'Listen with TLS on ADDR (like 0.0.0.0:7667 or 127.0.0.1:7667) instead of the configured listeners; repeat the flag for several addresses'
            cand --check 'Check the configuration and the certificate files, print a summary and exit without starting the server'
            cand --print-fingerprint 'Print the SHA256 fingerprint of the server''s certificate (the configured one, or the self-signed one, made now if there is none yet) and exit, so it can be handed to users'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'confab;client'= {
            cand -n 'Your nick: 1 to 32 ASCII letters, digits, ''_'' or ''-'', starting with a letter. Default: `nick` from the client config, else your user name'
            cand --nick 'Your nick: 1 to 32 ASCII letters, digits, ''_'' or ''-'', starting with a letter. Default: `nick` from the client config, else your user name'
            cand -j 'Join ROOM once connected; repeat the flag for several rooms. Replaces the `join` list of the client config'
            cand --join 'Join ROOM once connected; repeat the flag for several rooms. Replaces the `join` list of the client config'
            cand --password-file 'Read the server password from the first line of FILE'
            cand --account-password-file 'Log in to the account of your nick with the password on the first line of FILE. FILE must be readable by you alone (chmod 600), as ssh asks of a private key. There is no flag taking the password itself: a command line is visible to every user of the machine'
            cand --ca 'Trust only a certificate that chains to a CA certificate in FILE (PEM) and names the host, instead of the system roots and the known-hosts file'
            cand --fingerprint 'Trust the server whose certificate has this fingerprint (as printed by `confab server --print-fingerprint`), for this run only'
            cand --room 'One-shot: the room to send to (with --send)'
            cand --send 'One-shot: connect, join --room, send TEXT, wait for the server''s ok, quit'
            cand --config 'Read client defaults from FILE instead of $XDG_CONFIG_HOME/confab/client.toml'
            cand --known-hosts 'Remember and check server fingerprints in FILE instead of $XDG_CONFIG_HOME/confab/known_hosts'
            cand --reconnect-attempts 'Outside an interactive session (scripts, one-shot sends), give up after N failed attempts to reconnect a dropped connection; interactive sessions retry forever. Default: `reconnect_attempts` from the client config, else 5'
            cand --insecure 'Skip every certificate check, with a warning: anyone on the path can then read and change the conversation'
            cand --json 'Print every server frame to stdout as the JSON line it was (for jq), instead of human-readable lines'
            cand --line 'At a terminal, use the line editor (lines scroll like a shell) instead of the full-screen interface'
            cand --raw 'Send stdin lines verbatim as protocol frames and print every frame received; no hello or join is sent for you'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'confab;completions'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'confab;help'= {
            cand server 'Run the chat server (TLS on port 7667 on all interfaces unless configured otherwise)'
            cand client 'Chat from a terminal, or script a conversation: slash commands and plain lines on stdin, events on stdout'
            cand completions 'Print the completion script for SHELL to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'confab;help;server'= {
        }
        &'confab;help;client'= {
        }
        &'confab;help;completions'= {
        }
        &'confab;help;help'= {
        }
    ]
    $completions[$command]
}
