
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'confab' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'confab'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'confab' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run the chat server (TLS on port 7667 on all interfaces unless configured otherwise)')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Chat from a terminal, or script a conversation: slash commands and plain lines on stdin, events on stdout')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for SHELL to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'confab;server' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from FILE (TOML); without it, built-in defaults apply')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen with TLS on ADDR (like 0.0.0.0:7667 or 127.0.0.1:7667) instead of the configured listeners; repeat the flag for several addresses')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Check the configuration and the certificate files, print a summary and exit without starting the server')
            [CompletionResult]::new('--print-fingerprint', '--print-fingerprint', [CompletionResultType]::ParameterName, 'Print the SHA256 fingerprint of the server''s certificate (the configured one, or the self-signed one, made now if there is none yet) and exit, so it can be handed to users')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'confab;client' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Your nick: 1 to 32 ASCII letters, digits, ''_'' or ''-'', starting with a letter. Default: `nick` from the client config, else your user name')
            [CompletionResult]::new('--nick', '--nick', [CompletionResultType]::ParameterName, 'Your nick: 1 to 32 ASCII letters, digits, ''_'' or ''-'', starting with a letter. Default: `nick` from the client config, else your user name')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Join ROOM once connected; repeat the flag for several rooms. Replaces the `join` list of the client config')
            [CompletionResult]::new('--join', '--join', [CompletionResultType]::ParameterName, 'Join ROOM once connected; repeat the flag for several rooms. Replaces the `join` list of the client config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the server password from the first line of FILE')
            [CompletionResult]::new('--account-password-file', '--account-password-file', [CompletionResultType]::ParameterName, 'Log in to the account of your nick with the password on the first line of FILE. FILE must be readable by you alone (chmod 600), as ssh asks of a private key. There is no flag taking the password itself: a command line is visible to every user of the machine')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Trust only a certificate that chains to a CA certificate in FILE (PEM) and names the host, instead of the system roots and the known-hosts file')
            [CompletionResult]::new('--fingerprint', '--fingerprint', [CompletionResultType]::ParameterName, 'Trust the server whose certificate has this fingerprint (as printed by `confab server --print-fingerprint`), for this run only')
            [CompletionResult]::new('--room', '--room', [CompletionResultType]::ParameterName, 'One-shot: the room to send to (with --send)')
            [CompletionResult]::new('--send', '--send', [CompletionResultType]::ParameterName, 'One-shot: connect, join --room, send TEXT, wait for the server''s ok, quit')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read client defaults from FILE instead of $XDG_CONFIG_HOME/confab/client.toml')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'Remember and check server fingerprints in FILE instead of $XDG_CONFIG_HOME/confab/known_hosts')
            [CompletionResult]::new('--reconnect-attempts', '--reconnect-attempts', [CompletionResultType]::ParameterName, 'Outside an interactive session (scripts, one-shot sends), give up after N failed attempts to reconnect a dropped connection; interactive sessions retry forever. Default: `reconnect_attempts` from the client config, else 5')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Skip every certificate check, with a warning: anyone on the path can then read and change the conversation')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print every server frame to stdout as the JSON line it was (for jq), instead of human-readable lines')
            [CompletionResult]::new('--line', '--line', [CompletionResultType]::ParameterName, 'At a terminal, use the line editor (lines scroll like a shell) instead of the full-screen interface')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Send stdin lines verbatim as protocol frames and print every frame received; no hello or join is sent for you')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'confab;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'confab;help' {
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run the chat server (TLS on port 7667 on all interfaces unless configured otherwise)')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Chat from a terminal, or script a conversation: slash commands and plain lines on stdin, events on stdout')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for SHELL to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'confab;help;server' {
            break
        }
        'confab;help;client' {
            break
        }
        'confab;help;completions' {
            break
        }
        'confab;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
