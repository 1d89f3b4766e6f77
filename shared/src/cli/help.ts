/** `kofn --help` and `kofn <command> --help`, with examples. Exit codes are listed once, in the main help. */

export const EXIT_CODES_TEXT = `Exit codes:
  0    success
  1    the operation failed (a server refused it, a file failed authentication, standard output was closed
       before the end [OUTPUT_CLOSED], ...; check: a file is not healthy)
  2    bad input: usage, a missing or unreadable file, k > n, an unknown server, an existing output, a
       layout that cannot be served (LAYOUT_*)
  3    not signed in, or the session ended: run \`kofn login\`
  4    a server could not be reached (the kofn server, or too few storage servers)
  130  cancelled (Ctrl-C); nothing is left behind
`;

const MAIN = `kofn: k-of-n secure file vault, from a terminal

Files are split on this machine (Shamir's Secret Sharing over GF(256)) and each share goes straight to its
storage server; the kofn server never sees a byte of a file or of a share.

usage: kofn <command> [options]

Commands:
  login <url>          sign in (password or API token) and keep the session
  logout               end the session and forget it
  ls [path|text]       list a folder (the root: with files shared with you)
  protect <file>...    split files onto the storage servers (- for standard input)
  retrieve <name>...   rebuild files (by name or id) from any k servers
  rm <name>...         remove files and every share of them
  share <name> <email> give another user read access (--revoke to take it back)
  link <name>          make a share link (--expires 7d --downloads 3 --password); --list, --revoke ID
  check <name>...      check a file's health now: which servers hold good shares
  status               the server, licence, usage, and storage servers with pings from here
  recover <dir>...     rebuild files offline from relay data folders (kofn-recover)
  completion bash|zsh  print a shell completion script

Every command takes --help, --json (one JSON document on stdout for scripts) and --quiet.
Progress bars are drawn on stderr only when it is a terminal.

${EXIT_CODES_TEXT}
Errors are one line on stderr: "kofn: <message> [CODE]", with a stable CODE (shared/src/errors.ts).
`;

