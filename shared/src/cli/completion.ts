/**
 * `kofn completion bash|zsh`: a completion script for the shell, made from the one table of commands and
 * options below (kept beside help.ts; completion.test.ts checks each command's options against its help).
 * Install: `kofn completion bash > ~/.local/share/bash-completion/completions/kofn`, or for zsh
 * `kofn completion zsh > "${fpath[1]}/_kofn"`. Arguments other than options complete as file names.
 */
import { KofnError } from '../errors.js';

const COMMON = ['--help', '--json', '--quiet'];

export const COMMAND_OPTIONS: Record<string, string[]> = {
  login: ['--email', '--password-stdin', '--token-stdin'],
  logout: [],
  ls: [],
  protect: ['-k', '--servers', '--name', '--size', '--type', '--to', '--compact', '--layout'],
  retrieve: ['--output', '-o', '--force'],
  rm: [],
  share: ['--revoke'],
  link: ['--expires', '--downloads', '--password', '--password-stdin', '--list', '--revoke'],
  check: ['--cached'],
  status: [],
  recover: ['--out'],
  completion: []
};

function bash(): string {
  const cases = Object.entries(COMMAND_OPTIONS)
    .map(([c, o]) => `    ${c}) opts="${[...o, ...COMMON].join(' ')}" ;;`)
    .join('\n');
  return `# kofn completion for bash: eval "$(kofn completion bash)"
_kofn() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${Object.keys(COMMAND_OPTIONS).join(' ')} --help --version" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) opts="" ;;
  esac
  if [ "\${COMP_WORDS[1]}" = completion ]; then
    COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") )
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -o filenames -o default -F _kofn kofn
`;
}

function zsh(): string {
  const cases = Object.entries(COMMAND_OPTIONS)
    .map(([c, o]) => `    ${c}) _arguments '*:file:_files' ${[...o, ...COMMON].map((x) => `'${x}'`).join(' ')} ;;`)
    .join('\n');
  return `#compdef kofn
# kofn completion for zsh: kofn completion zsh > "\${fpath[1]}/_kofn"
_kofn() {
  if (( CURRENT == 2 )); then
    compadd -- ${Object.keys(COMMAND_OPTIONS).join(' ')} --help --version
    return
  fi
  case "\${words[2]}" in
    completion) compadd -- bash zsh ;;
${cases.replace(/^ {4}completion\).*\n?/m, '')}
    *) _files ;;
  esac
}
compdef _kofn kofn 2>/dev/null || _kofn "$@"
`;
}

export function completionScript(shell: string | undefined): string {
  if (shell === 'bash') return bash();
  if (shell === 'zsh') return zsh();
  throw new KofnError('CLI_USAGE', `usage: kofn completion bash|zsh (got ${JSON.stringify(shell ?? '')})`);
}