export const HELP: Record<string, string> = {
  main: MAIN,
  login: `usage: kofn login <url> [--email E] [--password-stdin | --token-stdin]

Signs in with an e-mail and password (POST /api/login) and stores the session cookie and CSRF token in
$KOFN_CONFIG_DIR, else $XDG_CONFIG_HOME/kofn, else ~/.config/kofn (session.json, mode 0600; a file that
others can read is refused). The password is asked without echo on a terminal, else read from the first line
of standard input (--password-stdin), or taken from $KOFN_PASSWORD.
With --token-stdin it signs in with a personal API token (made on the Account page) instead: read from the
first line of standard input, asked without echo on a terminal, or taken from $KOFN_TOKEN. The token is
checked, then kept the same way. Scripts may also skip the saved session: with $KOFN_URL and $KOFN_TOKEN
both set, every command uses them. A token does what its scopes allow (read: ls, retrieve, status;
write: protect, rm; share: share), and cannot change the password or make tokens.

Examples:
  kofn login https://kofn.example.org
  kofn login http://127.0.0.1:8080 --email ada@example.org --password-stdin < ~/.kofn-password
  kofn login https://kofn.example.org --token-stdin < ~/.kofn-token
`,
  logout: `usage: kofn logout

Ends the session at the server and deletes the stored session file.
`,
  ls: `usage: kofn ls [path|text] [--json]

Lists a folder: its subfolders (ending in /) and files (id, size, k/n, status, name); without a path, the
root and the files shared with you. Text that names no folder lists your files whose names contain it.

Examples:
  kofn ls
  kofn ls Photos/2025
  kofn ls report --json | jq -r '.files[].id'
`,
  protect: `usage: kofn protect <file>... [-k K] [--servers a,b,c] [--compact] [--type MIME] [--to FOLDER/PATH]
       kofn protect <file>... --layout "K; KG:server,...; KG:server,..." [--to FOLDER/PATH]
       kofn protect - --name NAME [--size BYTES] [-k K] [--servers ...] [--compact | --layout ...]

Splits each file into n shares, one per storage server (default: every online server), any K of which
rebuild it (default: a majority, as in the web app). Each share chunk is sent straight to its server; on
failure or Ctrl-C the upload is removed (the server's job deletes what was stored).
  -k K            threshold, 2..n
  --servers LIST  storage servers by name or id, comma-separated
  --to PATH       into this folder (made, with the folders above it, if missing); default: the root
  --compact       compact mode: about 3x less storage and traffic; secrecy relies on AES-256. Each chunk
                  is encrypted (AES-256-GCM, a fresh key per file) and Reed-Solomon coded so any k servers
                  rebuild it; only the key is Shamir-split. Each server stores about 1/k of the file (n/k
                  in all) instead of all of it. Fewer than k servers learn nothing about the key, and
                  about the data only what AES-256 lets through: computational secrecy, where the default
                  (Shamir) is information-theoretic. Retrieval needs no option.
  --layout SPEC   multi-level sharing over groups of servers (instead of -k and --servers), as
                  "K; KG:server,...; KG:server,...": any K of the groups rebuild the file, and KG servers
                  of a group rebuild that group's share. A group may carry a label: "cloud-a=2:relay-1,...".
                  Each server appears once; 2 <= KG <= the group's servers; 2 <= K <= the groups. Both
                  levels are Shamir (not with --compact). Retrieval needs no option: it reads the K fastest
                  groups, KG servers in each, and falls back within a group, then to another group.
  --name NAME     the name to store (required for -, standard input; one file only otherwise)
  --size BYTES    with -: the exact input length, so it streams; without it the input is first copied to
                  a private temporary file (mode 0600, deleted afterwards), because the server reserves a
                  file by its size
Memory stays flat whatever the size: a few chunks in flight, bounded by bytes (3 chunks of 1 MiB and their
shares with 5 servers); measured, 10 GiB through a pipe under 200 MB of RSS.
Resumable: if the network fails or kofn is killed, run the same command again on the unchanged file: it
continues after the last chunk every server stored (the state is kept in <config dir>/uploads, 0600). Ctrl-C
instead cancels and removes the upload. Standard input and several small files at once start over.

Examples:
  kofn protect report.pdf
  kofn protect *.jpg -k 3 --servers relay-1,relay-2,relay-3,relay-4,relay-5
  tar c ~/docs | kofn protect - --name docs.tar
  kofn protect big.iso --json
  kofn protect backup.tar --compact -k 3
  kofn protect keys.age --layout "2; a=2:relay-1,relay-2,relay-3; b=2:relay-4,relay-5,relay-6; c=2:relay-7,relay-8,relay-9"
`,
  retrieve: `usage: kofn retrieve <name|id|folder>... [-o PATH|-] [--force]

A folder (a path such as Photos/2025) comes back as a local folder of the same name with its sub-folders
and every file in them (or at PATH itself, when PATH is new and one folder is named).
Rebuilds each file from the k fastest storage servers (others take over when one fails), authenticates
every chunk before writing a byte of it, and writes it under its own (authenticated) name in the current
folder, or PATH (a file, or an existing folder), or standard output with -o -. A file is written under a
temporary name and renamed at the end: a failed retrieval leaves nothing. Existing files are kept unless
--force. A server that sent bad data is named and reported.
Resumable: if the network fails or kofn is killed, the hidden part (.NAME.ID.kofn-partial beside the
destination) is kept and the same command continues after its last whole chunk. Ctrl-C removes it.

Examples:
  kofn retrieve report.pdf
  kofn retrieve report.pdf -o ~/Downloads/
  kofn retrieve docs.tar -o - | tar x
  kofn retrieve Photos/2025 -o ~/restore/
`,
  rm: `usage: kofn rm <name|id>...

Removes your files; the server's job deletes every share from every storage server, retrying offline ones.

Example:
  kofn rm old-backup.tar
`,
  share: `usage: kofn share <name|id> <email>... [--revoke]

Gives (or with --revoke takes back) read access to one of your files. Revocation stops new access at once;
access already handed out expires within 15 minutes.

Examples:
  kofn share report.pdf grace@example.org
  kofn share report.pdf grace@example.org --revoke
`,
  link: `usage: kofn link <name|id> [--expires 7d] [--downloads N] [--password | --password-stdin]
       kofn link --list [name|id] [--json]
       kofn link --revoke <link id> [--json]

Makes a share link to one of your files: whoever holds it can download the file without an account, until
it expires (default 7d; 90m, 12h, 30d or a date; at most 30 days), and at most N times with --downloads.
The link's secret is made here and is only in the part after '#', which is never sent to a server. With
--password the recipient also needs a password (asked without echo on a terminal, else the first line of
standard input, or $KOFN_LINK_PASSWORD; --password-stdin reads standard input). Prints the link on stdout.
--list shows your links (of one file, when named): id, state (active, expired, used up, revoked), file,
expiry and downloads; the address itself is not shown again (its secret was never stored). --revoke ID
stops a link at once. Links are extended on the web app's Share links panel.

Examples:
  kofn link report.pdf --expires 7d --downloads 3
  kofn link report.pdf --expires 2h --password-stdin < pw.txt --json | jq -r .url
  kofn link --list report.pdf
  kofn link --revoke 0f6c2a1e-...
`,
  check: `usage: kofn check <name|id>... [--cached] [--json]

Checks each of your files now: the kofn server lists every storage server's chunks of it and compares them
with what was stored; prints the state (healthy, degraded, at risk, unrecoverable) and each server's share
(ok, missing, damaged, unreachable). For files shared with you, or with --cached, the last scheduled check.
Exit 0 when every file is healthy, 1 when one is not.

Examples:
  kofn check backup.tar
  kofn check backup.tar --json | jq -r '.files[0].health.state'
`,
  completion: `usage: kofn completion bash|zsh

Prints a completion script for the shell (commands, their options, file names).

Examples:
  eval "$(kofn completion bash)"                      # this shell
  kofn completion bash > ~/.local/share/bash-completion/completions/kofn
  kofn completion zsh > "\${fpath[1]}/_kofn"
`,
  status: `usage: kofn status [--json]

Shows the server, its version and licence, protected bytes against the limit, and each storage server with
its state, a ping from this machine, and its used and free space.
`,
  recover: `usage: kofn recover [--out DIR] RELAY_DIR...

Offline recovery, no server needed (the same code as kofn-recover): rebuilds every file whose shares are in
at least k of the given relay data folders into DIR (default ./recovered), and writes
kofn-recover-manifest.json naming every problem share. Exit 0 all recovered, 1 some failed, 2 bad input.

Example:
  kofn recover --out restored /mnt/relay-1 /mnt/relay-2 /mnt/relay-3
`
};
